"""cosFormer attention — Qin et al. 2022, §3.2–§3.3, Eqs. (9)–(11).

Weights ∝ ReLU(Q_i)·ReLU(K_j) · cos(π/2 · (i − j)/M). Because cos(a − b) = cos a cos b + sin a sin b, the
re-weighting splits into two feature maps, [ReLU(q) cos(πi/2M), ReLU(q) sin(πi/2M)], so the whole thing is
linear attention with 2d features (same right product, same causal prefix sums). M ≥ T keeps the cosine
non-negative; it favours nearby tokens (the paper's locality bias).

By default M = max(T_q, T_k), as in the authors' code. Then every weight depends on the total length, so even the
causal form is not prefix-invariant: output i changes when tokens are appended after it, and the model cannot
generate token by token as an RNN. ``max_len=L`` fixes M = L (any sequence of length ≤ L): the prefix-invariant
variant, whose causal form is an RNN like linear attention.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import check_linear_inputs, key_padding
from .linear import _weights, kernel_attention

__all__ = ["cosformer_features", "cosformer_attention", "cosformer_weights"]


def cosformer_features(x: Tensor, M: int) -> Tensor:
    """(..., T, d) → (..., T, 2d): [ReLU(x) cos(π i / 2M), ReLU(x) sin(π i / 2M)], i = 0 … T − 1."""
    if isinstance(M, bool) or not isinstance(M, int):
        raise TypeError(f"M (max_len) must be an int, got {type(M).__name__}")
    if M < x.shape[-2]:
        raise ValueError(f"M (max_len) must be at least the sequence length {x.shape[-2]} (else the cosine turns "
                         f"negative), got M={M}")
    angle = (math.pi / (2 * M)) * torch.arange(x.shape[-2], device=x.device, dtype=x.dtype).unsqueeze(-1)
    r = torch.relu(x)
    return torch.cat([r * torch.cos(angle), r * torch.sin(angle)], dim=-1)


def cosformer_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
    dropout_p: float = 0.0, need_weights: bool = False, chunk: int = 64, eps: float = 1e-6,
    max_len: int | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Qin et al. 2022, Eq. (11) (non-causal) and its causal prefix-sum form; same call as the softmax one.

    ``mask`` may only mask keys (broadcast to (..., 1, T_k)); ``need_weights=True`` also returns the
    (..., T_q, T_k) weights it applies implicitly (quadratic; for small T only). ``max_len`` fixes M (the
    prefix-invariant variant; default M = max(T_q, T_k), the authors' choice, which depends on the length).
    """
    check_linear_inputs(q, k, v, causal, dropout_p, "cosFormer attention")
    keep = key_padding(mask, q, k, "cosFormer attention")
    M = max(q.shape[-2], k.shape[-2]) if max_len is None else max_len
    fq, fk = cosformer_features(q, M), cosformer_features(k, M)
    if keep is not None:
        fk = fk * keep
    out = kernel_attention(fq, fk, v, causal=causal, chunk=chunk, eps=eps)
    weights = _weights(fq, fk, causal, eps) if need_weights else None
    return out, weights


def cosformer_weights(q: Tensor, k: Tensor, *, causal: bool = False, eps: float = 1e-6) -> Tensor:
    """The (..., T_q, T_k) matrix cosFormer applies implicitly (for plots)."""
    return cosformer_attention(q, k, k[..., :1], causal=causal, need_weights=True, eps=eps)[1]
