"""SynFlow (Tanaka et al. 2020, §4 synaptic saliency, §6 the SynFlow objective; as a NAS proxy: Abdelfattah
et al. 2021, §3): with every weight replaced by its absolute value and an all-ones input, R = 1ᵀ f(1); the score is
Σ_layers Σ |θ ⊙ ∂R/∂θ| over the weights of the linear and convolution layers (float64, as zero-cost-nas's
``synflow.py``)."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_batch, private_copy, signed_abs_weights, weighted_layers

__all__ = ["score"]


def score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Σ |W ⊙ ∂R/∂W| with R = sum of the outputs on a ones input, |θ| for every parameter; higher is better."""
    x, _ = check_batch(batch)
    net = private_copy(model, torch.float64)
    signed_abs_weights(net)
    net(torch.ones_like(x[:1], dtype=torch.float64)).sum().backward()
    total = 0.0
    for _, layer in weighted_layers(net):
        if layer.weight.grad is not None:
            total += float((layer.weight.detach() * layer.weight.grad).abs().sum())
    return total
