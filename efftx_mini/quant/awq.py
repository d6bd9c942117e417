"""AWQ: activation-aware weight quantization — scale up the input channels that see large activations before
rounding, so that their weights lose less relative precision (Lin et al. 2024, §3.2, Eqs. 4–5).

For a linear layer y = W x the transform y = (W diag(s)) (x / s) changes nothing in exact arithmetic; after
quantization Q(W diag(s)) (x / s) the error of channel j shrinks roughly by 1/s_j as long as the group's scale
does not grow (§3.2, Eq. 2–3). The scale per input channel is s = s_x^α with s_x the mean |x| of that channel on
calibration data; α ∈ {0, 0.05, …, 0.95} is chosen by grid search to minimise the output error
‖Q(W diag(s)) (X/s)^T − W X^T‖² (Eq. 4–5; s normalised by sqrt(max s · min s) as in the authors' code). After
the scale, the authors also search a clipping range per group (shrinking max |w| by up to 50%) on the same
error; :func:`awq_quantize` does both.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_float, shape_str
from .affine import QParams, grouped, qrange, quantize
from .weight_only import effective_group, group_qparams

__all__ = ["awq_scale_search", "awq_clip_search", "awq_quantize", "activation_scale"]


def activation_scale(x: Tensor) -> Tensor:
    """s_x: mean |x| per input channel over every calibration token, (K,)."""
    return x.reshape(-1, x.shape[-1]).abs().double().mean(0)


def _rtn(w: Tensor, bits: int, g: int) -> Tensor:
    qp = group_qparams(w, bits, g)
    return ((quantize(w, qp).double().reshape(*qp.scale.shape[:-1], -1) - qp.zero_point) * qp.scale).reshape(w.shape)


def _out_err(w_hat: Tensor, w: Tensor, x: Tensor) -> float:
    d = x @ (w_hat - w).t()
    return float((d * d).mean())


def awq_scale_search(w: Tensor, x: Tensor, bits: int = 4, group_size: int | None = 128,
                     n_grid: int = 20) -> tuple[Tensor, float, list[float]]:
    """Best per-channel scale s (K,), its α, and the output error for every α on the grid (α = i / n_grid)."""
    W, X = w.detach().double(), x.reshape(-1, x.shape[-1]).double()
    g = effective_group(group_size, W.shape[1])
    sx = activation_scale(X)
    best, best_s, best_a, errs = float("inf"), torch.ones_like(sx), 0.0, []
    for i in range(n_grid):
        a = i / n_grid
        s = sx.pow(a).clamp(min=1e-4)
        s = s / (s.max() * s.min()).sqrt()
        err = _out_err(_rtn(W * s[None, :], bits, g) / s[None, :], W, X)
        errs.append(err)
        if err < best:
            best, best_s, best_a = err, s, a
    return best_s, best_a, errs


def awq_clip_search(w: Tensor, x: Tensor, bits: int = 4, group_size: int | None = 128, n_grid: int = 20,
                    max_shrink: float = 0.5, n_tokens: int = 512) -> Tensor:
    """Per (row, group) clipping bound c (out, K/g, 1): clamp the group to [−c, c] before rounding, with
    c = (1 − i/n_grid) · max|w| for the i < max_shrink · n_grid that minimises that group's output error on
    (at most ``n_tokens`` evenly spaced) calibration tokens."""
    W = w.detach().double()
    X = x.reshape(-1, x.shape[-1]).double()
    X = X[:: max(1, X.shape[0] // n_tokens)][:n_tokens]
    g = effective_group(group_size, W.shape[1])
    Wg = grouped(W, g)  # (out, G, g)
    Xg = grouped(X, g)  # (n, G, g)
    ref = torch.einsum("ogk,ngk->ong", Wg, Xg)
    amax = Wg.abs().amax(-1, keepdim=True)
    best_c, best_err = amax.clone(), torch.full_like(amax, float("inf"))
    for i in range(int(max_shrink * n_grid)):
        c = amax * (1 - i / n_grid)
        wq = grouped(_rtn(torch.maximum(torch.minimum(W, c.expand_as(Wg).reshape(W.shape)),
                                        -c.expand_as(Wg).reshape(W.shape)), bits, g), g)
        err = (torch.einsum("ogk,ngk->ong", wq, Xg) - ref).pow(2).mean(1)[..., None]  # (out, G, 1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_c = torch.where(better, c, best_c)
    return best_c


def awq_quantize(w: Tensor, x: Tensor, bits: int = 4, group_size: int | None = 128, *, clip: bool = True,
                 n_grid: int = 20) -> tuple[Tensor, QParams, Tensor, float]:
    """AWQ for one layer: codes of Q(W diag(s)) (out, K), their parameters, the input scale s (K,) and α."""
    check_float(w, "w")
    check_float(x, "x")
    if w.dim() != 2 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"w must be (out, K) and x (…, K), got {shape_str(w.shape)} and {shape_str(x.shape)}")
    X = x.reshape(-1, x.shape[-1]).double()
    s, alpha, _ = awq_scale_search(w, X, bits, group_size, n_grid)
    Ws = w.detach().double() * s[None, :]
    g = effective_group(group_size, Ws.shape[1])
    if clip:
        c = awq_clip_search(Ws, X / s[None, :], bits, g, n_grid)
        full = c.expand(*c.shape[:-1], g).reshape(Ws.shape)
        Ws = torch.maximum(torch.minimum(Ws, full), -full)
    qp = group_qparams(Ws.float(), bits, g)
    codes = quantize(Ws.float(), qp)
    qmin, qmax = qrange(bits, symmetric=False)
    assert qp.qmin == qmin and qp.qmax == qmax
    return codes, qp, s.float(), alpha
