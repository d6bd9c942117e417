"""What every block shares: one constructor, one ``forward(x (B, T, d), mask=None) -> (B, T, d)``.

Notation of He & Hofmann 2024 (arXiv 2311.01906), §3, Eq. (1): a block maps X_in to X_out through
an attention sub-block and an MLP sub-block; every block here works in a bidirectional encoder
(``causal=False``) and in a causal decoder (``causal=True``).

``n_kv_heads`` (default ``n_heads``): keys and values get fewer heads than queries, each shared by
n_heads / n_kv_heads query heads — multi-query attention when 1 (Shazeer 2019, §3), grouped-query attention
in between (Ainslie et al. 2023, §2.2). Every block runs with a key/value cache (``block.kv_cache``, set by
:class:`efftx_mini.generate.KVCache`): through :meth:`Block.sdpa`, or, for shaped attention, by storing keys and
values in the cache itself; a block that does neither is refused by ``KVCache.end``.

``activation="swiglu"`` makes the feed-forward network gated, FFN(x) = (Swish(xW) ⊙ xV)W_2 (Shazeer 2020, Eq. (6)):
the first layer has 2·d_ff outputs, [W; V] (gate, then value). ``rope=True`` rotates queries and keys by their
positions (RoFormer, Su et al. 2021, §3.4.2, Eq. (34)); ``forward(x, mask, positions=…)`` takes the per-row
positions (B, T) or (T,), default 0 … T−1 (after the cached positions when a cache is in use).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .._checks import check_float, check_mask, shape_str
from ..positional import RotaryEmbedding

__all__ = ["Block", "matrix_params", "make_norm", "beta_ff_for_depth", "resolve_beta_ff", "NORMS", "swiglu", "GATED"]



def swiglu(u: Tensor) -> Tensor:
    """SwiGLU on the concatenation [xW, xV] (…, 2·d_ff) → Swish(xW) ⊙ xV (…, d_ff) — Shazeer 2020, Eq. (6)
    (Swish with β = 1 is SiLU)."""
    gate, value = u.chunk(2, dim=-1)
    return F.silu(gate) * value


_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "swiglu": swiglu}
#: Gated activations: the first feed-forward layer has 2·d_ff outputs (gate and value).
GATED = ("swiglu",)

#: Accepted values of a block's ``norm`` option: LayerNorm, RMSNorm (Zhang & Sennrich 2019), or none.
NORMS = ("layer", "rms", None)


def _norm_kind(norm: str | bool | None) -> str | None:
    """``norm`` as one of :data:`NORMS`; ``True``/``False`` are read as ``"layer"``/``None`` (older spelling)."""
    if norm is True:
        return "layer"
    if norm is False:
        return None
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {list(NORMS)} (or a bool), got {norm!r}")
    return norm


def make_norm(kind: str | bool | None, d: int, eps: float = 1e-5) -> nn.Module:
    """LayerNorm(d), RMSNorm(d) (x / sqrt(mean(x²) + eps) · g) or the identity, by ``kind``."""
    kind = _norm_kind(kind)
    if kind == "layer":
        return nn.LayerNorm(d, eps=eps)
    if kind == "rms":
        return nn.RMSNorm(d, eps=eps)
    return nn.Identity()


def beta_ff_for_depth(n_layers: int, *, reference: float = 0.1, reference_depth: int = 18) -> float:
    """β_FF scaled like 1/√depth from the authors' 0.1 at 18 blocks: 0.1·√(18 / n_layers) (He & Hofmann, §4.2)."""
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers <= 0:
        raise ValueError(f"n_layers must be a positive int, got {n_layers!r}")
    return reference * math.sqrt(reference_depth / n_layers)


def resolve_beta_ff(beta_ff: float | str, n_layers: int) -> float:
    """A β_FF option as a number: a float as is, ``"depth"`` → :func:`beta_ff_for_depth` (n_layers)."""
    if beta_ff == "depth":
        return beta_ff_for_depth(n_layers)
    if isinstance(beta_ff, str) or isinstance(beta_ff, bool) or not isinstance(beta_ff, int | float):
        raise ValueError(f"beta_ff must be a number or 'depth', got {beta_ff!r}")
    return float(beta_ff)


