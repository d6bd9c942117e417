"""Language models built from any block of :mod:`efftx_mini.blocks` (He & Hofmann 2024, §5 setups).

- :class:`DecoderOnlyLM`: next-token prediction, causal blocks (the CodeParrot setting, §4).
- :class:`MaskedLM`: masked-token prediction, bidirectional blocks (the BERT setting, §5).
Both: token embedding + positions (learned, sinusoidal, or rotary inside attention) + N blocks + final norm where
the block has normalisation (RMSNorm for RMSNorm blocks, else LayerNorm) + a head tied to the embedding.
Tokens (B, T) → logits (B, T, vocab). ``positions=None`` picks "rotary" for blocks built with rope (the LLaMA
block) and "learned" otherwise.
``n_kv_heads`` gives keys and values fewer heads than queries in every block that has key/value
projections (multi-query attention when 1, Shazeer 2019; grouped-query in between, Ainslie et al. 2023).
``valid`` (left padding) and ``cache`` (:class:`efftx_mini.generate.KVCache`) serve generation.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_tensor, check_token_ids, check_tokens, shape_str
from .blocks import Block, get_block, matrix_params
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding

__all__ = ["DecoderOnlyLM", "MaskedLM", "mask_tokens"]


class _BlockLM(nn.Module):
    causal: bool = True

    def __init__(
        self, block: str | type[Block], vocab_size: int, d_model: int, n_heads: int, n_layers: int, d_ff: int,
        max_len: int, *, positions: str | None = None, dropout: float = 0.0, tie_embeddings: bool = True,
        block_kwargs: dict[str, Any] | None = None, n_kv_heads: int | None = None,
    ) -> None:
        super().__init__()
        #: The constructor's arguments, to build a sibling model (e.g. efftx_mini.gqa.mean_pool_kv_heads).
        self.config: dict[str, Any] = dict(
            block=block, vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff,
            max_len=max_len, positions=positions, dropout=dropout, tie_embeddings=tie_embeddings,
            block_kwargs=dict(block_kwargs or {}), n_kv_heads=n_kv_heads)
        if positions not in (None, "learned", "sinusoidal", "rotary"):
            raise ValueError(f"positions must be 'learned', 'sinusoidal', 'rotary' or None, got {positions!r}")
        for name, v in (("vocab_size", vocab_size), ("n_layers", n_layers), ("max_len", max_len)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.block_cls = get_block(block)
        kw = dict(block_kwargs or {})
        block_rope = kw.get("rope", inspect.signature(self.block_cls.__init__).parameters["rope"].default
                            if "rope" in inspect.signature(self.block_cls.__init__).parameters else False)
        if positions is None:
            positions = "rotary" if block_rope else "learned"
        if (positions == "rotary") != bool(block_rope):
            if "rope" in kw:
                raise ValueError(f"positions={positions!r} contradicts block_kwargs rope={kw['rope']!r}; rotary "
                                 "positions are applied inside attention, so use both or neither")
            kw["rope"] = positions == "rotary"
        self.positions = positions
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.pos: nn.Module | None = (LearnedPositionalEmbedding(d_model, max_len, dropout) if positions == "learned"
                                      else SinusoidalPositionalEncoding(d_model, max_len, dropout)
                                      if positions == "sinusoidal" else None)
        self.drop = nn.Dropout(dropout)
        if n_kv_heads is not None:
            if "n_kv_heads" not in inspect.signature(self.block_cls.__init__).parameters:
                raise ValueError(f"block {self.block_cls.__name__} has no key/value projections whose heads could be "
                                 f"shared; n_kv_heads needs a block with W^K and W^V, got n_kv_heads={n_kv_heads!r}")
            kw["n_kv_heads"] = n_kv_heads
        self.blocks = nn.ModuleList(
            self.block_cls(d_model, n_heads, d_ff, causal=self.causal, dropout=dropout, layer_idx=i,
                           n_layers=n_layers, **kw)
            for i in range(n_layers)
        )
        self.norm = self.blocks[-1].final_norm_layer(d_model) if self.blocks[-1].final_norm else nn.Identity()
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.head.weight = self.embed.weight

    def hidden(self, tokens: Tensor, mask: Tensor | None = None, *, valid: Tensor | None = None,
               cache: Any = None) -> Tensor:
        """tokens (B, T) → final hidden states (B, T, d) (after the final norm).

        ``valid`` (B, T) bool marks real tokens (False = padding, e.g. on the left of a shorter prompt):
        padding is never attended to and each row's positions count its real tokens only. ``cache``
        (:class:`efftx_mini.generate.KVCache`): tokens continue the cached positions; the keys and values of
        the earlier positions are read from the cache, this call's are appended to it."""
        check_tokens(tokens)
        B, T = tokens.shape
        start = 0 if cache is None else cache.length
        if start + T > self.max_len:
            raise ValueError(f"tokens has T={T} positions after {start} cached ones, more than max_len={self.max_len}: "
                             f"got {shape_str(tokens.shape)}")
        check_token_ids(tokens, self.vocab_size, "tokens", "vocab_size")
        if valid is not None:
            check_tensor(valid, "valid")
            if valid.dtype != torch.bool or valid.shape != tokens.shape:
                raise ValueError(f"valid must be a bool tensor of the tokens' shape {shape_str(tokens.shape)}, got "
                                 f"{valid.dtype} {shape_str(valid.shape)}")
        x = self.embed(tokens)
        pos: Tensor | None = None  # per-row positions (B, T), when they are not simply 0 … T−1
        if cache is None and (valid is None or bool(valid.all())):
            valid = None
            x = self.drop(x) if self.pos is None else self.pos(x)
        else:
            real = torch.ones_like(tokens, dtype=torch.bool) if valid is None else valid
            before = 0 if cache is None else cache.n_valid[:, None]  # real tokens already cached, (B, 1)
            pos = (before + real.long().cumsum(1) - 1).clamp_min(0)
            x = self.drop(x) if self.pos is None else self._add_positions(x, pos)
        kw = {} if self.pos is not None or pos is None else {"positions": pos}  # rotary: positions go to attention
        if cache is None:
            if valid is not None:
                keys = valid[:, None, None, :]  # (B, 1, 1, T): padding keys are never attended to
                mask = keys if mask is None else mask & keys
            for blk in self.blocks:
                x = blk(x, mask, **kw)
            return self.norm(x)
        if mask is not None:
            raise ValueError("with a cache, give the padding as valid=…, not as mask")
        cache.begin(real)
        try:
            for blk, layer in zip(self.blocks, cache.layers, strict=True):
                blk.kv_cache = layer
                x = blk(x, **kw)
        finally:
            for blk in self.blocks:
                blk.kv_cache = None
        cache.end(T, self.block_cls.__name__)
        return self.norm(x)

    def _add_positions(self, x: Tensor, positions: Tensor) -> Tensor:
        """x (B, T, d) + the position table at per-row positions (B, T)."""
        table = self.pos.weight if isinstance(self.pos, LearnedPositionalEmbedding) else self.pos.pe.to(x.dtype)
        return self.pos.dropout(x + table[positions])

    def forward(self, tokens: Tensor, mask: Tensor | None = None, *, valid: Tensor | None = None,
                cache: Any = None) -> Tensor:
        """tokens (B, T) → logits (B, T, vocab); ``valid`` and ``cache`` as for :meth:`hidden`."""
        return self.head(self.hidden(tokens, mask, valid=valid, cache=cache))

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
