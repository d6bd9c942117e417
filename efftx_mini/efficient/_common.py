"""Shared checks for the linear-time attentions: shapes, causal lengths and key-padding masks."""

from __future__ import annotations

from torch import Tensor

from .._checks import check_mask, shape_str
from ..attention import _check_qkv

__all__ = ["check_linear_inputs", "key_padding"]


def check_linear_inputs(q: Tensor, k: Tensor, v: Tensor, causal: bool, dropout_p: float, name: str) -> None:
    """The checks of ``scaled_dot_product_attention`` plus the limits of a linear-time form."""
    _check_qkv(q, k, v)
    if dropout_p != 0.0:
        raise ValueError(f"{name} has no attention matrix to drop out: dropout_p must be 0.0, got {dropout_p}")
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"causal {name} needs as many queries as keys (T_q == T_k), got q {shape_str(q.shape)} "
            f"and k {shape_str(k.shape)}"
        )


def key_padding(mask: Tensor | None, q: Tensor, k: Tensor, name: str) -> Tensor | None:
    """A mask that a linear-time form can use: key padding only, broadcastable to (..., 1, T_k).

    Returns a float (..., T_k, 1) keep-factor for the keys, or None. A full (T_q, T_k) mask would need the
    T_q × T_k matrix that these forms avoid, so it is refused with a clear error.
    """
    if mask is None:
        return None
    target = (*q.shape[:-2], 1, k.shape[-2])
    try:
        mask = check_mask(mask, target, "(..., 1, T_k)")
    except ValueError as e:
        raise ValueError(
            f"{name} accepts only key-padding masks that broadcast to (..., 1, T_k) = {shape_str(target)} "
            f"(use causal=True for a causal mask), got mask {shape_str(mask.shape)}"
        ) from e
    return mask.expand(target).transpose(-2, -1).to(k.dtype)  # (..., T_k, 1)
