"""Input checks and mask tiles shared by the efficient-attention modules (same errors as the core attention)."""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_mask
from ..attention import _check_qkv


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
