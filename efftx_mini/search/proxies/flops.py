"""The other baseline of Abdelfattah et al. 2021 and ZiCo (Li et al. 2023): forward FLOPs per input,
counted by ``torch.utils.flop_counter`` (one multiply-add = 2 FLOPs)."""

from __future__ import annotations

import torch
from torch import nn

from ...vision import count_flops
from ._common import check_batch

__all__ = ["score"]


def score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Forward FLOPs per input (the batch gives the input shape). Higher is "better"."""
    x, _ = check_batch(batch)
    return float(count_flops(model, x[:1]))
