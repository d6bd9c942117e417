"""grad_norm (Abdelfattah et al. 2021, §3): Σ_layers ‖∂L/∂W_l‖_F, the Frobenius norm of each linear or
convolution layer's weight gradient for the cross-entropy of one minibatch, summed over the layers (zero-cost-nas's
``grad_norm.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_batch, private_copy, weighted_layers

__all__ = ["score"]


def score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Σ_l ‖∂L/∂W_l‖_F over the linear and convolution layers; higher is better."""
    x, y = check_batch(batch)
    net = private_copy(model)
    F.cross_entropy(net(x), y).backward()
    return sum(float(m.weight.grad.norm()) for _, m in weighted_layers(net) if m.weight.grad is not None)
