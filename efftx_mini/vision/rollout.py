"""Attention rollout (Abnar & Zuidema 2020, §3): how much each input token flows into each output token,
Ã_l = ½ (mean_h A_l + I) with rows renormalised, rollout = Ã_L ⋯ Ã_2 Ã_1. Row 0 (the class token) over the
patch tokens, reshaped to the patch grid, is the map drawn on top of the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from .._checks import shape_str
from ..blocks.standard import _StandardBlock
from .vit import ViT

__all__ = ["attention_rollout", "vit_attentions", "rollout_maps", "block_attention"]


def attention_rollout(attentions: Sequence[Tensor], residual: float = 0.5) -> Tensor:
    """attentions: L tensors (B, H, T, T), first layer first → rollout (B, T, T) = Ã_L ⋯ Ã_1.

    ``residual`` is the weight of the identity for the skip connection (½ in the paper)."""
    if len(attentions) == 0:
        raise ValueError("attention_rollout needs at least one layer of attention")
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be in [0, 1], got {residual}")
    first = attentions[0]
    for i, a in enumerate(attentions):
        if a.dim() != 4 or a.shape[-1] != a.shape[-2] or a.shape != first.shape:
            raise ValueError(f"attentions[{i}] must have shape (B, H, T, T) like attentions[0] = "
                             f"{shape_str(first.shape)}, got {shape_str(a.shape)}")
    T = first.shape[-1]
    eye = torch.eye(T, dtype=first.dtype, device=first.device)
    out = eye.expand(first.shape[0], T, T)
    for a in attentions:
        a_tilde = (1 - residual) * a.mean(dim=1) + residual * eye
        a_tilde = a_tilde / a_tilde.sum(dim=-1, keepdim=True)
        out = a_tilde @ out
    return out


def block_attention(block: nn.Module, x: Tensor) -> Tensor:
    """The softmax attention (B, H, T, T) a block applies to its input x (B, T, d)."""
    if hasattr(block, "attention_probs"):
        return block.attention_probs(x)
    if isinstance(block, _StandardBlock):
        h = block.norm1(x) if block.norm_first else x
        q, k, _ = (block.heads(t) for t in block.qkv(h).chunk(3, dim=-1))
        return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(block.d_head), dim=-1)
    raise TypeError(f"attention maps are implemented for Pre-LN/Post-LN and multiplexed blocks, "
                    f"got {type(block).__name__}")


@torch.no_grad()
def vit_attentions(model: ViT, images: Tensor) -> list[Tensor]:
    """Run ``model`` on images and return each block's attention (B, H, T, T), first block first."""
    inputs: dict[int, Tensor] = {}
    hooks = [b.register_forward_pre_hook(lambda m, a, i=i: inputs.__setitem__(i, a[0]))
             for i, b in enumerate(model.blocks)]
    was = model.training
    try:
        model.eval()
        model(images)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return [block_attention(b, inputs[i]) for i, b in enumerate(model.blocks)]


def rollout_maps(model: ViT, images: Tensor, residual: float = 0.5) -> Tensor:
    """(B, h, w): the class token's rollout over the patch grid, each map summing to at most 1."""
    if model.pool != "cls":
        raise ValueError("rollout maps read the class token's row; the model must use pool='cls'")
    r = attention_rollout(vit_attentions(model, images), residual)
    return rearrange(r[:, 0, model.n_extra:], "b (h w) -> b h w", h=model.grid[0], w=model.grid[1])
