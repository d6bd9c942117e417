"""The Long Range Arena's models (Tay et al. 2021, §3.1, App. A): a small pre-LN transformer encoder whose attention is
chosen by name, with fixed sinusoidal positions (LRA's default, ``learn_pos_emb=False``; "learned" is an option),
mean-pooled over the real tokens or read from a CLS token (``pool="cls"``, as LRA's ListOps, Text and Retrieval
configurations; with ``local`` attention the CLS token attends and is attended globally, as Longformer's [CLS],
§3.1), then a linear classifier; Retrieval uses LRA's two-tower form, [u, v, u ⊙ v, u − v] → MLP, as the paper
specifies it (App. A.1.3, Eq. (1); their released code concatenates only [u, v]). "performer" layers keep their
random features (:class:`~efftx_mini.efficient.performer.Performer`), redrawn with :func:`redraw_features`."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from .._checks import check_tokens
from ..attention import MultiHeadAttention, scaled_dot_product_attention
from ..positional import sinusoidal_encoding
from ..transformer import EncoderLayer
from .linear_time import LINEAR_TIME_ATTENTIONS, AttentionFn
from .performer import Performer

__all__ = ["LRA_ATTENTIONS", "attention_by_name", "NamedAttention", "LRAClassifier", "redraw_features"]

#: Attentions compared on the offline LRA: the softmax baseline and the four linear-time/local ones.
LRA_ATTENTIONS: tuple[str, ...] = ("softmax", "linear", "cosformer", "local", "performer")


def _softmax(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
             dropout_p: float = 0.0, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
    if causal:
        c = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        mask = c if mask is None else mask & c
    return scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p, need_weights=need_weights)


def attention_by_name(name: str, **options: Any) -> AttentionFn:
    """``softmax`` or a name of :data:`LINEAR_TIME_ATTENTIONS`, with options (``window=``, ``chunk=``) bound."""
    table: dict[str, AttentionFn] = {"softmax": _softmax, **LINEAR_TIME_ATTENTIONS}
    if name not in table:
        raise ValueError(f"unknown attention {name!r}; expected one of {sorted(table)}")
    return partial(table[name], **options)


class NamedAttention(MultiHeadAttention):
    """:class:`MultiHeadAttention` (same weights, same call) whose attention core is chosen by name."""

    def __init__(self, d_model: int, n_heads: int, attention: str = "softmax", causal: bool = False,
                 **options: Any) -> None:
        super().__init__(d_model, n_heads)
        self.attention, self.causal = attention, causal
        if attention == "performer":  # a module: it keeps its random features (a buffer) between calls
            self.fn = Performer(d_model // n_heads, **options)
        else:
            self.fn = attention_by_name(attention, **options)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        self._check_inputs(query, key, value)
        q, k, v = self.head_projections(query, key, value)
        out, weights = self.fn(q, k, v, mask, causal=self.causal, need_weights=need_weights)
        return self.out_proj(rearrange(out, "b h t d -> b t (h d)")), weights

    def extra_repr(self) -> str:
        return super().extra_repr() + f", attention={self.attention!r}, causal={self.causal}"


def sinusoidal_2d(n_pixels: int, d: int) -> Tensor:
    """(S², d) positions of a square S × S image read row by row: the first d/2 channels are the 1-D sinusoidal
    encoding of the row, the last d/2 that of the column (as in 2-D sin-cos embeddings of vision transformers)."""
    side = math.isqrt(n_pixels)
    if side * side != n_pixels or d % 4:
        raise ValueError(f"2-D positions need a square number of pixels and d divisible by 4, got {n_pixels} and {d}")
    half = sinusoidal_encoding(side, d // 2)  # (S, d/2)
    rows = half.repeat_interleave(side, dim=0)  # pixel p lies in row p // S
    cols = half.repeat(side, 1)  # and in column p % S
    return torch.cat([rows, cols], dim=-1)


@torch.no_grad()
def redraw_features(model: nn.Module) -> int:
    """Redraw the random features of every :class:`Performer` in ``model``, as Choromanski et al. do in training;
    returns how many were redrawn."""
    layers = [m for m in model.modules() if isinstance(m, Performer)]
    for m in layers:
        m.redraw()
    return len(layers)


class LRAClassifier(nn.Module):
    """tokens (B, T) — or (B, 2, T) when ``dual`` — with PAD = ``pad_id`` → logits (B, n_classes)."""

    def __init__(self, vocab_size: int, n_classes: int, max_len: int, attention: str = "softmax", *,
                 d_model: int = 64, n_heads: int = 2, n_layers: int = 2, d_ff: int = 128, dual: bool = False,
                 pad_id: int = 0, positions: str = "sinusoidal", pool: str = "mean",
                 **attention_options: Any) -> None:
        super().__init__()
        if positions not in ("sinusoidal", "sinusoidal-2d", "learned"):
            raise ValueError(f"positions must be 'sinusoidal', 'sinusoidal-2d' or 'learned', got {positions!r}")
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")
        if pool == "cls" and positions == "sinusoidal-2d":
            raise ValueError("a CLS token has no place in a 2-D grid: use pool='mean' with positions='sinusoidal-2d'")
        if attention == "local" and pool == "cls":  # the CLS token is global, as in Longformer §3.1
            attention_options.setdefault("n_global", 1)
        self.max_len, self.dual, self.pad_id, self.attention = max_len, dual, pad_id, attention
        self.positions, self.pool = positions, pool
        self.embed = nn.Embedding(vocab_size, d_model)  # N(0, 1), as LRA's embedding_init
        # the CLS token takes position 0 and shifts the sequence by one (zeros at init, as in LRA's code)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model)) if pool == "cls" else None
        n_pos = max_len + (pool == "cls")
        if positions == "learned":
            self.pos = nn.Parameter(torch.randn(n_pos, d_model) * 0.02)
        elif positions == "sinusoidal-2d":  # a square image in raster order
            self.register_buffer("pos", sinusoidal_2d(max_len, d_model))
        else:  # a buffer: fixed, saved with the model
            self.register_buffer("pos", sinusoidal_encoding(n_pos, d_model))
        self.layers = nn.ModuleList()
        for _ in range(n_layers):
            layer = EncoderLayer(d_model, n_heads, d_ff, dropout=0.0, norm_first=True)
            layer.self_attn = NamedAttention(d_model, n_heads, attention, **attention_options)
            self.layers.append(layer)
        self.norm = nn.LayerNorm(d_model)
        width = 4 * d_model if dual else d_model
        self.head = nn.Sequential(nn.Linear(width, d_model), nn.GELU(), nn.Linear(d_model, n_classes)) if dual \
            else nn.Linear(width, n_classes)

    def encode(self, tokens: Tensor) -> Tensor:
        """(B, T) → (B, d): the mean of the last layer over the non-PAD positions, or its CLS position."""
        tokens = check_tokens(tokens)
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds this model's max_len={self.max_len}")
        keep = tokens != self.pad_id  # (B, T)
        x = self.embed(tokens)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], dim=1)
            keep = torch.cat([torch.ones_like(keep[:, :1]), keep], dim=1)
        x = x + self.pos[: x.shape[1]]
        mask = keep[:, None, None, :]  # key padding, (B, 1, 1, T)
        for layer in self.layers:
            x = layer(x, mask)
        x = self.norm(x)
        if self.cls is not None:
            return x[:, 0]
        w = keep.unsqueeze(-1).to(x.dtype)
        return (x * w).sum(1) / w.sum(1).clamp(min=1.0)

    def forward(self, tokens: Tensor) -> Tensor:
        if self.dual:
            if tokens.dim() != 3 or tokens.shape[1] != 2:
                raise ValueError(f"a two-tower model takes tokens (B, 2, T), got {tuple(tokens.shape)}")
            u, v = self.encode(tokens[:, 0]), self.encode(tokens[:, 1])
            return self.head(torch.cat([u, v, u * v, u - v], dim=-1))
        return self.head(self.encode(tokens))
