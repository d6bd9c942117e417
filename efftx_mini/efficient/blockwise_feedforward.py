"""The feed-forward network chunk by chunk over positions (Liu & Abbeel 2023, Blockwise Parallel Transformer, §3).

An MLP acts on each position independently, so FFN(X) = concat_c FFN(X_c) for any split of the T positions
into chunks X_c. Checkpointing each chunk keeps only its input for the backward pass and recomputes its
(chunk, d_ff) hidden activation there, so the (T, d_ff) activation is never whole, neither in forward nor in
backward: peak activation memory O(T·d + chunk·d_ff) instead of O(T·d_ff).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .._checks import check_float, shape_str
from ._common import check_block

__all__ = ["blockwise_feedforward", "BlockwiseFeedForward"]


def blockwise_feedforward(ffn: Callable[[Tensor], Tensor], x: Tensor, chunk: int = 256, *,
                          recompute: bool = True) -> Tensor:
    """ffn(x) for x (..., T, d), computed ``chunk`` positions at a time along dim −2.

    ``ffn`` must act on each position independently (an MLP; not attention, not batch statistics).
    ``recompute=True`` checkpoints each chunk (needed for the memory saving under autograd); with False the
    chunks only bound the forward's transient memory.
    """
    check_float(x, "x")
    check_block(chunk, "chunk")
    if x.dim() < 2 or x.shape[-2] == 0:
        raise ValueError(f"x must have shape (..., T, d) with T >= 1, got {shape_str(x.shape)}")
    use_ckpt = recompute and torch.is_grad_enabled()
    outs = []
    for c0 in range(0, x.shape[-2], chunk):
        xc = x[..., c0:c0 + chunk, :]
        outs.append(checkpoint(ffn, xc, use_reentrant=False) if use_ckpt else ffn(xc))
    return torch.cat(outs, dim=-2)


class BlockwiseFeedForward(nn.Module):
    """Wraps a position-wise MLP so that it runs ``chunk`` positions at a time (same parameters, same outputs)."""

    def __init__(self, ffn: nn.Module, chunk: int = 256, recompute: bool = True) -> None:
        super().__init__()
        self.ffn, self.chunk, self.recompute = ffn, check_block(chunk, "chunk"), recompute

    def forward(self, x: Tensor) -> Tensor:
        return blockwise_feedforward(self.ffn, x, self.chunk, recompute=self.recompute)

    def extra_repr(self) -> str:
        return f"chunk={self.chunk}, recompute={self.recompute}"
