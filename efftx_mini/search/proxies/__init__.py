"""Training-free proxies for a network's trained accuracy, one module per proxy, one signature:
``score(model, batch) -> float`` with ``batch = (inputs, labels)``, every score oriented so that *higher is
predicted better* (the NTK's condition number enters as −κ).

- :mod:`.dss` — TF-TAS's DSS indicator (Zhou et al. 2022): nuclear-norm diversity of the attention
  projections + saliency of the MLPs
- :mod:`.synflow`, :mod:`.snip`, :mod:`.grad_norm`, :mod:`.jacob_cov` — the zero-cost proxies of Abdelfattah
  et al. 2021
- :mod:`.naswot` — log|det K_H| of the activation codes (Mellor et al. 2021)
- :mod:`.ntk` — −κ of the empirical NTK (TE-NAS, Chen et al. 2021)
- :mod:`.params`, :mod:`.flops` — the baselines: parameters and FLOPs

None of them changes the model it is given (each works on a private copy).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from . import dss, flops, grad_norm, jacob_cov, naswot, ntk, params, snip, synflow

__all__ = ["PROXIES", "BASELINES", "score", "score_all"]

Proxy = Callable[[nn.Module, tuple[torch.Tensor, torch.Tensor]], float]

#: name → score function; the first seven are the training-free proxies, the last two the baselines
PROXIES: dict[str, Proxy] = {
    "dss": dss.score, "synflow": synflow.score, "snip": snip.score, "grad_norm": grad_norm.score,
    "jacob_cov": jacob_cov.score, "naswot": naswot.score, "ntk": ntk.score,
    "params": params.score, "flops": flops.score,
}
BASELINES = ("params", "flops")


def score(name: str, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """The proxy ``name`` of :data:`PROXIES` on ``model`` and ``batch``."""
    if name not in PROXIES:
        raise ValueError(f"unknown proxy {name!r}; expected one of {list(PROXIES)}")
    return PROXIES[name](model, batch)


def score_all(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
              names: list[str] | None = None) -> dict[str, dict[str, float]]:
    """{name: {"value": score, "seconds": wall-clock seconds}} for every proxy in ``names`` (default: all)."""
    out = {}
    for name in names or list(PROXIES):
        t0 = time.perf_counter()
        v = score(name, model, batch)
        out[name] = {"value": v, "seconds": time.perf_counter() - t0}
    return out
