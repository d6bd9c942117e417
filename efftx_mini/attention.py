"""Scaled dot-product and multi-head attention (Vaswani et al. 2017, §3.2.1–§3.2.2).

Shapes: B batch, H heads, T_q / T_k query and key positions, d model width, d_h = d / H head width.
Masks are boolean and ``True`` means "may attend"; they broadcast to (..., T_q, T_k).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ._checks import check_float, check_mask, shape_str

__all__ = ["scaled_dot_product_attention", "MultiHeadAttention"]


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_float(t, name)
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., T, d) with at least 2 dims, got {shape_str(t.shape)}")
    if not (q.dim() == k.dim() == v.dim()):
        raise ValueError(
            f"q, k and v must have the same rank, got q {shape_str(q.shape)}, k {shape_str(k.shape)}, "
            f"v {shape_str(v.shape)}"
        )
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        raise ValueError(
            "q, k and v must share their leading (batch, head) dims, got "
            f"q {shape_str(q.shape)}, k {shape_str(k.shape)}, v {shape_str(v.shape)}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same last dim d, got q {shape_str(q.shape)} and k {shape_str(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of positions T_k, got k {shape_str(k.shape)} and "
            f"v {shape_str(v.shape)}"
        )
    if q.shape[-2] == 0 or k.shape[-2] == 0:
        raise ValueError(
            f"attention needs at least one query and one key, got q {shape_str(q.shape)}, k {shape_str(k.shape)}"
        )


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    dropout_p: float = 0.0,
    need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Attention(Q, K, V) = softmax(QKᵀ/√d_k) V — Vaswani et al. 2017, §3.2.1, Eq. (1).

    Args:
        q: (..., T_q, d_k) queries.  k: (..., T_k, d_k) keys.  v: (..., T_k, d_v) values.
        mask: bool, broadcastable to (..., T_q, T_k); True = may attend.
        dropout_p: dropout on the attention weights (training only, as in §5.4).
        need_weights: False → PyTorch's fused kernel, weights None;
            True → the explicit formula, weights (..., T_q, T_k) returned.

    A query row with no allowed key outputs zeros (never NaN), also in the backward pass.
    """
    _check_qkv(q, k, v)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    row_ok = None
    if mask is not None:
        target = (*q.shape[:-1], k.shape[-2])
        mask = check_mask(mask, target, "(..., T_q, T_k)")
        # Rows with no allowed key would give softmax over nothing (NaN): let them see every key,
        # then zero their output. Gradients through the zeroed rows are exactly zero.
        row_ok = mask.any(dim=-1, keepdim=True)
        mask = mask | ~row_ok

    if not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        weights = None
    else:
        scale = 1.0 / math.sqrt(q.shape[-1])
        scores = torch.matmul(q * scale, k.transpose(-2, -1))  # (..., T_q, T_k)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if row_ok is not None:
            weights = weights.masked_fill(~row_ok, 0.0)
        dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
        out = torch.matmul(dropped, v)  # (..., T_q, d_v)
    if row_ok is not None:
        out = out.masked_fill(~row_ok, 0.0)
    return out, weights


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1, …, head_H) W^O, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V).

    Vaswani et al. 2017, §3.2.2. Batch-first: query (B, T_q, d), key/value (B, T_k, d).
    The three input projections are stored as one (3d, d) matrix (``in_proj_weight``), the same
    layout as ``torch.nn.MultiheadAttention``, so self-attention runs them as one matmul.
    """

    #: How error messages name the mask's expected shape (subclasses with other head counts rename H).
    mask_shape = "(B, H, T_q, T_k)"

    def __init__(
        self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True, *, head_gates: bool = False
    ) -> None:
        super().__init__()
        if d_model <= 0 or n_heads <= 0:
            raise ValueError(f"d_model and n_heads must be positive, got d_model={d_model}, n_heads={n_heads}")
        if d_model % n_heads != 0:
            raise ValueError(
                f"n_heads must divide d_model: d_model={d_model} is not a multiple of n_heads={n_heads} "
                f"(expected d_model % n_heads == 0, got remainder {d_model % n_heads})"
            )
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))  # [W^Q; W^K; W^V]
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model)) if bias else None
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W^O
        #: Set by :func:`efftx_mini.transformer.capture_attention`; the default path stores nothing.
        self.store_weights = False
        self.last_weights: Tensor | None = None
        #: Head gates ξ_h (Michel et al. 2019, §2.2), (H,) ones; None = off. See efftx_mini.compress.gates.
        self.register_buffer("head_gates", torch.ones(n_heads) if head_gates else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        w, b, d = self.in_proj_weight, self.in_proj_bias, self.d_model
        if query is key and key is value:  # self-attention: one fused matmul
            return F.linear(query, w, b).chunk(3, dim=-1)
        bq, bk, bv = (None, None, None) if b is None else b.split(d)
        wq, wk, wv = w.split(d)
        if key is value:  # cross-attention: Q from the decoder, K and V from the encoder memory
            k, v = F.linear(key, torch.cat([wk, wv]), None if b is None else torch.cat([bk, bv])).chunk(2, -1)
            return F.linear(query, wq, bq), k, v
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def head_projections(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Q W^Q, K W^K, V W^V split into heads: each (B, H, T, d_h). Subclasses change this step only."""
        q, k, v = self._project(query, key, value)
        return tuple(rearrange(t, "b t (h d) -> b h t d", h=self.n_heads) for t in (q, k, v))

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """query (B, T_q, d), key/value (B, T_k, d), mask bool → (B, T_q, d), weights (B, H, T_q, T_k)."""
        self._check_inputs(query, key, value)
        B, T_q, _ = query.shape
        T_k = key.shape[1]
        if mask is not None:
            check_mask(mask, (B, self.n_heads, T_q, T_k), self.mask_shape)
        q, k, v = self.head_projections(query, key, value)
        want = need_weights or self.store_weights
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, dropout_p=self.dropout if self.training else 0.0, need_weights=want
        )
        if self.store_weights:
            self.last_weights = weights.detach()
        if self.head_gates is not None:  # ξ_h · head_h; ξ = 1 leaves every bit unchanged
            out = out * self.head_gates.to(out.dtype)[:, None, None]
        out = self.out_proj(rearrange(out, "b h t d -> b t (h d)"))
        return out, (weights if need_weights else None)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, t in (("query", query), ("key", key), ("value", value)):
            check_float(t, name)
            if t.dim() != 3:
                raise ValueError(
                    f"{name} must have shape (B, T, d_model={self.d_model}) (3 dims), got {shape_str(t.shape)}"
                )
            if t.shape[-1] != self.d_model:
                raise ValueError(
                    f"{name} has width {t.shape[-1]} but this layer expects d_model={self.d_model}: "
                    f"expected (B, T, {self.d_model}), got {shape_str(t.shape)}"
                )
            if t.shape[1] == 0:
                raise ValueError(f"{name} must have at least one position, got {shape_str(t.shape)}")
        if not (query.shape[0] == key.shape[0] == value.shape[0]):
            raise ValueError(
                "query, key and value must have the same batch size B, got "
                f"{shape_str(query.shape)}, {shape_str(key.shape)}, {shape_str(value.shape)}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length T_k, got {shape_str(key.shape)} and "
                f"{shape_str(value.shape)}"
            )

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, dropout={self.dropout}"
