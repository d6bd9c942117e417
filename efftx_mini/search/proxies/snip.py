"""SNIP (Lee et al. 2019, §4.1, Eq. 5; as a NAS proxy: Abdelfattah et al. 2021, §3): the connection sensitivity
|∂L/∂c| of a multiplicative mask c = 1 on every weight, which equals |W ⊙ ∂L/∂W|, summed over the weights of the
linear and convolution layers; L is the cross-entropy of one minibatch. (SNIP's Eq. 6 normalises the magnitudes to
sum to 1 within a network; the proxy sums the raw ones, as Abdelfattah et al.'s code does.)"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_batch, private_copy, weighted_layers

__all__ = ["score"]


def score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Σ |W ⊙ ∂L/∂W| (= Σ |∂L/∂c| at c = 1) for the cross-entropy L of the batch; higher is better."""
    x, y = check_batch(batch)
    net = private_copy(model)
    F.cross_entropy(net(x), y).backward()
    return sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for _, m in weighted_layers(net)
               if m.weight.grad is not None)
