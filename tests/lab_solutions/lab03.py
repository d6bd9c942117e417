"""Reference solution of lab 03 (exact attention in tiles, forward and backward)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _safe(m: Tensor) -> Tensor:
    return torch.where(torch.isneginf(m), torch.zeros_like(m), m)


def softmax_state(x: Tensor) -> tuple[Tensor, Tensor]:
    m = x.amax(dim=-1)
    return m, torch.exp(x - _safe(m)[..., None]).sum(dim=-1)


def merge_states(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    m = torch.maximum(a[0], b[0])
    ms = _safe(m)
    return m, a[1] * torch.exp(a[0] - ms) + b[1] * torch.exp(b[0] - ms)


def online_softmax(x: Tensor, block: int) -> Tensor:
    state = (x.new_full(x.shape[:-1], -math.inf), x.new_zeros(x.shape[:-1]))
    for j in range(0, x.shape[-1], block):
        state = merge_states(state, softmax_state(x[..., j:j + block]))
    m, l = state  # noqa: E741
    p = torch.exp(x - _safe(m)[..., None])
    return torch.where(l[..., None] > 0, p / torch.where(l > 0, l, 1.0)[..., None], torch.zeros_like(p))


def _allowed(causal: bool, i0: int, i1: int, j0: int, j1: int) -> Tensor | None:
    if not causal:
        return None
    return torch.arange(j0, j1)[None, :] <= torch.arange(i0, i1)[:, None]


def _key_end(causal: bool, i1: int, T_k: int) -> int:
    return min(T_k, i1) if causal else T_k


def blockwise_forward(q: Tensor, k: Tensor, v: Tensor, causal: bool, block_q: int, block_k: int
                      ) -> tuple[Tensor, Tensor]:
    T_q, T_k = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    out = q.new_empty((*q.shape[:-1], v.shape[-1]))
    lse = q.new_empty(q.shape[:-1])
    for i0 in range(0, T_q, block_q):
        i1 = min(i0 + block_q, T_q)
        qi = q[..., i0:i1, :] * scale
        m = q.new_full(qi.shape[:-1], -math.inf)
        l = q.new_zeros(qi.shape[:-1])  # noqa: E741
        acc = q.new_zeros((*qi.shape[:-1], v.shape[-1]))
        for j0 in range(0, _key_end(causal, i1, T_k), block_k):
            j1 = min(j0 + block_k, T_k)
            s = qi @ k[..., j0:j1, :].transpose(-2, -1)
            allowed = _allowed(causal, i0, i1, j0, j1)
            if allowed is not None:
                s = s.masked_fill(~allowed, -math.inf)
            m_new = torch.maximum(m, s.amax(dim=-1))
            ms = _safe(m_new)
            p = torch.exp(s - ms[..., None])
            alpha = torch.exp(m - ms)
            l = alpha * l + p.sum(dim=-1)  # noqa: E741
            acc = alpha[..., None] * acc + p @ v[..., j0:j1, :]
            m = m_new
        out[..., i0:i1, :] = acc / l[..., None]
        lse[..., i0:i1] = m + torch.log(l)
    return out, lse


def blockwise_backward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, d_out: Tensor, causal: bool,
                       block_q: int, block_k: int) -> tuple[Tensor, Tensor, Tensor]:
    T_q, T_k = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    D = (d_out * out).sum(dim=-1)
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    for i0 in range(0, T_q, block_q):
        i1 = min(i0 + block_q, T_q)
        qi, doi = q[..., i0:i1, :] * scale, d_out[..., i0:i1, :]
        Li, Di = lse[..., i0:i1, None], D[..., i0:i1, None]
        dqi = torch.zeros_like(qi)
        for j0 in range(0, _key_end(causal, i1, T_k), block_k):
            j1 = min(j0 + block_k, T_k)
            kj, vj = k[..., j0:j1, :], v[..., j0:j1, :]
            s = qi @ kj.transpose(-2, -1)
            allowed = _allowed(causal, i0, i1, j0, j1)
            if allowed is not None:
                s = s.masked_fill(~allowed, -math.inf)
            p = torch.exp(s - Li)
            dv[..., j0:j1, :] += p.transpose(-2, -1) @ doi
            ds = p * (doi @ vj.transpose(-2, -1) - Di)
            dqi += ds @ kj
            dk[..., j0:j1, :] += ds.transpose(-2, -1) @ qi
        dq[..., i0:i1, :] = dqi * scale
    return dq, dk, dv


class BlockwiseAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, causal, block_q, block_k):  # noqa: ANN001, ANN205
        out, lse = blockwise_forward(q, k, v, causal, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.causal, ctx.block_q, ctx.block_k = causal, block_q, block_k
        return out

    @staticmethod
    def backward(ctx, d_out):  # noqa: ANN001, ANN205
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = blockwise_backward(q, k, v, out, lse, d_out.contiguous(), ctx.causal, ctx.block_q, ctx.block_k)
        return dq, dk, dv, None, None, None


def blockwise_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False, block_q: int = 64,
                        block_k: int = 64) -> Tensor:
    return BlockwiseAttention.apply(q, k, v, causal, block_q, block_k)
