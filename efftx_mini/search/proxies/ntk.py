"""The condition number of the empirical neural tangent kernel (Jacot et al. 2018; as a NAS proxy: TE-NAS, Chen
et al. 2021, §3.1.1, Eqs. (2)–(3)): for the scalar g(x) = Σ_k f_k(x; θ), Θ[i, j] = ⟨∂g(x_i)/∂θ, ∂g(x_j)/∂θ⟩ over the
parameters whose name contains "weight" (as TE-NAS's ``get_ntk_n``), κ = λ_max / λ_min. A small κ means every
direction of the function space trains at a similar speed; TE-NAS prefers small κ, so the score is −κ.

:func:`ntk_matrix` computes Θ two ways: one backward pass per example (``"autograd"``, as TE-NAS), or
``torch.func`` (per-example Jacobians with ``vmap(jacrev(...))``, ``"func"``); the chapter checks they agree."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from ._common import check_batch, private_copy

__all__ = ["score", "ntk_matrix", "condition_number", "per_example_gradients"]


def _weights(model: nn.Module) -> dict[str, Tensor]:
    return {n: p for n, p in model.named_parameters() if "weight" in n and p.requires_grad}


def per_example_gradients(model: nn.Module, x: Tensor, method: str = "autograd") -> Tensor:
    """(N, P): row i is ∂(Σ_k f_k(x_i))/∂θ over the "weight" parameters, flattened in ``named_parameters`` order."""
    weights = _weights(model)
    if method == "autograd":
        rows = []
        for i in range(x.shape[0]):
            model.zero_grad(set_to_none=True)
            model(x[i:i + 1]).sum().backward()
            rows.append(torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(p).reshape(-1)
                                   for p in weights.values()]))
        model.zero_grad(set_to_none=True)
        return torch.stack(rows)
    if method == "func":
        others = {n: p.detach() for n, p in model.named_parameters() if n not in weights}
        others.update(dict(model.named_buffers()))

        def g(w: dict[str, Tensor], xi: Tensor) -> Tensor:
            return functional_call(model, {**others, **w}, (xi[None],)).sum()

        with sdpa_kernel(SDPBackend.MATH):  # the fused CPU attention kernel has no vmap rule
            jac = vmap(jacrev(g), in_dims=(None, 0))({n: p.detach() for n, p in weights.items()}, x)
        return torch.cat([jac[n].reshape(x.shape[0], -1) for n in weights], dim=1)
    raise ValueError(f"method must be 'autograd' or 'func', got {method!r}")


def ntk_matrix(model: nn.Module, x: Tensor, method: str = "autograd") -> Tensor:
    """Θ (N, N) = J Jᵀ with J the per-example gradients of :func:`per_example_gradients`."""
    J = per_example_gradients(model, x, method)
    return J @ J.T


def condition_number(theta: Tensor) -> float:
    """λ_max / λ_min of a symmetric matrix (eigenvalues in float64)."""
    ev = torch.linalg.eigvalsh(theta.double())
    return float(ev[-1] / ev[0])


def score(model: nn.Module, batch: tuple[Tensor, Tensor]) -> float:
    """−κ(Θ) on the batch; higher (a better-conditioned NTK) is better."""
    x, _ = check_batch(batch)
    return -condition_number(ntk_matrix(private_copy(model), x))
