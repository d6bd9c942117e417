"""NASWOT (Mellor et al. 2021, §3): each image of a minibatch gets the binary code c_i of which
activation units are "on" (input > 0) in every ReLU/GELU layer; K_H[i, j] = N_A − Hamming(c_i, c_j) counts the
units on which images i and j agree, and the score is log|det K_H|.

In the book's blocks the GELU is a function inside the MLP, so the codes are read from the output of each
block's first MLP layer ``fc1`` (the GELU's input); any module may be named with ``layers=``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._common import check_batch, private_copy

__all__ = ["score", "activation_kernel"]


def _default_layers(model: nn.Module) -> list[str]:
    names = [n for n, m in model.named_modules() if n.split(".")[-1] == "fc1" and isinstance(m, nn.Linear)]
    if not names:
        raise ValueError("NASWOT found no MLP layer named 'fc1'; pass layers=[module names whose outputs feed a "
                         "ReLU/GELU]")
    return names


@torch.no_grad()
def activation_kernel(model: nn.Module, x: torch.Tensor, layers: list[str] | None = None) -> np.ndarray:
    """K_H (N, N) = Σ_layers [c cᵀ + (1 − c)(1 − c)ᵀ], c the (N, units) 0/1 codes of pre-activation > 0."""
    names = layers or _default_layers(model)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"no module named {missing} in the model")
    K = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64)

    def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal K
        c = (out.reshape(out.shape[0], -1) > 0).double()
        K += c @ c.T + (1 - c) @ (1 - c).T

    handles = [modules[n].register_forward_hook(hook) for n in names]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return K.numpy()


def score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], layers: list[str] | None = None) -> float:
    """log|det K_H| of the batch's activation codes; higher is better."""
    x, _ = check_batch(batch)
    _, logdet = np.linalg.slogdet(activation_kernel(private_copy(model), x, layers))
    return float(logdet)
