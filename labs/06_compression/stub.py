"""Lab 06 — head importance and quantization (part V: chapters 13–14). Copy this file to solution.py.

Rules: PyTorch tensor operations only; nothing from ``efftx_mini``. Rounding is to nearest, ties to even
(``torch.round``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch  # noqa: F401 (you will need it)
from torch import Tensor


def head_importance(gates: dict[str, Tensor], batches: Iterable, loss_of: Callable[[object], Tensor]
                    ) -> dict[str, Tensor]:
    """Michel et al. 2019, §4.1, Eq. 2: I_h = Σ over batches of |ξ_h · ∂L/∂ξ_h|, then each layer's scores divided
    by their ℓ2 norm.

    ``gates`` maps a layer name to its gate tensor ξ (H,) inside the model (all ones); ``loss_of(batch)`` runs the
    model on a batch and returns a scalar loss. Compute the gradients with respect to the gates only (do not leave
    gradients in the model's parameters, and leave the gates' values and requires_grad as you found them).
    """
    raise NotImplementedError("head_importance")


def quantize_symmetric(x: Tensor, bits: int, axis: int | None) -> tuple[Tensor, Tensor]:
    """Symmetric ("absmax") quantization: codes q = clamp(round(x / s), −(2^(b−1)−1), 2^(b−1)−1) as int32, and the
    scale s = max|x| / (2^(b−1)−1), per tensor (axis None) or one scale per index along ``axis`` (per channel),
    shaped to broadcast against x. An all-zero slice gets s = 1."""
    raise NotImplementedError("quantize_symmetric")


def dequantize_symmetric(codes: Tensor, scale: Tensor) -> Tensor:
    """x̂ = s · q, float32."""
    raise NotImplementedError("dequantize_symmetric")


def quantize_groups(w: Tensor, bits: int, group_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Asymmetric (min–max) quantization of a weight (out, K) in groups of ``group_size`` consecutive columns of
    each row: codes in [0, 2^b − 1] (int32, (out, K)), scale and zero point of shape (out, K / g, 1).

    For each group the range [min(w, 0), max(w, 0)] (it always contains 0) maps onto [0, 2^b − 1]:
    s = (max − min) / (2^b − 1) (1 if the range is empty), z = clamp(−round(min / s), 0, 2^b − 1),
    q = clamp(round(w / s) + z, 0, 2^b − 1). ValueError if g does not divide K."""
    raise NotImplementedError("quantize_groups")


def gptq_quantize(w: Tensor, H: Tensor, bits: int, damp: float = 0.01) -> tuple[Tensor, Tensor, Tensor]:
    """GPTQ (Frantar et al. 2023, Algorithm 1) for one linear layer, one group per row, no lazy batching.

    w (out, K), H (K, K) = 2 XᵀX / n. In float64: add λ = damp · mean(diag H) to the diagonal; U = the upper
    Cholesky factor of H⁻¹ (H⁻¹ = UᵀU). Fit each row's asymmetric scale and zero point (as in quantize_groups, one
    group of K columns) to the row before any update. Then for each column i in order: q_i = quantized w_i,
    err = (w_i − ŵ_i) / U_ii, and every later column j > i is updated: w_j −= err · U_ij.
    Returns codes (out, K) int32, scale and zero (out, 1).
    """
    raise NotImplementedError("gptq_quantize")
