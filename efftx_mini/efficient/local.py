"""Sliding-window (local) attention with optional global tokens — Beltagy et al. 2020 (Longformer), §3.1;
Child et al. 2019 (local patterns of sparse transformers), §4.

Query i attends key j when |i − j| ≤ w (causal: 0 ≤ i − j ≤ w), plus every key j < g and, for i < g, every key
(g global tokens). Computed blockwise: queries in blocks of b positions, each against the b + 2w keys around
it, so time and memory are O(T (b + 2w) d) rather than O(T² d); the result equals softmax attention with the
band mask of :func:`band_mask`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_mask, shape_str
from ..attention import _check_qkv, scaled_dot_product_attention

__all__ = ["band_mask", "local_attention"]


def band_mask(T: int, window: int, *, causal: bool = False, n_global: int = 0,
              device: torch.device | str | None = None) -> Tensor:
    """(T, T) bool, True = may attend: |i − j| ≤ window (causal: 0 ≤ i − j ≤ window), global rows/columns < n_global."""
    if window <= 0:
        raise ValueError(f"window must be a positive number of positions, got {window}")
    if n_global < 0:
        raise ValueError(f"n_global must be >= 0, got {n_global}")
    i = torch.arange(T, device=device).unsqueeze(1)
    j = torch.arange(T, device=device).unsqueeze(0)
    m = (i - j).abs() <= window
    m = m | (i < n_global) | (j < n_global)
    if causal:
        m = m & (j <= i)
    return m


def local_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
    dropout_p: float = 0.0, need_weights: bool = False, window: int = 64, n_global: int = 0,
    block: int | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Softmax attention restricted to a window of ``window`` positions on each side (one side if causal).

    Same call as :func:`efftx_mini.attention.scaled_dot_product_attention` (self-attention: T_q = T_k).
    ``mask`` may only mask keys (broadcast to (..., 1, T)). ``block`` (default ``window``) is the number of
    queries handled together. A query with no allowed key outputs zeros.
    """
    _check_qkv(q, k, v)
    if window <= 0:
        raise ValueError(f"window must be a positive number of positions, got {window}")
    if n_global < 0:
        raise ValueError(f"n_global must be >= 0, got {n_global}")
    if dropout_p != 0.0:
        raise ValueError(f"local attention here supports no attention dropout: dropout_p must be 0.0, got {dropout_p}")
    T = q.shape[-2]
    if k.shape[-2] != T:
        raise ValueError(f"local attention is self-attention: expected T_q == T_k, got q {shape_str(q.shape)} "
                         f"and k {shape_str(k.shape)}")
    lead = q.shape[:-2]
    keep = None
    if mask is not None:
        try:
            keep = check_mask(mask, (*lead, 1, T), "(..., 1, T_k)")
        except ValueError as e:
            raise ValueError(f"local attention accepts only key-padding masks that broadcast to (..., 1, T_k) = "
                             f"{shape_str((*lead, 1, T))}, got mask {shape_str(mask.shape)}") from e
        keep = keep.expand(*lead, 1, T)[..., 0, :]  # (..., T)
    b = block if block is not None else window
    if b <= 0:
        raise ValueError(f"block must be positive, got {b}")
    b, w, g = min(b, T), window, min(n_global, T)
    n = -(-T // b)
    L = b + 2 * w
    dev = q.device
    qb = F.pad(q, (0, 0, 0, n * b - T)).reshape(*lead, n, b, q.shape[-1])
    kw = F.pad(k, (0, 0, w, n * b - T + w)).unfold(-2, L, b).transpose(-2, -1)  # (..., n, L, d)
    vw = F.pad(v, (0, 0, w, n * b - T + w)).unfold(-2, L, b).transpose(-2, -1)  # (..., n, L, d_v)
    qpos = torch.arange(n * b, device=dev).reshape(n, b, 1)
    kpos = (torch.arange(n, device=dev) * b - w).reshape(n, 1, 1) + torch.arange(L, device=dev).reshape(1, 1, L)
    allowed = ((qpos - kpos).abs() <= w) & (kpos >= g) & (kpos < T)  # (n, b, L); keys < g are global keys
    if causal:
        allowed = allowed & (kpos <= qpos)
    if keep is not None:
        keep_w = F.pad(keep, (w, n * b - T + w), value=False).unfold(-1, L, b)  # (..., n, L)
        allowed = allowed & keep_w.unsqueeze(-2)
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (qb * scale) @ kw.transpose(-2, -1)  # (..., n, b, L)
    gk, gv = k[..., :g, :], v[..., :g, :]
    if g > 0:
        gscores = ((qb * scale) @ gk.unsqueeze(-3).transpose(-2, -1))  # (..., n, b, g)
        gallowed = torch.ones(n, b, g, dtype=torch.bool, device=dev)
        if causal:
            gallowed = gallowed & (torch.arange(g, device=dev).reshape(1, 1, g) <= qpos)
        if keep is not None:
            gallowed = gallowed & keep[..., None, None, :g]
        scores = torch.cat([scores, gscores], dim=-1)
        shape = torch.broadcast_shapes(allowed.shape[:-1], gallowed.shape[:-1])
        allowed = torch.cat([allowed.expand(*shape, L), gallowed.expand(*shape, g)], dim=-1)
    row_ok = allowed.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~(allowed | ~row_ok), float("-inf"))
    p = torch.softmax(scores, dim=-1).masked_fill(~row_ok, 0.0)
    out = p[..., :L] @ vw
    if g > 0:
        out = out + p[..., L:] @ gv.unsqueeze(-3)
    out = out.reshape(*lead, n * b, v.shape[-1])[..., :T, :]
    if g > 0:  # global queries see every key (Longformer's symmetric global attention)
        gmask = torch.ones(g, T, dtype=torch.bool, device=dev)
        if causal:
            gmask = band_mask(T, T, causal=True, device=dev)[:g]
        if keep is not None:
            gmask = gmask & keep.unsqueeze(-2)
        gout = scaled_dot_product_attention(q[..., :g, :], k, v, gmask.expand(*lead, g, T))[0]
        out = torch.cat([gout, out[..., g:, :]], dim=-2)
    weights = None
    if need_weights:
        full = band_mask(T, w, causal=causal, n_global=g, device=dev)
        if keep is not None:
            full = full & keep.unsqueeze(-2)
        weights = scaled_dot_product_attention(q, k, v, full.expand(*lead, T, T), need_weights=True)[1]
    return out, weights
