"""Head importance I_h = Σ_x |∂L(x)/∂ξ_h| (Michel et al. 2019, §4.1, Eq. 2) and single-head ablation (§3.2).

The gradient with respect to a gate at ξ = 1 is a first-order (Taylor) estimate of what removing the head
changes in the loss: L(ξ_h = 0) − L(ξ_h = 1) ≈ −∂L/∂ξ_h. Here the absolute value is taken per *batch* (of the
batch's mean loss) and summed over batches. The paper writes an expectation over samples x; the authors' BERT
code (``calculate_head_importance``) takes it per token position, Att_h^T ∂L/∂Att_h, before summing: a finer
grain, so fewer opposite-signed contributions cancel. Scores are then normalised per layer by their ℓ2 norm
(§4.1, after Molchanov et al. 2017).

On a gated model each batch contributes |ξ_h · ∂L/∂ξ_h| = |Att_h^T ∂L/∂Att_h| of the head's *gated* output, the
quantity the authors' code takes (it reads the gradient of the masked head output): at ξ = 1 it is the paper's
score, and a gated-off head (ξ = 0) scores exactly 0, so it does not weigh in its layer's ℓ2 norm when the
iterative order rescores a partly pruned model. (∂L/∂ξ_h itself is not 0 there: it would say how much putting
the head back would change the loss, and inflate the norm of exactly the layers that have lost heads.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from torch import Tensor, nn

from .gates import add_head_gates, gate_values

__all__ = ["head_importance", "ablation_scores"]

B = TypeVar("B")


def head_importance(
    model: nn.Module, batches: Iterable[B], loss_fn: Callable[[nn.Module, B], Tensor], *, normalize: bool = True,
) -> dict[str, Tensor]:
    """{layer name: (H,)} Σ over batches of |ξ_h · ∂ loss_fn(model, batch) / ∂ξ_h|, ℓ2-normalised per layer if asked.

    With all gates at 1 this is Σ |∂L/∂ξ_h| (Michel et al. Eq. 2); gated-off heads (ξ = 0) score 0, as in the
    authors' code, and leave the normalisation to the live heads. Parameter gradients are left untouched.
    ``loss_fn`` must return a scalar.
    """
    add_head_gates(model)
    gates = gate_values(model)
    scores = {n: torch.zeros_like(g) for n, g in gates.items()}
    was = model.training
    model.eval()
    n_batches = 0
    try:
        for g in gates.values():
            g.requires_grad_(True)
        for batch in batches:
            loss = loss_fn(model, batch)
            if loss.dim() != 0:
                raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
            grads = torch.autograd.grad(loss, list(gates.values()), allow_unused=True)
            for (n, _), gr in zip(gates.items(), grads, strict=True):
                if gr is not None:
                    scores[n] += (gr.detach() * gates[n].detach()).abs()
            n_batches += 1
    finally:
        for g in gates.values():
            g.requires_grad_(False)
        model.train(was)
    if n_batches == 0:
        raise ValueError("head_importance needs at least one batch, got none")
    if normalize:
        scores = {n: s / s.norm().clamp_min(1e-20) for n, s in scores.items()}
    return scores


@torch.no_grad()
def ablation_scores(
    model: nn.Module, batches: Iterable[B], loss_fn: Callable[[nn.Module, B], Tensor],
) -> dict[str, Tensor]:
    """{layer name: (H,)} loss with head h alone gated off minus the full model's loss (mean over batches)."""
    batches = list(batches)
    if not batches:
        raise ValueError("ablation_scores needs at least one batch, got none")
    add_head_gates(model)
    gates = gate_values(model)
    was = model.training
    model.eval()

    def mean_loss() -> float:
        return sum(float(loss_fn(model, b)) for b in batches) / len(batches)

    try:
        base = mean_loss()
        out = {}
        for n, g in gates.items():
            delta = torch.zeros_like(g)
            for h in range(g.numel()):
                old = float(g[h])
                g[h] = 0.0
                delta[h] = mean_loss() - base
                g[h] = old
            out[n] = delta
    finally:
        model.train(was)
    return out
