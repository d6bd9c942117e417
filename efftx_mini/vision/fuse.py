"""Folding BatchNorm into the convolution before it, for inference: BN(Wx + b) = W'x + b' with
W' = γ W / √(σ² + ε), b' = β + γ (b − μ) / √(σ² + ε) — the deployment step the EfficientViT authors apply before
measuring speed (``replace_batchnorm`` in their code; Jacob et al. 2018, §3.2 for the folding itself)."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["fuse_batchnorm"]


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True).to(conv.weight.device, conv.weight.dtype)
    fused.weight.copy_(conv.weight * scale[:, None, None, None])
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
    return fused


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode where every Conv2d directly followed by a BatchNorm2d inside an
    ``nn.Sequential`` is one Conv2d with the BatchNorm folded in (same outputs in eval mode)."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for a, b in zip(names[:-1], names[1:], strict=True):
            conv, bn = module._modules[a], module._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                module._modules[a] = _fold(conv, bn)
                module._modules[b] = nn.Identity()
    return model
