"""Lab 04 — linear attention and its causal (RNN) form (part III: chapter 10). Copy this file to solution.py.

Katharopoulos et al. 2020: with a feature map φ(x) = elu(x) + 1, attention becomes
V'_i = φ(Q_i)ᵀ Σ_j φ(K_j) V_jᵀ / φ(Q_i)ᵀ Σ_j φ(K_j) (§3.2, Eq. 6), causal with the sums over j <= i (§3.3, Eq. 9).
Add eps = 1e-6 to the denominator. Rules: PyTorch tensor operations only, nothing from ``efftx_mini``; the causal
form must not build a (T, T) tensor (at most (chunk, chunk) tiles).
"""

from __future__ import annotations

import torch  # noqa: F401 (you will need it)
from torch import Tensor

EPS = 1e-6


def elu_feature_map(x: Tensor) -> Tensor:
    """φ(x) = elu(x) + 1 (positive)."""
    raise NotImplementedError("elu_feature_map")


def linear_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool, chunk: int = 64) -> Tensor:
    """q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v) -> (..., T_q, d_v).

    Non-causal: the "right product" φ(K)ᵀV, (d, d_v), then φ(Q) times it: O(T d d_v), never T_q × T_k.
    Causal (T_q = T_k = T): process the sequence in chunks of ``chunk`` positions; inside a chunk use the masked
    (chunk × chunk) quadratic form, between chunks carry the running sums S = Σ φ(K_j) V_jᵀ and z = Σ φ(K_j).
    """
    raise NotImplementedError("linear_attention")


def initial_state(batch_shape: tuple[int, ...], d: int, d_v: int, dtype: torch.dtype = torch.float32
                  ) -> tuple[Tensor, Tensor]:
    """The empty RNN state (S, z): zeros of shape (*batch_shape, d, d_v) and (*batch_shape, d)."""
    raise NotImplementedError("initial_state")


def linear_attention_step(q: Tensor, k: Tensor, v: Tensor, state: tuple[Tensor, Tensor]
                          ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One generation step (§3.4, Eqs. 16–20): q, k (..., d), v (..., d_v) and the state before this token ->
    (output (..., d_v), the state after it). The state's size does not depend on how many tokens came before."""
    raise NotImplementedError("linear_attention_step")
