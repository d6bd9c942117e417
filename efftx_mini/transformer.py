"""The encoder–decoder transformer of Vaswani et al. 2017, §3.1–§3.4 (Figure 1).

Post-LN, as in the paper, is the default: x = LayerNorm(x + Sublayer(x)) (§3.1).
Pre-LN (``norm_first=True``) computes x = x + Sublayer(LayerNorm(x)) and ends each stack with a
final LayerNorm, as in The Annotated Transformer's code.
Shapes: src (B, S) and tgt (B, T) token ids; hidden states (B, ·, d_model).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ._checks import check_float, check_token_ids, check_tokens, shape_str
from .attention import MultiHeadAttention
from .masks import causal_mask, padding_mask
from .positional import SinusoidalPositionalEncoding

__all__ = [
    "FeedForward",
    "EncoderLayer",
    "DecoderLayer",
    "Encoder",
    "Decoder",
    "Transformer",
    "capture_attention",
]


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2 — §3.3, Eq. (2). (B, T, d) → (B, T, d)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff)
        self.w2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(self.dropout(torch.relu(self.w1(x))))


def _check_hidden(x: Tensor, name: str, d_model: int) -> None:
    check_float(x, name)
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{name} must have shape (B, T, {d_model}), got {shape_str(x.shape)}")


class EncoderLayer(nn.Module):
    """One encoder layer: self-attention, then the FFN, each in a residual with LayerNorm (§3.1)."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, norm_first: bool = False
    ) -> None:
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)  # residual dropout, §5.4

    def _sa(self, x: Tensor, mask: Tensor | None) -> Tensor:
        return self.drop1(self.self_attn(x, x, x, mask)[0])

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, S, d), mask broadcastable to (B, H, S, S) → (B, S, d)."""
        _check_hidden(x, "x", self.d_model)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), mask)
            return x + self.drop2(self.ffn(self.norm2(x)))
        x = self.norm1(x + self._sa(x, mask))
        return self.norm2(x + self.drop2(self.ffn(x)))


class DecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, cross-attention over the memory, then the FFN (§3.1)."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1, norm_first: bool = False
    ) -> None:
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.drop1, self.drop2, self.drop3 = (nn.Dropout(dropout) for _ in range(3))

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        """x (B, T, d), memory (B, S, d); tgt_mask → (B, H, T, T), memory_mask → (B, H, T, S)."""
        _check_hidden(x, "x", self.d_model)
        _check_hidden(memory, "memory", self.d_model)
        if memory.shape[0] != x.shape[0]:
            raise ValueError(
                f"x and memory must have the same batch size, got {shape_str(x.shape)} and "
                f"{shape_str(memory.shape)}"
            )

        def sa(h: Tensor) -> Tensor:
            return self.drop1(self.self_attn(h, h, h, tgt_mask)[0])

        def ca(h: Tensor) -> Tensor:
            return self.drop2(self.cross_attn(h, memory, memory, memory_mask)[0])

        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + ca(self.norm2(x))
            return x + self.drop3(self.ffn(self.norm3(x)))
        x = self.norm1(x + sa(x))
        x = self.norm2(x + ca(x))
        return self.norm3(x + self.drop3(self.ffn(x)))


class Encoder(nn.Module):
    """A stack of N encoder layers (N = 6 in the paper); pre-LN stacks end with a LayerNorm."""

    def __init__(
        self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1,
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class Decoder(nn.Module):
    """A stack of N decoder layers; pre-LN stacks end with a LayerNorm."""

    def __init__(
        self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.1,
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, n_heads, d_ff, dropout, norm_first) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(
        self, x: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask)
        return self.norm(x)


class Transformer(nn.Module):
    """The full model of Figure 1: embeddings (scaled by √d_model, §3.4) + sinusoidal positions (§3.5),
    an encoder and a decoder stack, and a linear output layer whose weight is tied to the target
    embedding (§3.4).

    Masks default from ``pad_id`` (padding) and causality; pass your own to override them.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 512,
        n_heads: int = 8,
        n_layers: int = 6,
        d_ff: int = 2048,
        dropout: float = 0.1,
        norm_first: bool = False,
        *,
        max_len: int = 5000,
        pad_id: int | None = 0,
        tie_embeddings: bool = True,
    ) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(
                f"n_heads must divide d_model: d_model={d_model} is not a multiple of n_heads={n_heads}"
            )
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.d_model, self.n_heads, self.pad_id = d_model, n_heads, pad_id
        self.src_embed = nn.Embedding(src_vocab, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model)
        self.src_pos = SinusoidalPositionalEncoding(d_model, max_len, dropout)
        self.tgt_pos = SinusoidalPositionalEncoding(d_model, max_len, dropout)
        self.encoder = Encoder(n_layers, d_model, n_heads, d_ff, dropout, norm_first)
        self.decoder = Decoder(n_layers, d_model, n_heads, d_ff, dropout, norm_first)
        self.generator = nn.Linear(d_model, tgt_vocab)
        for p in self.parameters():  # as in The Annotated Transformer
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        if tie_embeddings:
            self.generator.weight = self.tgt_embed.weight

    # -- masks -------------------------------------------------------------------------------
    def src_mask(self, src: Tensor) -> Tensor | None:
        """(B, 1, 1, S) padding mask of the source, or None when the model has no pad_id."""
        return None if self.pad_id is None else padding_mask(src, self.pad_id)

    def tgt_mask(self, tgt: Tensor) -> Tensor:
        """(B, 1, T, T): causal, and hides target padding when the model has a pad_id."""
        mask = causal_mask(tgt.shape[1], device=tgt.device)[None, None]
        if self.pad_id is not None:
            mask = mask & padding_mask(tgt, self.pad_id)
        return mask

    # -- the three calls of Figure 1 ---------------------------------------------------------
    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """src (B, S) → memory (B, S, d)."""
        check_tokens(src, "src")
        check_token_ids(src, self.src_vocab, "src", "src_vocab")
        if src_mask is None:
            src_mask = self.src_mask(src)
        x = self.src_pos(self.src_embed(src) * math.sqrt(self.d_model))
        return self.encoder(x, src_mask)

    def decode(
        self, tgt: Tensor, memory: Tensor, src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
    ) -> Tensor:
        """tgt (B, T), memory (B, S, d) → hidden states (B, T, d)."""
        check_tokens(tgt, "tgt")
        check_token_ids(tgt, self.tgt_vocab, "tgt", "tgt_vocab")
        if tgt.shape[0] != memory.shape[0]:
            raise ValueError(
                f"tgt and memory must have the same batch size, got tgt {shape_str(tgt.shape)} "
                f"and memory {shape_str(memory.shape)}"
            )
        if tgt_mask is None:
            tgt_mask = self.tgt_mask(tgt)
        y = self.tgt_pos(self.tgt_embed(tgt) * math.sqrt(self.d_model))
        return self.decoder(y, memory, tgt_mask, src_mask)

    def forward(
        self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
    ) -> Tensor:
        """src (B, S), tgt (B, T) → logits (B, T, tgt_vocab)."""
        check_tokens(src, "src")
        check_tokens(tgt, "tgt")
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"src and tgt must have the same batch size, got src {shape_str(src.shape)} and "
                f"tgt {shape_str(tgt.shape)}"
            )
        if src_mask is None:
            src_mask = self.src_mask(src)
        memory = self.encode(src, src_mask)
        return self.generator(self.decode(tgt, memory, src_mask, tgt_mask))

    @torch.no_grad()
    def greedy_decode(
        self, src: Tensor, max_len: int, start_id: int, end_id: int | None = None,
        src_mask: Tensor | None = None,
    ) -> Tensor:
        """Pick the arg-max token at each step (Annotated Transformer's ``greedy_decode``).

        Returns (B, ≤ max_len) token ids that start with ``start_id``; after ``end_id`` a row is
        padded with ``pad_id`` (or ``end_id`` if the model has none).
        """
        check_tokens(src, "src")
        if src_mask is None:
            src_mask = self.src_mask(src)
        memory = self.encode(src, src_mask)
        B = src.shape[0]
        ys = torch.full((B, 1), start_id, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        fill = self.pad_id if self.pad_id is not None else (end_id if end_id is not None else 0)
        for _ in range(max_len - 1):
            logits = self.generator(self.decode(ys, memory, src_mask)[:, -1])
            nxt = logits.argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, fill), nxt)
            ys = torch.cat([ys, nxt[:, None]], dim=1)
            if end_id is not None:
                done |= nxt == end_id
                if bool(done.all()):
                    break
        return ys

    @torch.no_grad()
    def attention_maps(self, src: Tensor, tgt: Tensor) -> dict[str, list[Tensor]]:
        """Every layer's attention weights for one forward pass, for visualisation.

        Returns {"encoder_self": [L × (B, H, S, S)], "decoder_self": [L × (B, H, T, T)],
        "cross": [L × (B, H, T, S)]}. The default forward path is untouched.
        """
        with capture_attention(self) as maps:
            self(src, tgt)
        return {
            "encoder_self": [maps[f"encoder.layers.{i}.self_attn"] for i in range(len(self.encoder.layers))],
            "decoder_self": [maps[f"decoder.layers.{i}.self_attn"] for i in range(len(self.decoder.layers))],
            "cross": [maps[f"decoder.layers.{i}.cross_attn"] for i in range(len(self.decoder.layers))],
        }


@contextmanager
def capture_attention(model: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Within the block, every :class:`MultiHeadAttention` in ``model`` records its weights.

    ``with capture_attention(model) as maps: model(...)`` fills ``maps`` with
    {module name: weights (B, H, T_q, T_k)} once the block ends. Outside it, nothing is stored.
    """
    mods = {n: m for n, m in model.named_modules() if isinstance(m, MultiHeadAttention)}
    maps: dict[str, Tensor] = {}
    for m in mods.values():
        m.store_weights, m.last_weights = True, None
    try:
        yield maps
    finally:
        for name, m in mods.items():
            if m.last_weights is not None:
                maps[name] = m.last_weights
            m.store_weights, m.last_weights = False, None
