"""Lab 07 — training-free proxies and rank correlation (part VI: chapter 15). Copy this file to solution.py.

A proxy scores an untrained network from one batch; higher should predict a better trained accuracy. ``batch`` is
(inputs (B, …) float, labels (B,) int64). The layers a proxy sums over are every ``nn.Linear`` and ``nn.Conv2d``
(their ``weight``). A proxy must not change the model it is given: work on ``copy.deepcopy(model)`` in training
mode. Rules: PyTorch only; nothing from ``efftx_mini``, no scipy in this file.
"""

from __future__ import annotations

import torch  # noqa: F401 (you will need it)
from torch import Tensor, nn


def synflow(model: nn.Module, batch: tuple[Tensor, Tensor]) -> float:
    """SynFlow (Tanaka et al. 2020, §4; Abdelfattah et al. 2021, §3): in float64, replace every floating-point entry
    of the copy's state dict by its absolute value, feed one all-ones input shaped like one example of the batch,
    R = sum of the outputs; score = Σ over the layers of Σ |W ⊙ ∂R/∂W|."""
    raise NotImplementedError("synflow")


def snip(model: nn.Module, batch: tuple[Tensor, Tensor]) -> float:
    """SNIP (Lee et al. 2019, §3): with L the cross-entropy of the batch, score = Σ over the layers of
    Σ |W ⊙ ∂L/∂W|."""
    raise NotImplementedError("snip")


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation: the Pearson correlation of the ranks of a and of b, tied values getting the
    mean of the ranks they span. ValueError if the lengths differ or are < 2."""
    raise NotImplementedError("spearman")
