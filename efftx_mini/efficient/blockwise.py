"""Exact attention in tiles, recomputing backward (Rabe & Staats 2021; Dao et al. 2022, Alg. 1–2; Dao 2023, Alg. 1–2).

Forward: for each block of queries, scan the blocks of keys with the online softmax (running max m, running
sum l, unnormalised output), then store only the output O and the log-sum-exp L = m + log l per query.
Backward (FlashAttention-2, Alg. 2): recompute each tile P_ij = exp(S_ij − L_i) from Q, K and L, and with
D_i = rowsum(dO_i ∘ O_i) get dV_j += P_ijᵀ dO_i, dS_ij = P_ij ∘ (dO_i V_jᵀ − D_i), dQ_i += dS_ij K_j / √d,
dK_j += dS_ijᵀ Q_i / √d. Nothing of size T_q × T_k is ever held: memory is O(T·d + block_q·block_k).
With ``causal=True`` tiles above the diagonal are skipped, not computed and masked.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._common import check_attention_inputs, check_block, mask_block

__all__ = ["blockwise_attention", "blockwise_attention_lse"]


def _key_end(causal: bool, i1: int, T_k: int) -> int:
    """Keys beyond this index are never seen by queries < i1 (causal skipping of whole tiles)."""
    return min(T_k, i1) if causal else T_k


def _forward(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool, bq: int, bk: int
             ) -> tuple[Tensor, Tensor]:
    T_q, T_k = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    out = q.new_empty((*q.shape[:-1], v.shape[-1]))  # (..., T_q, d_v)
    lse = q.new_empty(q.shape[:-1])  # (..., T_q)
    for i0 in range(0, T_q, bq):
        i1 = min(i0 + bq, T_q)
        qi = q[..., i0:i1, :] * scale
        m = q.new_full(qi.shape[:-1], -math.inf)  # running max       (..., b_q)
        l = q.new_zeros(qi.shape[:-1])  # running Σ exp(s − m)         (..., b_q)  # noqa: E741
        acc = q.new_zeros((*qi.shape[:-1], v.shape[-1]))  # Σ exp(s − m) v  (..., b_q, d_v)
        for j0 in range(0, _key_end(causal, i1, T_k), bk):
            j1 = min(j0 + bk, T_k)
            s = qi @ k[..., j0:j1, :].transpose(-2, -1)  # (..., b_q, b_k) — the only score tile alive
            allowed = mask_block(mask, causal, i0, i1, j0, j1, q.device)
            if allowed is not None:
                s = s.masked_fill(~allowed, -math.inf)
            m_new = torch.maximum(m, s.amax(dim=-1))
            ms = torch.where(torch.isneginf(m_new), 0.0, m_new)  # a row with nothing allowed yet stays at 0
            p = torch.exp(s - ms[..., None])
            alpha = torch.exp(m - ms)
            l = alpha * l + p.sum(dim=-1)  # noqa: E741
            acc = alpha[..., None] * acc + p @ v[..., j0:j1, :]
            m = m_new
        empty = l == 0  # fully masked rows: output 0, L = −inf
        out[..., i0:i1, :] = torch.where(empty[..., None], 0.0, acc / torch.where(empty, 1.0, l)[..., None])
        lse[..., i0:i1] = torch.where(empty, -math.inf, m + torch.log(torch.where(empty, 1.0, l)))
    return out, lse


class _BlockwiseAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool, bq: int, bk: int
                ) -> tuple[Tensor, Tensor]:
        out, lse = _forward(q, k, v, mask, causal, bq, bk)
        ctx.save_for_backward(q, k, v, out, lse)  # O(T·d): no (T_q, T_k) tensor is saved
        ctx.mask, ctx.causal, ctx.bq, ctx.bk = mask, causal, bq, bk
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_out: Tensor, _d_lse: Tensor | None) -> tuple[Tensor | None, ...]:
        q, k, v, out, lse = ctx.saved_tensors
        mask, causal, bq, bk = ctx.mask, ctx.causal, ctx.bq, ctx.bk
        T_q, T_k = q.shape[-2], k.shape[-2]
        scale = 1.0 / math.sqrt(q.shape[-1])
        d_out = d_out.contiguous()
        D = (d_out * out).sum(dim=-1)  # (..., T_q) = rowsum(dO ∘ O)
        lse_safe = torch.where(torch.isneginf(lse), math.inf, lse)  # fully masked rows → P = 0
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for i0 in range(0, T_q, bq):
            i1 = min(i0 + bq, T_q)
            qi, doi = q[..., i0:i1, :] * scale, d_out[..., i0:i1, :]
            Li, Di = lse_safe[..., i0:i1, None], D[..., i0:i1, None]
            dqi = torch.zeros_like(qi)
            for j0 in range(0, _key_end(causal, i1, T_k), bk):
                j1 = min(j0 + bk, T_k)
                kj, vj = k[..., j0:j1, :], v[..., j0:j1, :]
                s = qi @ kj.transpose(-2, -1)  # recomputed, (..., b_q, b_k)
                allowed = mask_block(mask, causal, i0, i1, j0, j1, q.device)
                if allowed is not None:
                    s = s.masked_fill(~allowed, -math.inf)
                p = torch.exp(s - Li)  # the softmax probabilities of this tile, from the saved L
                dv[..., j0:j1, :] += p.transpose(-2, -1) @ doi
                ds = p * (doi @ vj.transpose(-2, -1) - Di)
                dqi += ds @ kj
                dk[..., j0:j1, :] += ds.transpose(-2, -1) @ qi  # qi carries the 1/√d already
            dq[..., i0:i1, :] = dqi * scale
        return dq, dk, dv, None, None, None, None


def blockwise_attention_lse(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
    block_q: int = 128, block_k: int = 128,
) -> tuple[Tensor, Tensor]:
    """Like :func:`blockwise_attention`, also returning L = logsumexp of each query's scores (..., T_q), −inf
    for a query with no allowed key. L is what the backward keeps instead of the T_q × T_k probabilities."""
    mask = check_attention_inputs(q, k, v, mask, causal)
    check_block(block_q, "block_q")
    check_block(block_k, "block_k")
    return _BlockwiseAttention.apply(q, k, v, mask, causal, block_q, block_k)


def blockwise_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
    block_q: int = 128, block_k: int = 128,
) -> Tensor:
    """softmax(QKᵀ/√d)V, exactly, in (block_q × block_k) tiles, forward and backward in memory linear in T.

    q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v); mask bool broadcastable to (..., T_q, T_k),
    True = may attend; ``causal`` lets query i see keys j ≤ i. Returns (..., T_q, d_v). A query with no
    allowed key outputs zeros and gets zero gradients (never NaN). T need not be a multiple of the blocks.
    """
    return blockwise_attention_lse(q, k, v, mask, causal=causal, block_q=block_q, block_k=block_k)[0]
