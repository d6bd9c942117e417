"""FLOPs per image, counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions; one
multiply-add = 2 FLOPs) and, for the ViT, in closed form: per block T·(8d² + 4d·d_ff) + 4T²d (Q, K, V and output
projections 8d², the MLP 4d·d_ff, QKᵀ and AV 2T·d each, per token)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops", "vit_flops", "parameters", "block_parameters"]


@torch.no_grad()
def count_flops(model: nn.Module, images: Tensor) -> int:
    """Forward FLOPs per image of ``model`` on ``images`` (B, C, H, W), counted by FlopCounterMode.

    Attention runs in PyTorch's math backend here, so QKᵀ and AV appear as matmuls the counter sees (the fused
    CPU kernel is not counted)."""
    was = model.training
    model.eval()
    try:
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(images)
    finally:
        model.train(was)
    return counter.get_total_flops() // images.shape[0]


def vit_flops(n_patches: int, n_extra: int, d_model: int, depth: int, d_ff: int, patch_dim: int,
              n_classes: int) -> int:
    """Closed form of the ViT's forward FLOPs per image: patch embedding, blocks, head (norms etc. not counted)."""
    T = n_patches + n_extra
    embed = 2 * n_patches * patch_dim * d_model
    block = T * (8 * d_model**2 + 4 * d_model * d_ff) + 4 * T**2 * d_model
    return embed + depth * block + 2 * d_model * n_classes


def parameters(model: nn.Module) -> int:
    """Trainable entries, shared tensors counted once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def block_parameters(model: nn.Module) -> int:
    """Entries in the transformer blocks (``model.blocks`` or PiT's ``model.stages``), shared ones counted once."""
    part = getattr(model, "blocks", None) or getattr(model, "stages", None)
    if part is None:
        raise TypeError(f"{type(model).__name__} has no transformer blocks (.blocks or .stages)")
    return parameters(part)
