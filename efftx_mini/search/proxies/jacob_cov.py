"""jacob_cov (Mellor et al. 2020, arXiv v1, §3; as used by Abdelfattah et al. 2021): the input Jacobians
J_i = ∂(Σ_k f_k(x_i))/∂x_i of one minibatch, their correlation matrix Σ_J (N × N) with eigenvalues λ_j, and the score
−Σ_j [log(λ_j + k) + 1/(λ_j + k)], k = 10⁻⁵: highest when the Jacobians of different images are uncorrelated."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._common import check_batch, private_copy

__all__ = ["score", "input_jacobians", "K_EPS"]

K_EPS = 1e-5


def input_jacobians(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, D): row i is ∂(Σ_k f_k(x_i))/∂x_i, flattened (one backward of the summed outputs)."""
    x = x.detach().clone().requires_grad_(True)
    y = model(x)
    y.backward(torch.ones_like(y))
    return x.grad.reshape(x.shape[0], -1)


def score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """−Σ_j [log(λ_j + k) + 1/(λ_j + k)] over the eigenvalues of corrcoef(J); higher is better."""
    x, _ = check_batch(batch)
    if x.shape[0] < 2:
        raise ValueError(f"jacob_cov needs a batch of at least 2 inputs, got {x.shape[0]}")
    J = input_jacobians(private_copy(model), x).double().numpy()
    corr = np.corrcoef(J)
    v = np.linalg.eigvalsh(corr)  # symmetric: real eigenvalues
    return float(-np.sum(np.log(v + K_EPS) + 1.0 / (v + K_EPS)))
