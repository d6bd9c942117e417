"""GPTQ: quantize a weight matrix one column at a time and let the not-yet-quantized columns absorb each column's
rounding error, using the inverse Hessian of the layer's squared error (Frantar et al. 2023, §3–4, Algorithm 1).

For a linear layer with calibration inputs X (n, K), the error of a quantized row q of W is
(q − w) H (q − w)^T with H = 2 X^T X / n (Eq. 1–2). Quantizing column i to q_i and updating the remaining
columns by the Optimal Brain Surgeon step

    δ = −(w_i − q_i) / [H^{-1}]_{ii} · [H^{-1}]_{i, i:}                              (Eq. 2, with the
                                                                                     "fixed order" of §4 Step 1)

keeps the rest optimal given what is fixed. GPTQ's three changes that make it fast and stable (§4):
every row uses the same column order, so H^{-1} is shared; updates are applied lazily, in blocks of B
columns (Step 2); and the rows of H^{-1} needed are read off the upper Cholesky factor U of H^{-1}
(H^{-1} = U^T U; U_{i,i:} = [H^{-1}]_{i,i:} / sqrt([H^{-1}]_{ii}) after eliminating columns < i) (Step 3),
with dampening λ = 1% of the mean diagonal of H added to H.

Group parameters (scale, zero per g columns) are fitted to the *updated* columns when the group is reached, "always
using the most current updated weights" (§5). The authors' code (``groupsize``) fits a group that starts inside a
block to the columns as they stood at the block's start; here group and block boundaries are aligned and the fit
uses the block's running copy, so every column of a group has received all earlier updates.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_float, shape_str
from .affine import QParams, qrange
from .weight_only import effective_group

__all__ = ["gptq_quantize", "HessianAccumulator", "layer_error"]


class HessianAccumulator:
    """Running H = 2/n Σ x x^T over calibration inputs of one linear layer (Frantar et al. 2023, §3, Eq. 1)."""

    def __init__(self, in_features: int) -> None:
        self.H = torch.zeros(in_features, in_features, dtype=torch.float64)
        self.n = 0

    def add(self, x: Tensor) -> None:
        """Add the inputs x (…, K) (every row a calibration token)."""
        x = x.detach().reshape(-1, x.shape[-1]).double().cpu()
        if x.shape[1] != self.H.shape[0]:
            raise ValueError(f"inputs must have {self.H.shape[0]} features, got shape {shape_str(x.shape)}")
        m = x.shape[0]
        self.H *= self.n / (self.n + m)
        self.n += m
        self.H += (2.0 / self.n) * (x.t() @ x)


def layer_error(w_hat: Tensor, w: Tensor, x: Tensor) -> float:
    """Squared reconstruction error ‖X Ŵ^T − X W^T‖² / n of a linear layer on inputs x (n, K)."""
    x = x.detach().reshape(-1, x.shape[-1]).double()
    d = x @ (w_hat.detach().double() - w.detach().double()).t()
    return float((d * d).sum() / x.shape[0])


def _params(cols: Tensor, qmin: int, qmax: int) -> tuple[Tensor, Tensor]:
    """Asymmetric min–max scale and zero (rows, 1) of the columns given (range includes 0)."""
    lo = cols.amin(dim=1, keepdim=True).clamp(max=0)
    hi = cols.amax(dim=1, keepdim=True).clamp(min=0)
    width = hi - lo
    scale = torch.where(width > 0, width / (qmax - qmin), torch.ones_like(width))
    zero = (qmin - torch.round(lo / scale)).clamp(qmin, qmax)
    return scale, zero


def gptq_quantize(w: Tensor, H: Tensor, bits: int = 4, group_size: int | None = 128, *, block_size: int = 128,
                  damp: float = 0.01) -> tuple[Tensor, QParams]:
    """GPTQ codes (out, K) int32 and parameters (scale, zero (out, K/g, 1)) for W (out, K) given H (K, K).

    ``damp`` λ as a fraction of mean(diag H) (0 for none); dead inputs (H_ii = 0) get H_ii = 1 and weight 0.
    Computed in float64."""
    check_float(w, "w")
    if w.dim() != 2 or H.shape != (w.shape[1], w.shape[1]):
        raise ValueError(f"w must be (out, K) and H (K, K), got {shape_str(w.shape)} and {shape_str(H.shape)}")
    if block_size < 1:
        raise ValueError(f"block_size must be ≥ 1, got {block_size}")
    out, K = w.shape
    g = effective_group(group_size, K)
    if g < K and block_size % g and g % block_size:
        raise ValueError(f"block_size={block_size} and group_size={g} must divide one another, so that group "
                         "parameters are fitted to fully updated columns")
    qmin, qmax = qrange(bits, symmetric=False)
    W = w.detach().double().clone()
    H = H.detach().double().clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    if damp > 0:
        H += damp * torch.diag(H).mean() * torch.eye(K, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)  # H^{-1} = U^T U

    codes = torch.zeros(out, K, dtype=torch.float64)
    scales = torch.zeros(out, K // g, dtype=torch.float64)
    zeros = torch.zeros(out, K // g, dtype=torch.float64)
    scale = zero = None
    for i1 in range(0, K, block_size):
        i2 = min(i1 + block_size, K)
        W1 = W[:, i1:i2].clone()
        E1 = torch.zeros_like(W1)
        for j in range(i2 - i1):
            c = i1 + j
            if c % g == 0:  # a new group: fit it to the columns as updated so far
                cols = torch.cat([W1[:, j:], W[:, i2:]], dim=1)[:, :g]
                scale, zero = _params(cols, qmin, qmax)
                scales[:, c // g], zeros[:, c // g] = scale[:, 0], zero[:, 0]
            wj = W1[:, j]
            q = torch.clamp(torch.round(wj / scale[:, 0]) + zero[:, 0], qmin, qmax)
            codes[:, c] = q
            err = (wj - (q - zero[:, 0]) * scale[:, 0]) / U[c, c]
            W1[:, j:] -= err[:, None] * U[c, c:i2][None, :]  # the OBS update inside the block
            E1[:, j] = err
        W[:, i2:] -= E1 @ U[i1:i2, i2:]  # lazy batch update of every later column
    qp = QParams(scales[..., None].float(), zeros[..., None].float(), qmin, qmax, g)
    return codes.to(torch.int32), qp
