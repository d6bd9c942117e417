"""Pruning orders: heads by increasing importance (Michel et al. 2019, §4.2), computed once (the paper's Fig. 3)
or recomputed before every step (the authors' code's ``--exact_pruning``), and at random (our baseline). At least
one head per layer is always kept (an option of the authors' code, ``--at_least_x_heads_per_layer``; the paper's
Fig. 3 prunes all the way to 100%).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from .gates import set_gates

__all__ = ["pruning_order", "random_order", "iterative_pruning"]

Head = tuple[str, int]


def _check_scores(scores: Mapping[str, Tensor]) -> None:
    if not scores:
        raise ValueError("scores must name at least one layer, got none")
    for n, s in scores.items():
        if s.dim() != 1 or s.numel() == 0:
            raise ValueError(f"scores[{n!r}] must have shape (H,) with H > 0, got {tuple(s.shape)}")


def pruning_order(scores: Mapping[str, Tensor], *, done: tuple[Head, ...] = (), keep_min: int = 1) -> list[Head]:
    """(layer, head) pairs from least to most important, never taking a layer below ``keep_min`` heads.

    Heads in ``done`` (already pruned) are left out and count as gone. Ties break by layer order, then head.
    """
    _check_scores(scores)
    if keep_min < 1:
        raise ValueError(f"keep_min must be at least 1, got {keep_min}")
    left = {n: s.numel() - sum(1 for m, _ in done if m == n) for n, s in scores.items()}
    gone = set(done)
    cand = [(float(s[h]), i, h, n) for i, (n, s) in enumerate(scores.items()) for h in range(s.numel())
            if (n, h) not in gone]
    order = []
    for _, _, h, n in sorted(cand):
        if left[n] > keep_min:
            order.append((n, h))
            left[n] -= 1
    return order


def random_order(scores: Mapping[str, Tensor], seed: int, *, keep_min: int = 1) -> list[Head]:
    """A random order of the same heads with the same per-layer floor: our baseline (Michel et al.'s Fig. 3 compares
    I_h with the single-head ablation order of §3.2 instead; it has no random order)."""
    _check_scores(scores)
    g = torch.Generator().manual_seed(int(seed))
    rand = {n: torch.rand(s.numel(), generator=g) for n, s in scores.items()}
    return pruning_order(rand, keep_min=keep_min)


def iterative_pruning(
    model: nn.Module, score_fn: Callable[[nn.Module], Mapping[str, Tensor]], n_prune: int, step: int = 1, *,
    keep_min: int = 1,
) -> list[Head]:
    """Prune ``n_prune`` heads ``step`` at a time, rescoring the gated model before every step; returns the order.

    Leaves the model with exactly those heads gated off (ξ = 0).
    """
    if n_prune < 0 or step < 1:
        raise ValueError(f"need n_prune >= 0 and step >= 1, got n_prune={n_prune}, step={step}")
    done: list[Head] = []
    set_gates(model, done)
    while len(done) < n_prune:
        order = pruning_order(score_fn(model), done=tuple(done), keep_min=keep_min)
        if not order:
            raise ValueError(f"only {len(done)} heads can be pruned with keep_min={keep_min}, asked for {n_prune}")
        done += order[: min(step, n_prune - len(done))]
        set_gates(model, done)
    return done
