"""DSS, the TF-TAS indicator (Zhou et al. 2022, §3; the authors' ``dss.py``): with every entry of
the state dict replaced by its absolute value and an all-ones input image, R = 1ᵀ f(1) and

    DSS = Σ_{attention projections m} ‖∂R/∂W_m‖_nuc · ‖W_m‖_nuc   (synaptic diversity)
        + Σ_{MLP and head weights} Σ |W ⊙ ∂R/∂W|                  (synaptic saliency).

The attention projections are the linear layers named ``qkv`` and ``proj`` (Q, K, V in one matrix, as the authors'
``qkv_super``, and the output projection); every other linear layer (``fc1``, ``fc2``, the head) is scored by
saliency; the patch embedding is not scored (as the authors' ``get_layer_metric_array_dss``)."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_batch, private_copy, signed_abs_weights

__all__ = ["score", "ATTENTION_PROJECTIONS", "terms"]

#: names of the linear layers that are multi-head attention projections in the book's blocks
ATTENTION_PROJECTIONS = ("qkv", "proj")


def terms(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
    """The two sums separately: {"diversity": Σ_MSA ‖∂R/∂W‖_nuc ‖W‖_nuc, "saliency": Σ_MLP+head |W ⊙ ∂R/∂W|}."""
    x, _ = check_batch(batch)
    net = private_copy(model, torch.float64)
    signed_abs_weights(net)
    net(torch.ones_like(x[:1], dtype=torch.float64)).sum().backward()
    diversity = saliency = 0.0
    for name, m in net.named_modules():
        if not isinstance(m, nn.Linear) or m.weight.grad is None:
            continue
        W, G = m.weight.detach(), m.weight.grad
        if name.split(".")[-1] in ATTENTION_PROJECTIONS:
            diversity += float(torch.linalg.matrix_norm(G, "nuc") * torch.linalg.matrix_norm(W, "nuc"))
        else:
            saliency += float((W * G).abs().sum())
    return {"diversity": diversity, "saliency": saliency}


def score(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Synaptic diversity of the attention projections + synaptic saliency of the MLPs and head; higher is better."""
    t = terms(model, batch)
    return t["diversity"] + t["saliency"]