def matrix_params(module: nn.Module) -> int:
    """Entries of the weight matrices (parameters with ≥ 2 dims): the paper's accounting, biases,
    norm gains and per-head scalars excluded (He & Hofmann 2024, §4.2 and Table 1)."""
    return sum(p.numel() for p in module.parameters() if p.dim() >= 2)


class Block(nn.Module):
    """Base class: checks sizes and input, runs multi-head SDPA with the causal flag."""

    #: Whether a stack of these blocks ends with a final normalisation layer.
    final_norm: bool = True
    #: One layer's key/value cache while generating (see efftx_mini.generate.KVCache), else None.
    kv_cache: Any = None
    #: eps of the block's norms (recorded by :meth:`make_norm`; the final norm of a stack uses it too).
    _eps: float = 1e-5

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
        layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", norm: str | bool | None = "layer",
        bias: bool = True, first_layer_norm: bool = True, n_kv_heads: int | None = None, rope: bool = False,
        rope_base: float = 10000.0,
    ) -> None:
        super().__init__()
        for name, v in (("d_model", d_model), ("n_heads", n_heads), ("d_ff", d_ff), ("n_layers", n_layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if d_model % n_heads:
            raise ValueError(f"n_heads must divide d_model, got d_model={d_model}, n_heads={n_heads}")
        if not 0 <= layer_idx < n_layers:
            raise ValueError(f"layer_idx must be in [0, n_layers={n_layers}), got {layer_idx}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.d_model, self.n_heads, self.d_head, self.d_ff = d_model, n_heads, d_model // n_heads, d_ff
        self.causal, self.dropout, self.layer_idx, self.n_layers = bool(causal), dropout, layer_idx, n_layers
        self.activation = activation
        self.act = _ACTIVATIONS[activation]
        #: Outputs of the first feed-forward layer: d_ff, or 2·d_ff for a gated activation ([W; V]).
        self.ff_in = 2 * d_ff if activation in GATED else d_ff
        self.norm_kind, self.bias = _norm_kind(norm), bool(bias)
        self.first_layer_norm = bool(first_layer_norm)
        self._init_kv_heads(n_kv_heads)
        self.rope = bool(rope)
        if self.rope and self.d_head % 2:
            raise ValueError(f"rope needs an even head size, got d_head = {d_model} / {n_heads} = {self.d_head}")
        self.rotary = RotaryEmbedding(self.d_head, base=rope_base) if self.rope else None

    def make_norm(self, d: int, eps: float, *, block_input: bool = False) -> nn.Module:
        """This block's normalisation layer; with ``norm=None`` the input norm of block 0 stays a LayerNorm
        when ``first_layer_norm`` (as in the authors' code, so that the embedding's scale is normalised)."""
        self._eps = eps
        if self.norm_kind is None and block_input and self.first_layer_norm and self.layer_idx == 0:
            return nn.LayerNorm(d, eps=eps)
        return make_norm(self.norm_kind, d, eps)

    def final_norm_layer(self, d: int) -> nn.Module:
        """The norm a stack of these blocks ends with (when ``final_norm``): RMSNorm for ``norm="rms"``,
        else LayerNorm (also for norm-free blocks, as in He & Hofmann's code)."""
        if self.norm_kind == "rms":
            return nn.RMSNorm(d, eps=self._eps)
        return nn.LayerNorm(d)

    def linear(self, d_in: int, d_out: int) -> nn.Linear:
        """nn.Linear with or without bias, following the block's ``bias`` option."""
        return nn.Linear(d_in, d_out, bias=self.bias)

    def _check(self, x: Tensor, mask: Tensor | None, positions: Tensor | None = None) -> None:
        check_float(x, "x")
        if x.dim() != 3 or x.shape[-1] != self.d_model or x.shape[1] == 0:
            raise ValueError(f"x must have shape (B, T, {self.d_model}) with T > 0, got {shape_str(x.shape)}")
        B, T = x.shape[:2]
        if mask is not None:
            check_mask(mask, (B, self.n_heads, T, T), "(B, H, T, T)")
        if positions is not None:
            if not self.rope:
                raise ValueError(f"positions are only used by rotary blocks (rope=True); {type(self).__name__} "
                                 "was built with rope=False")
            if positions.is_floating_point() or positions.shape not in ((T,), (B, T)):
                raise ValueError(f"positions must be integer positions of shape (T,) = ({T},) or (B, T) = ({B}, {T}), "
                                 f"got {positions.dtype} {shape_str(positions.shape)}")

    def rotate(self, q: Tensor, k: Tensor, positions: Tensor | None) -> tuple[Tensor, Tensor]:
        """q (B, H, T, d_h), k (B, n_kv, T, d_h) rotated by their positions when ``rope`` (Su et al. 2021, Eq. (34));
        unchanged otherwise. Default positions: 0 … T−1 after the positions already in the cache."""
        if self.rotary is None:
            return q, k
        if positions is None:
            start = 0 if self.kv_cache is None else int(self.kv_cache.cache.length)
            positions = torch.arange(start, start + q.shape[-2], device=q.device)
        if positions.dim() == 2:  # per-row positions (B, T) → broadcast over heads
            positions = positions[:, None, :]
        return self.rotary(q, positions), self.rotary(k, positions)

    def _full_mask(self, mask: Tensor | None, T: int, device: torch.device) -> Tensor | None:
        """The boolean (…, T, T) mask actually used, or None when ``is_causal``/no mask suffices."""
        if mask is None:
            return None
        if self.causal:
            mask = mask & torch.ones(T, T, dtype=torch.bool, device=device).tril()
        return mask

    def _init_kv_heads(self, n_kv_heads: int | None) -> None:
        n_kv = self.n_heads if n_kv_heads is None else n_kv_heads
        if isinstance(n_kv, bool) or not isinstance(n_kv, int) or n_kv <= 0 or self.n_heads % n_kv:
            raise ValueError(f"n_kv_heads must be a positive int dividing n_heads={self.n_heads}, got {n_kv_heads!r}")
        self.n_kv_heads, self.kv_dim = n_kv, n_kv * self.d_head  # kv_dim: width of W^K (and of W^V)

    def heads(self, t: Tensor) -> Tensor:
        """(B, T, h·d_h) → (B, h, T, d_h); h = n_heads for queries, n_kv_heads for keys and values."""
        return rearrange(t, "b t (h e) -> b h t e", e=self.d_head)

    def expand_kv(self, t: Tensor) -> Tensor:
        """Key/value heads (B, n_kv, S, d_h) → (B, n_heads, S, d_h): query head i reads kv head i // group."""
        g = self.n_heads // t.shape[1]
        return t if g == 1 else t.repeat_interleave(g, dim=1)

    def merge(self, t: Tensor) -> Tensor:
        return rearrange(t, "b h t e -> b t (h e)")

    def sdpa(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, positions: Tensor | None = None) -> Tensor:
        """softmax(QKᵀ/√d_h + M) V per head (§3); q (B, H, T, d_h), k, v (B, H or n_kv_heads, T, d_h);
        no T×T matrix when mask is None. With ``rope`` q and k are rotated first (:meth:`rotate`). With
        ``self.kv_cache`` set, k and v are appended to the cache and the queries attend to every cached position
        (the cache supplies the causal and padding mask)."""
        p = self.dropout if self.training else 0.0
        q, k = self.rotate(q, k, positions)
        if self.kv_cache is not None:
            if mask is not None:
                raise ValueError("pass the padding through the KV cache, not as mask, when a cache is in use")
            k, v, full = self.kv_cache.update(k, v)
        else:
            full = self._full_mask(mask, q.shape[-2], q.device)
        k, v = self.expand_kv(k), self.expand_kv(v)
        if full is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        # rows with no key at all give zeros (never NaN)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=full, dropout_p=p)
        return out.masked_fill(~full.any(-1, keepdim=True), 0.0)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, n_kv_heads={self.n_kv_heads}, d_ff={self.d_ff}, "
                f"causal={self.causal}, layer_idx={self.layer_idx}, norm={self.norm_kind}, bias={self.bias}, "
                f"activation={self.activation}, rope={self.rope}")
