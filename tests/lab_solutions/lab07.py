"""Reference solution of lab 07 (training-free proxies and rank correlation)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def _copy(model: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    net = copy.deepcopy(model)
    if dtype is not None:
        net = net.to(dtype)
    net.train()
    net.zero_grad(set_to_none=True)
    return net


def synflow(model: nn.Module, batch: tuple[Tensor, Tensor]) -> float:
    x, _ = batch
    net = _copy(model, torch.float64)
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    net(torch.ones_like(x[:1], dtype=torch.float64)).sum().backward()
    return sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in _layers(net)
               if m.weight.grad is not None)


def snip(model: nn.Module, batch: tuple[Tensor, Tensor]) -> float:
    x, y = batch
    net = _copy(model)
    F.cross_entropy(net(x), y).backward()
    return sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in _layers(net)
               if m.weight.grad is not None)


def _ranks(values: list[float]) -> Tensor:
    x = torch.tensor(values, dtype=torch.float64)
    order = torch.argsort(x, stable=True)
    ranks = torch.empty_like(x)
    ranks[order] = torch.arange(1, len(x) + 1, dtype=torch.float64)
    for v in torch.unique(x):  # ties: the mean of the ranks they span
        same = x == v
        ranks[same] = ranks[same].mean()
    return ranks


def spearman(a: list[float], b: list[float]) -> float:
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need two lists of the same length >= 2, got {len(a)} and {len(b)}")
    ra, rb = _ranks(list(a)), _ranks(list(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))
