"""Lab 01 — attention with masks (part I: chapters 1, 2 and 4). Copy this file to solution.py and fill it in.

Rules: PyTorch tensor operations only. Do not call ``torch.nn.functional.scaled_dot_product_attention``,
``torch.nn.MultiheadAttention`` or anything from ``efftx_mini`` in this file: the tests compare your code with them.
Masks are boolean and ``True`` means "may attend" (the book's convention).
"""

from __future__ import annotations

import torch  # noqa: F401 (you will need it)
from torch import Tensor


def causal_mask(T: int) -> Tensor:
    """(T, T) bool, True on and below the diagonal: position i may attend to positions j <= i."""
    raise NotImplementedError("causal_mask")


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """tokens (B, T) int64 -> (B, 1, 1, T) bool, False where the token is ``pad_id`` (a key nobody may attend to)."""
    raise NotImplementedError("padding_mask")


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None
                                 ) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ / √d_k) v (Vaswani et al. 2017, Eq. 1) -> (output (..., T_q, d_v), weights (..., T_q, T_k)).

    q (..., T_q, d_k), k (..., T_k, d_k), v (..., T_k, d_v); ``mask`` bool, broadcastable to (..., T_q, T_k).
    - Raise ValueError, naming both shapes, when q and k have different widths d_k or k and v different T_k.
    - A query row whose keys are all masked out gets weights 0 and output 0, never NaN, and its gradients are 0
      (not NaN) too.
    """
    raise NotImplementedError("scaled_dot_product_attention")


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """(B, T, d) -> (B, H, T, d / H): head h gets the columns h·d_h … (h+1)·d_h − 1. ValueError if H does not
    divide d."""
    raise NotImplementedError("split_heads")


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, d_h) -> (B, T, H·d_h): the inverse of split_heads."""
    raise NotImplementedError("merge_heads")


def multi_head_attention(query: Tensor, key: Tensor, value: Tensor, in_proj_weight: Tensor, in_proj_bias: Tensor,
                         out_weight: Tensor, out_bias: Tensor, n_heads: int, mask: Tensor | None = None) -> Tensor:
    """Multi-head attention (Vaswani et al. 2017, §3.2.2) with the weights given as tensors.

    query (B, T_q, d), key and value (B, T_k, d). ``in_proj_weight`` (3d, d) stacks W^Q, W^K, W^V (rows 0…d−1 are
    W^Q), ``in_proj_bias`` (3d,); a projection is x Wᵀ + b, as ``torch.nn.functional.linear``. The heads' outputs
    are merged and projected by ``out_weight`` (d, d), ``out_bias`` (d,). ``mask`` broadcasts to (B, H, T_q, T_k).
    Returns (B, T_q, d).
    """
    raise NotImplementedError("multi_head_attention")
