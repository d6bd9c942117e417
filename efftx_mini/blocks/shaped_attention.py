"""Shaped attention (Noci et al. 2023; He & Hofmann 2024, §4.1): A(X) ← α·I + β·softmax(QKᵀ/√d_h + M) − γ·C.

α, β, γ are trainable per head and all start at 1; with W^Q = 0 at initialisation softmax(·) = C, the
uniform averaging matrix (causal: C_ij = 1/i for j ≤ i; encoder: C_ij = 1/T), so A = I at initialisation.

Two paths, same numbers: the FUSED default never builds a T×T matrix, because
(αI + βS − γC)V = αV + β·SDPA(Q, K, V) − γ·CV, and CV is a cumulative mean (decoder) or a mean (encoder);
the EXPLICIT path builds the three (B, H, T, T) matrices, for pictures and for the tests.
Shapes: q, k, v (B, H, T, d_h); α, β, γ (H,).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import shape_str

__all__ = ["centering_matrix", "uniform_average", "shaped_attention", "shaped_attention_matrices",
           "ShapedAttention"]


def centering_matrix(T: int, causal: bool, *, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> Tensor:
    """C (T, T): the attention matrix of uniform scores — row i averages keys j ≤ i (causal) or all keys."""
    if causal:
        return torch.ones(T, T, device=device, dtype=dtype).tril() / torch.arange(
            1, T + 1, device=device, dtype=dtype)[:, None]
    return torch.full((T, T), 1.0 / T, device=device, dtype=dtype)


def uniform_average(v: Tensor, causal: bool, mask: Tensor | None = None) -> Tensor:
    """C V without the T×T matrix: cumulative mean over positions (causal) or the mean (encoder).

    With a bool ``mask`` C is the row-normalised mask: broadcastable to (…, T, T) when ``causal`` (then combined
    with the causal mask, so a key-padding mask (…, 1, T) is allowed), or the full (…, T_q, T) mask of the keys each
    query may see when not causal (e.g. a KV cache's step mask, which holds the causal part already)."""
    T = v.shape[-2]
    if mask is not None:
        allowed = mask
        if causal:  # broadcast first: a (…, 1, T) padding mask must become (…, T, T) before the causal cut
            allowed = allowed & torch.ones(T, T, dtype=torch.bool, device=v.device).tril()
        m = allowed.to(v.dtype)
        return (m @ v) / m.sum(-1, keepdim=True).clamp_min(1.0)
    if causal:
        pos = torch.arange(1, T + 1, device=v.device, dtype=v.dtype)[:, None]  # (T, 1)
        return v.cumsum(dim=-2) / pos
    return v.mean(dim=-2, keepdim=True).expand_as(v)


def _per_head(g: Tensor, H: int, name: str) -> Tensor:
    if g.shape != (H,):
        raise ValueError(f"{name} must have shape (H,) = ({H},), got {shape_str(g.shape)}")
    return g.view(1, H, 1, 1)


def shaped_attention(q: Tensor, k: Tensor, v: Tensor, alpha: Tensor, beta: Tensor, gamma: Tensor, *,
                     causal: bool, mask: Tensor | None = None, dropout_p: float = 0.0) -> Tensor:
    """Fused path: αV + β·SDPA(Q, K, V) − γ·CV, (B, H, T, d_h) — He & Hofmann 2024, §4.1, times V.

    q (B, H, T, d_h); k, v (B, H, S, d_h) with S ≥ T: the queries are the last T of S positions (S > T with a KV
    cache), so the identity term takes the last T values."""
    H, T, S = q.shape[1], q.shape[-2], k.shape[-2]
    a, b, c = (_per_head(g, H, n) for g, n in ((alpha, "alpha"), (beta, "beta"), (gamma, "gamma")))
    if mask is None and T == S:
        s = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=causal)
        return a * v + b * s - c * uniform_average(v, causal)
    full = torch.ones(T, S, dtype=torch.bool, device=q.device)
    if causal:
        full = full.tril(diagonal=S - T)  # query i (position S − T + i) sees keys j ≤ S − T + i
    if mask is not None:
        full = mask & full
    s = F.scaled_dot_product_attention(q, k, v, attn_mask=full, dropout_p=dropout_p)
    s = s.masked_fill(~full.any(-1, keepdim=True), 0.0)  # rows with no key at all give zeros (never NaN)
    return a * v[..., S - T:, :] + b * s - c * uniform_average(v, False, full)


def shaped_attention_matrices(q: Tensor, k: Tensor, alpha: Tensor, beta: Tensor, gamma: Tensor, *,
                              causal: bool, mask: Tensor | None = None) -> dict[str, Tensor]:
    """Explicit path: αI, βS, γC, A = αI + βS − γC and the unscaled S and C, each (B, H, T, T)."""
    B, H, T, d_h = q.shape
    a, b, c = (_per_head(g, H, n) for g, n in ((alpha, "alpha"), (beta, "beta"), (gamma, "gamma")))
    allowed = torch.ones(T, T, dtype=torch.bool, device=q.device)
    if causal:
        allowed = allowed.tril()
    if mask is not None:
        allowed = allowed & mask
    allowed = allowed.expand(B, H, T, T)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(d_h)
    soft = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1).nan_to_num(0.0)
    m = allowed.to(q.dtype)
    cen = m / m.sum(-1, keepdim=True).clamp_min(1.0)
    eye = torch.eye(T, device=q.device, dtype=q.dtype).expand(B, H, T, T)
    terms = {"identity": a * eye, "softmax": b * soft, "centre": c * cen}
    terms["A"] = terms["identity"] + terms["softmax"] - terms["centre"]
    terms["S"], terms["C"] = soft, cen  # the unscaled softmax and averaging matrices
    return terms


class ShapedAttention(nn.Module):
    """Holds the per-head α, β, γ (all initialised to 1, §4.1) and applies shaped attention to (q, k, v)."""

    def __init__(self, n_heads: int, causal: bool, *, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads, self.causal, self.dropout = n_heads, bool(causal), dropout
        self.alpha = nn.Parameter(torch.full((n_heads,), float(alpha)))
        self.beta = nn.Parameter(torch.full((n_heads,), float(beta)))
        self.gamma = nn.Parameter(torch.full((n_heads,), float(gamma)))

    def forward(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, explicit: bool = False) -> Tensor:
        """q, k, v (B, H, T, d_h) → (B, H, T, d_h); ``explicit=True`` multiplies by the T×T matrix A instead."""
        if explicit:
            return self.matrices(q, k, mask)["A"] @ v
        p = self.dropout if self.training else 0.0
        return shaped_attention(q, k, v, self.alpha, self.beta, self.gamma, causal=self.causal, mask=mask,
                                dropout_p=p)

    def matrices(self, q: Tensor, k: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        return shaped_attention_matrices(q, k, self.alpha, self.beta, self.gamma, causal=self.causal, mask=mask)

    def extra_repr(self) -> str:
        return f"n_heads={self.n_heads}, causal={self.causal}"
