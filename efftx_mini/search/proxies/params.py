"""The baseline every zero-cost proxy must beat (Abdelfattah et al. 2021; Li et al. 2023, ZiCo): the
number of trainable parameters."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_batch

__all__ = ["score"]


def score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Trainable parameters (shared tensors once); the batch is not used. Higher is "better"."""
    check_batch(batch)
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))
