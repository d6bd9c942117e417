"""Language models built from any block of :mod:`efftx_mini.blocks` (He & Hofmann 2024, §5 setups).

- :class:`DecoderOnlyLM`: next-token prediction, causal blocks (the CodeParrot setting, §4).
- :class:`MaskedLM`: masked-token prediction, bidirectional blocks (the BERT setting, §5).
Both: token embedding + positions (learned or sinusoidal) + N blocks + final LayerNorm where the block
has normalisation + a head tied to the embedding. Tokens (B, T) → logits (B, T, vocab).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_token_ids, check_tokens, shape_str
from .blocks import Block, get_block, matrix_params
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding

__all__ = ["DecoderOnlyLM", "MaskedLM", "mask_tokens"]


class _BlockLM(nn.Module):
    causal: bool = True

    def __init__(
        self, block: str | type[Block], vocab_size: int, d_model: int, n_heads: int, n_layers: int, d_ff: int,
        max_len: int, *, positions: str = "learned", dropout: float = 0.0, tie_embeddings: bool = True,
        block_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        for name, v in (("vocab_size", vocab_size), ("n_layers", n_layers), ("max_len", max_len)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.block_cls = get_block(block)
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.pos = (LearnedPositionalEmbedding(d_model, max_len, dropout) if positions == "learned"
                    else SinusoidalPositionalEncoding(d_model, max_len, dropout))
        kw = dict(block_kwargs or {})
        self.blocks = nn.ModuleList(
            self.block_cls(d_model, n_heads, d_ff, causal=self.causal, dropout=dropout, layer_idx=i,
                           n_layers=n_layers, **kw)
            for i in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model) if self.blocks[-1].final_norm else nn.Identity()
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.head.weight = self.embed.weight

    def hidden(self, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """tokens (B, T) → final hidden states (B, T, d) (after the final norm)."""
        check_tokens(tokens)
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"tokens has T={tokens.shape[1]} positions, more than max_len={self.max_len}: "
                             f"got {shape_str(tokens.shape)}")
        check_token_ids(tokens, self.vocab_size, "tokens", "vocab_size")
        x = self.pos(self.embed(tokens))
        for blk in self.blocks:
            x = blk(x, mask)
        return self.norm(x)

    def forward(self, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """tokens (B, T) → logits (B, T, vocab)."""
        return self.head(self.hidden(tokens, mask))

    def block_matrix_params(self) -> int:
        """Weight-matrix entries inside the blocks (the paper's per-block accounting, §4.2)."""
        return sum(matrix_params(b) for b in self.blocks)


class DecoderOnlyLM(_BlockLM):
    """Decoder-only LM: causal blocks; ``loss(tokens, targets)`` is next-token cross-entropy in nats."""

    causal = True

    def loss(self, tokens: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy (nats per token) of logits(tokens) against targets (B, T)."""
        if targets.shape != tokens.shape:
            raise ValueError(f"targets must have the shape of tokens {shape_str(tokens.shape)}, "
                             f"got {shape_str(targets.shape)}")
        logits = self(tokens)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


class MaskedLM(_BlockLM):
    """Encoder-only masked LM (BERT-style, Devlin et al. 2019): bidirectional blocks; loss on masked positions."""

    causal = False

    def loss(self, inputs: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
        """Cross-entropy at positions where targets != ignore_index (see :func:`mask_tokens`)."""
        if targets.shape != inputs.shape:
            raise ValueError(f"targets must have the shape of inputs {shape_str(inputs.shape)}, "
                             f"got {shape_str(targets.shape)}")
        logits = self(inputs)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                               ignore_index=ignore_index)


def mask_tokens(tokens: Tensor, mask_id: int, p: float = 0.15, *, generator: torch.Generator | None = None,
                ignore_index: int = -100) -> tuple[Tensor, Tensor]:
    """Replace a fraction p of positions by ``mask_id``; targets keep the original id there, ignore_index elsewhere."""
    check_tokens(tokens)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    hit = torch.rand(tokens.shape, generator=generator, device="cpu").to(tokens.device) < p
    inputs = tokens.masked_fill(hit, mask_id)
    targets = tokens.masked_fill(~hit, ignore_index)
    return inputs, targets
