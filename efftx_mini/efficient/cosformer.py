"""cosFormer attention — Qin et al. 2022, §3.2–§3.3, Eqs. (9)–(11).

Weights ∝ ReLU(Q_i)·ReLU(K_j) · cos(π/2 · (i − j)/M). Because cos(a − b) = cos a cos b + sin a sin b, the
re-weighting splits into two feature maps, [ReLU(q) cos(πi/2M), ReLU(q) sin(πi/2M)], so the whole thing is
linear attention with 2d features (same right product, same causal prefix sums). M = max(T_q, T_k) keeps
the cosine non-negative; it favours nearby tokens (the paper's locality bias).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import check_linear_inputs, key_padding
from .linear import kernel_attention

__all__ = ["cosformer_features", "cosformer_attention", "cosformer_weights"]


def cosformer_features(x: Tensor, M: int) -> Tensor:
    """(..., T, d) → (..., T, 2d): [ReLU(x) cos(π i / 2M), ReLU(x) sin(π i / 2M)], i = 0 … T − 1."""
    if M < x.shape[-2]:
        raise ValueError(f"M must be at least the sequence length {x.shape[-2]} (else the cosine turns negative), "
                         f"got M={M}")
    angle = (math.pi / (2 * M)) * torch.arange(x.shape[-2], device=x.device, dtype=x.dtype).unsqueeze(-1)
    r = torch.relu(x)
    return torch.cat([r * torch.cos(angle), r * torch.sin(angle)], dim=-1)


def cosformer_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
    dropout_p: float = 0.0, need_weights: bool = False, chunk: int = 64, eps: float = 1e-6,
) -> tuple[Tensor, Tensor | None]:
    """Qin et al. 2022, Eq. (11) (non-causal) and its causal prefix-sum form; same call as the softmax one.

    ``mask`` may only mask keys (broadcast to (..., 1, T_k)); ``need_weights=True`` also returns the
    (..., T_q, T_k) weights it applies implicitly (quadratic; for small T only).
    """
    check_linear_inputs(q, k, v, causal, dropout_p, "cosFormer attention")
    keep = key_padding(mask, q, k, "cosFormer attention")
    M = max(q.shape[-2], k.shape[-2])
    fq, fk = cosformer_features(q, M), cosformer_features(k, M)
    if keep is not None:
        fk = fk * keep
    out = kernel_attention(fq, fk, v, causal=causal, chunk=chunk, eps=eps)
    weights = None
    if need_weights:
        a = fq @ fk.transpose(-2, -1)
        if causal:
            a = a.tril()
        weights = a / (a.sum(dim=-1, keepdim=True) + eps)
    return out, weights


def cosformer_weights(q: Tensor, k: Tensor, *, causal: bool = False, eps: float = 1e-6) -> Tensor:
    """The (..., T_q, T_k) matrix cosFormer applies implicitly (for plots)."""
    return cosformer_attention(q, k, k[..., :1], causal=causal, need_weights=True, eps=eps)[1]
