"""Online softmax: max and normaliser in one pass, and merging partial results (Milakov & Gimelshein 2018, Alg. 3).

A *state* (m, l) summarises a set of scores x_j: m = max_j x_j and l = Σ_j exp(x_j − m). Two states merge as
m = max(m₁, m₂), l = l₁·exp(m₁ − m) + l₂·exp(m₂ − m) (§3, Eq. (4)). An empty set (all scores −inf) has
m = −inf, l = 0, and every function here gives zeros for it, never NaN.

``online_attention`` applies the same recurrence to attention over blocks of keys (Rabe & Staats 2021, §2–3):
its forward never holds the (T_q, T_k) matrix, but it has no custom backward, so autograd stores every
block's probabilities and training memory stays quadratic. :mod:`efftx_mini.efficient.blockwise` fixes that.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .._checks import check_float
from ._common import check_attention_inputs, check_block, mask_block

__all__ = ["SoftmaxState", "softmax_state", "merge_states", "online_softmax", "online_logsumexp", "online_attention"]


class SoftmaxState(NamedTuple):
    """Running max ``m`` and running sum ``l`` = Σ exp(x − m), both of shape (...,)."""

    m: Tensor
    l: Tensor  # noqa: E741 — the paper's name


def _safe(m: Tensor) -> Tensor:
    """m with −inf replaced by 0, so that exp(x − m) is exp(−inf) = 0 rather than exp(nan)."""
    return torch.where(torch.isinf(m) & (m < 0), torch.zeros_like(m), m)


def softmax_state(x: Tensor) -> SoftmaxState:
    """The state (max, Σ exp(x − max)) of the scores along the last dim of ``x``: one block."""
    check_float(x, "x")
    m = x.amax(dim=-1)
    return SoftmaxState(m, torch.exp(x - _safe(m)[..., None]).sum(dim=-1))


def merge_states(a: SoftmaxState, b: SoftmaxState) -> SoftmaxState:
    """Combine the states of two disjoint sets of scores (Milakov & Gimelshein 2018, §3, Eq. (4))."""
    m = torch.maximum(a.m, b.m)
    ms = _safe(m)
    return SoftmaxState(m, a.l * torch.exp(a.m - ms) + b.l * torch.exp(b.m - ms))


def _scan(x: Tensor, block: int) -> SoftmaxState:
    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have shape (..., n) with n >= 1, got {tuple(x.shape)}")
    check_block(block, "block")
    state = SoftmaxState(x.new_full(x.shape[:-1], -math.inf), x.new_zeros(x.shape[:-1]))
    for j in range(0, x.shape[-1], block):  # one pass over the scores, `block` at a time
        state = merge_states(state, softmax_state(x[..., j:j + block]))
    return state


def online_logsumexp(x: Tensor, block: int = 1) -> Tensor:
    """log Σ exp(x) along the last dim in one streaming pass; −inf for an all −inf row."""
    check_float(x, "x")
    m, l = _scan(x, block)
    return _safe(m) + torch.log(l)


def online_softmax(x: Tensor, block: int = 1) -> Tensor:
    """softmax(x) along the last dim: one pass for (m, l), one to normalise (Alg. 3). All −inf rows → 0."""
    check_float(x, "x")
    m, l = _scan(x, block)
    p = torch.exp(x - _safe(m)[..., None])
    return torch.where(l[..., None] > 0, p / l.clamp_min(torch.finfo(x.dtype).tiny)[..., None], torch.zeros_like(p))


def online_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False, block_k: int = 128,
) -> Tensor:
    """softmax(QKᵀ/√d)V over blocks of keys with the online recurrence (Rabe & Staats 2021, §2–3); plain autograd.

    q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v), mask bool broadcastable to (..., T_q, T_k),
    True = may attend; ``causal`` lets query i see keys j ≤ i. Returns (..., T_q, d_v); rows with no
    allowed key are zeros.
    """
    mask = check_attention_inputs(q, k, v, mask, causal)
    check_block(block_k, "block_k")
    T_q, T_k = q.shape[-2], k.shape[-2]
    qs = q * (1.0 / math.sqrt(q.shape[-1]))
    m = q.new_full(q.shape[:-1], -math.inf)  # (..., T_q) running max
    l = q.new_zeros(q.shape[:-1])  # (..., T_q) running sum  # noqa: E741
    acc = q.new_zeros((*q.shape[:-1], v.shape[-1]))  # (..., T_q, d_v) unnormalised output
    for j0 in range(0, T_k if not causal else min(T_k, T_q), block_k):
        j1 = min(j0 + block_k, T_k)
        s = qs @ k[..., j0:j1, :].transpose(-2, -1)  # (..., T_q, b_k)
        allowed = mask_block(mask, causal, 0, T_q, j0, j1, q.device)
        if allowed is not None:
            s = s.masked_fill(~allowed, -math.inf)
        m_new = torch.maximum(m, s.amax(dim=-1))
        ms = _safe(m_new)
        p = torch.exp(s - ms[..., None])
        alpha = torch.exp(m - ms)  # rescales what was summed under the old max
        l = alpha * l + p.sum(dim=-1)  # noqa: E741
        acc = alpha[..., None] * acc + p @ v[..., j0:j1, :]
        m = m_new
    return torch.where(l[..., None] > 0, acc / l.clamp_min(torch.finfo(l.dtype).tiny)[..., None], torch.zeros_like(acc))
