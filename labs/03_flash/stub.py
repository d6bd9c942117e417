"""Lab 03 — exact attention in tiles, forward and backward (part III: chapter 9). Copy this file to solution.py.

Rules: PyTorch tensor operations only; nothing from ``efftx_mini``, not
``torch.nn.functional.scaled_dot_product_attention``. Never build a (T_q, T_k) tensor: only tiles of
(block_q, block_k) scores may exist at any time, in the forward and in the backward pass.
Shapes: q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v); ``causal`` lets query i see keys j <= i.
"""

from __future__ import annotations

import torch  # noqa: F401 (you will need it)
from torch import Tensor


def softmax_state(x: Tensor) -> tuple[Tensor, Tensor]:
    """The state (m, l) of the scores along the last dim of x: m = max_j x_j, l = Σ_j exp(x_j − m), each (...,).
    A row of −inf only has m = −inf, l = 0 (and no NaN)."""
    raise NotImplementedError("softmax_state")


def merge_states(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """The state of the union of two disjoint sets of scores (Milakov & Gimelshein 2018, §3): m = max(m_a, m_b),
    l = l_a·exp(m_a − m) + l_b·exp(m_b − m). Two empty states merge to an empty state, without NaN."""
    raise NotImplementedError("merge_states")


def online_softmax(x: Tensor, block: int) -> Tensor:
    """softmax(x) along the last dim, computing (m, l) in one pass over blocks of ``block`` scores (merge_states),
    then normalising. Rows of −inf only give zeros."""
    raise NotImplementedError("online_softmax")


def blockwise_forward(q: Tensor, k: Tensor, v: Tensor, causal: bool, block_q: int, block_k: int
                      ) -> tuple[Tensor, Tensor]:
    """(out (..., T_q, d_v), lse (..., T_q)): softmax(q kᵀ/√d) v and L_i = log Σ_j exp(s_ij), tile by tile with the
    online softmax (FlashAttention-2, Alg. 1). With ``causal``, skip the tiles that lie wholly above the diagonal.
    T need not be a multiple of the block sizes."""
    raise NotImplementedError("blockwise_forward")


def blockwise_backward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, d_out: Tensor, causal: bool,
                       block_q: int, block_k: int) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) from the saved q, k, v, out and lse only (FlashAttention-2, Alg. 2): recompute each tile's
    probabilities P = exp(S − L), with D = rowsum(dO ∘ O): dV += Pᵀ dO, dS = P ∘ (dO Vᵀ − D), dQ += dS K / √d,
    dK += dSᵀ Q / √d."""
    raise NotImplementedError("blockwise_backward")


class BlockwiseAttention(torch.autograd.Function):
    """forward: blockwise_forward, saving only q, k, v, out and lse (ctx.save_for_backward); backward:
    blockwise_backward."""

    @staticmethod
    def forward(ctx, q, k, v, causal, block_q, block_k):  # noqa: ANN001, ANN205
        raise NotImplementedError("BlockwiseAttention.forward")

    @staticmethod
    def backward(ctx, d_out):  # noqa: ANN001, ANN205
        raise NotImplementedError("BlockwiseAttention.backward")


def blockwise_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False, block_q: int = 64,
                        block_k: int = 64) -> Tensor:
    """softmax(q kᵀ/√d) v through BlockwiseAttention (so that autograd uses your backward)."""
    raise NotImplementedError("blockwise_attention")
