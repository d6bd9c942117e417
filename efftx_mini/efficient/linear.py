"""Linear attention with φ(x) = elu(x) + 1 — Katharopoulos et al. 2020, §3.2 Eqs. (4)–(7), causal §3.3 Eqs. (8)–(12).

V'_i = φ(Q_i)ᵀ (Σ_j φ(K_j) V_jᵀ) / φ(Q_i)ᵀ (Σ_j φ(K_j)): the "right product" costs O(T d²) instead of O(T² d).
Causal: the sums run over j ≤ i. We compute them chunk by chunk (a quadratic C × C product inside a chunk, a
running (d, d_v) state between chunks), so memory is O(T d + (T/C) d²) and no (T, d, d) tensor is formed.
:func:`linear_attention_step` is the RNN view (§3.4): one token in, a constant-size state carried forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_float, shape_str
from ._common import check_linear_inputs, key_padding

__all__ = ["elu_feature_map", "linear_attention", "kernel_attention", "LinearAttentionState",
           "linear_attention_step", "linear_attention_weights"]


def elu_feature_map(x: Tensor) -> Tensor:
    """φ(x) = elu(x) + 1 > 0 (Katharopoulos et al. 2020, §3.2.1)."""
    return F.elu(x) + 1.0


def _causal_chunked(fq: Tensor, fk: Tensor, v: Tensor, chunk: int, eps: float) -> Tensor:
    """Σ_{j≤i} (fq_i·fk_j) v_j / Σ_{j≤i} fq_i·fk_j, chunk-wise. fq, fk (..., T, r), v (..., T, d_v)."""
    T = fq.shape[-2]
    n = -(-T // chunk)
    pad = n * chunk - T
    if pad:
        fk, v = (F.pad(t, (0, 0, 0, pad)) for t in (fk, v))  # padded keys have fk = 0: no weight
        fq = F.pad(fq, (0, 0, 0, pad), value=1.0)  # padded queries (dropped) see the real keys: no 0/0, no NaN grad
    fq, fk, v = (t.reshape(*t.shape[:-2], n, chunk, t.shape[-1]) for t in (fq, fk, v))  # (..., n, C, ·)
    # state before chunk c: Σ over earlier chunks of fk_jᵀ v_j (..., n, r, d_v) and of fk_j (..., n, r)
    kv = fk.transpose(-2, -1) @ v
    kv = torch.cumsum(kv, dim=-3) - kv
    z = fk.sum(dim=-2)
    z = torch.cumsum(z, dim=-2) - z
    # inside a chunk: the masked quadratic form on a C × C block
    a = (fq @ fk.transpose(-2, -1)).tril()  # (..., n, C, C)
    num = a @ v + fq @ kv
    den = a.sum(dim=-1) + (fq * z.unsqueeze(-2)).sum(dim=-1)
    out = num / (den.unsqueeze(-1) + eps)
    return out.reshape(*out.shape[:-3], n * chunk, out.shape[-1])[..., :T, :]


def kernel_attention(fq: Tensor, fk: Tensor, v: Tensor, *, causal: bool = False, chunk: int = 64,
                     eps: float = 1e-6) -> Tensor:
    """Σ_j (fq_i·fk_j) v_j / Σ_j fq_i·fk_j for non-negative features fq (..., T_q, r), fk (..., T_k, r)."""
    if chunk <= 0:
        raise ValueError(f"chunk must be a positive number of positions, got {chunk}")
    if fq.shape[-1] != fk.shape[-1]:
        raise ValueError(f"features of q and k must have the same width r, got {shape_str(fq.shape)} and "
                         f"{shape_str(fk.shape)}")
    if causal:
        return _causal_chunked(fq, fk, v, chunk, eps)
    kv = fk.transpose(-2, -1) @ v  # (..., r, d_v): the right product, never T_q × T_k
    num = fq @ kv
    den = fq @ fk.sum(dim=-2).unsqueeze(-1)  # (..., T_q, 1)
    return num / (den + eps)


def linear_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
    dropout_p: float = 0.0, need_weights: bool = False, chunk: int = 64, eps: float = 1e-6,
) -> tuple[Tensor, Tensor | None]:
    """Katharopoulos et al. 2020, Eq. (6) (non-causal) and Eq. (9) (causal), with φ = elu + 1.

    Same call as :func:`efftx_mini.attention.scaled_dot_product_attention`: q (..., T_q, d), k (..., T_k, d),
    v (..., T_k, d_v) → (..., T_q, d_v). ``mask`` may only mask keys (broadcast to (..., 1, T_k)).
    ``need_weights=True`` also returns the equivalent (..., T_q, T_k) weights (quadratic; for small T only).
    A query with no allowed key outputs zeros.
    """
    check_linear_inputs(q, k, v, causal, dropout_p, "linear attention")
    keep = key_padding(mask, q, k, "linear attention")
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    if keep is not None:
        fk = fk * keep
    out = kernel_attention(fq, fk, v, causal=causal, chunk=chunk, eps=eps)
    weights = _weights(fq, fk, causal, eps) if need_weights else None
    return out, weights


def _weights(fq: Tensor, fk: Tensor, causal: bool, eps: float) -> Tensor:
    a = fq @ fk.transpose(-2, -1)
    if causal:
        a = a.tril()
    return a / (a.sum(dim=-1, keepdim=True) + eps)


def linear_attention_weights(q: Tensor, k: Tensor, *, causal: bool = False, eps: float = 1e-6) -> Tensor:
    """The (..., T_q, T_k) matrix that linear attention applies implicitly: φ(Q)φ(K)ᵀ, row-normalised."""
    return _weights(elu_feature_map(q), elu_feature_map(k), causal, eps)


@dataclass
class LinearAttentionState:
    """The RNN state of causal linear attention: s = Σ φ(k_j) v_jᵀ (..., d, d_v) and z = Σ φ(k_j) (..., d)."""

    s: Tensor
    z: Tensor

    @classmethod
    def zeros(cls, batch_shape: tuple[int, ...], d: int, d_v: int, dtype: torch.dtype = torch.float32,
              device: torch.device | str | None = None) -> LinearAttentionState:
        return cls(torch.zeros(*batch_shape, d, d_v, dtype=dtype, device=device),
                   torch.zeros(*batch_shape, d, dtype=dtype, device=device))


def linear_attention_step(q: Tensor, k: Tensor, v: Tensor, state: LinearAttentionState,
                          eps: float = 1e-6) -> tuple[Tensor, LinearAttentionState]:
    """One generation step (Katharopoulos et al. 2020, Eqs. (16)–(20)): q, k (..., d), v (..., d_v) → (..., d_v).

    The state has a constant size however many tokens came before: the linear-attention analogue of a KV cache.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_float(t, name)
    if q.shape != k.shape or q.shape[:-1] != v.shape[:-1] or state.s.shape != (*q.shape, v.shape[-1]):
        raise ValueError(
            f"expected q, k (..., d), v (..., d_v) and a state s (..., d, d_v), got q {shape_str(q.shape)}, "
            f"k {shape_str(k.shape)}, v {shape_str(v.shape)}, s {shape_str(state.s.shape)}"
        )
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    s = state.s + fk.unsqueeze(-1) * v.unsqueeze(-2)
    z = state.z + fk
    out = (fq.unsqueeze(-2) @ s).squeeze(-2) / ((fq * z).sum(-1, keepdim=True) + eps)
    return out, LinearAttentionState(s, z)
