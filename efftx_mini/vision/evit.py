"""Token pruning in the style of EViT (Liang et al. 2022, "Not All Patches are What You Need: Expediting Vision
Transformers via Token Reorganizations", §3): in chosen blocks, between attention and MLP, keep the k patch
tokens that the class token attends to most (its attention averaged over heads) and *fuse* the others into one
token, their sum weighted by that attention, x_fused = Σ_{i pruned} a_i x_i (Eq. 5 and the authors' code). The
fused token is an ordinary token afterwards; it can be pruned and fused again in later blocks.

Applied to a trained :class:`~efftx_mini.vision.ViT` without retraining (the paper fine-tunes with pruning):
:func:`evit_forward` with every patch kept gives the model's output. Token sizes (patches per token) are tracked
only to draw and check the reduction; EViT's attention does not use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ._token_blocks import attention_half, check_reducible, classify, embed_tokens, finish_block
from .tome import TokenTrace
from .vit import ViT

__all__ = ["keep_counts", "prune_tokens", "evit_forward"]


def keep_counts(n_patches: int, keep_rate: float, locations: Sequence[int], depth: int) -> list[int | None]:
    """Patch tokens kept after each block: ⌈rate · n⌉ at each block in ``locations`` (0-based), None elsewhere.
    The count in a later location starts from the tokens left (the fused token counts as a patch token)."""
    if not 0.0 < keep_rate <= 1.0:
        raise ValueError(f"keep_rate must be in (0, 1], got {keep_rate}")
    if any(not 0 <= loc < depth for loc in locations):
        raise ValueError(f"locations must be block indices in [0, {depth}), got {list(locations)}")
    out: list[int | None] = [None] * depth
    n = n_patches
    for loc in sorted(set(locations)):
        k = math.ceil(keep_rate * n)
        if k < n:
            out[loc] = k
            n = k + 1  # the kept tokens plus the fused one
    return out


def prune_tokens(x: Tensor, size: Tensor, cls_attn: Tensor, keep: int, fuse: bool = True) -> tuple[Tensor, Tensor]:
    """x (B, 1 + n, d), size (B, 1 + n), cls_attn (B, n) → the class token, the ``keep`` most attended patch
    tokens (in order of attention) and, with ``fuse``, Σ a_i x_i over the rest; sizes likewise (summed)."""
    n = x.shape[1] - 1
    if not 1 <= keep <= n:
        raise ValueError(f"keep must be in [1, {n}], got {keep}")
    if keep == n:
        return x, size
    order = cls_attn.argsort(dim=1, descending=True)
    top, rest = order[:, :keep], order[:, keep:]
    patches, psize = x[:, 1:], size[:, 1:]
    d = x.shape[-1]
    kept = patches.gather(1, top[..., None].expand(-1, -1, d))
    parts, sizes = [x[:, :1], kept], [size[:, :1], psize.gather(1, top)]
    if fuse:
        a = cls_attn.gather(1, rest)[..., None]
        parts.append((patches.gather(1, rest[..., None].expand(-1, -1, d)) * a).sum(1, keepdim=True))
        sizes.append(psize.gather(1, rest).sum(1, keepdim=True))
    return torch.cat(parts, dim=1), torch.cat(sizes, dim=1)


def evit_forward(model: ViT, images: Tensor, keep_rate: float = 1.0, locations: Sequence[int] | None = None,
                 fuse: bool = True, trace: bool = False) -> tuple[Tensor, TokenTrace]:
    """Logits (B, K) of ``model`` with EViT pruning at ``locations`` (default: every block but the first)."""
    check_reducible(model)
    locations = list(range(1, model.depth)) if locations is None else list(locations)
    counts = keep_counts(model.embed.n_patches, keep_rate, locations, model.depth)
    x = embed_tokens(model, images)
    B, T = x.shape[:2]
    size = torch.ones(B, T, dtype=x.dtype, device=x.device)
    groups = torch.arange(T - 1, device=x.device).expand(B, T - 1).clone() if trace else None
    out = TokenTrace()
    for blk, keep in zip(model.blocks, counts, strict=True):
        x, _, cls_attn = attention_half(blk, x, cls_attention=keep is not None)
        if keep is not None and cls_attn is not None:
            if groups is not None:  # the patch token each patch now lives in: kept → new place, pruned → fused
                n = x.shape[1] - 1
                order = cls_attn.argsort(dim=1, descending=True)
                new_pos = torch.empty_like(order)
                new_pos.scatter_(1, order, torch.arange(n, device=x.device).expand(B, n).clamp(max=keep))
                moved = new_pos.gather(1, groups.clamp(min=0))
                gone = (groups < 0) | (moved >= keep) if not fuse else groups < 0
                groups = torch.where(gone, -1, moved)
            x, size = prune_tokens(x, size, cls_attn, keep, fuse)
        x = finish_block(blk, x)
        out.sizes.append(size)
        if groups is not None:
            out.groups.append(groups.clone())
    return classify(model, x), out
