"""Input checks and mask tiles shared by the efficient-attention modules (same errors as the core attention):
exact attention in tiles (chapter 9) and the linear-time forms (chapter 10)."""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_mask, shape_str
from ..attention import _check_qkv

__all__ = ["check_attention_inputs", "check_block", "mask_block", "check_linear_inputs", "key_padding"]


def check_attention_inputs(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor | None:
    """Check q, k, v as :func:`efftx_mini.attention.scaled_dot_product_attention` does; return the mask
    broadcast (as a view, no copy) to (..., T_q, T_k), or None."""
    _check_qkv(q, k, v)
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if mask is None:
        return None
    target = (*q.shape[:-1], k.shape[-2])
    mask = check_mask(mask, target, "(..., T_q, T_k)")
    if mask.device != q.device:
        raise ValueError(f"mask is on {mask.device} but q is on {q.device}")
    return mask.expand(target)


def check_block(size: object, name: str) -> int:
    """A block size: a positive int."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"{name} must be an int, got {type(size).__name__}")
    if size <= 0:
        raise ValueError(f"{name} must be a positive number of positions, got {size}")
    return size


def mask_block(
    mask: Tensor | None, causal: bool, i0: int, i1: int, j0: int, j1: int, device: torch.device,
) -> Tensor | None:
    """The (…, i1−i0, j1−j0) tile of allowed (query, key) pairs, or None when every pair is allowed.

    Causal means key j ≤ query i (top-left aligned, as ``F.scaled_dot_product_attention(is_causal=True)``).
    """
    tile = None if mask is None else mask[..., i0:i1, j0:j1]
    if causal and j1 - 1 > i0:  # some key in the tile lies after some query
        qi = torch.arange(i0, i1, device=device)[:, None]
        kj = torch.arange(j0, j1, device=device)[None, :]
        tri = kj <= qi
        tile = tri if tile is None else tile & tri
    return tile


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
