"""Affine (uniform) quantization: x ≈ s · (q − z) with integer codes q ∈ [q_min, q_max] (Jacob et al. 2018, §2.1,
Eq. 1; Nagel et al. 2021, §2.2, Eqs. 4–7).

- :func:`qrange` — the integer range of b-bit codes: symmetric [−(2^(b−1) − 1), 2^(b−1) − 1] (zero point 0, the
  "absmax" scheme of LLM.int8) or asymmetric [0, 2^b − 1] with a zero point (the min–max scheme of GPTQ and AWQ)
- :func:`qparams` — scale s and zero point z per tensor, per channel (one per row of a weight, one per token of
  an activation) or per group of ``group_size`` consecutive entries of each row
- :func:`quantize` / :func:`dequantize` — round to nearest with clamping, q = clamp(⌊x/s⌉ + z), and back
- :func:`fake_quantize` — quantize-dequantize in the forward pass with the straight-through estimator (Bengio et
  al. 2013) in the backward pass: gradient 1 where x lies inside the grid's range, 0 where it was clamped
  (as ``torch.fake_quantize_per_channel_affine``)

Rounding is to nearest with ties to even (``torch.round``). The asymmetric range always contains zero (as in
GPTQ's quantizer), so that an exact 0.0 — padding, a ReLU's zeros — stays exactly 0.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_float, shape_str

__all__ = ["QParams", "GRANULARITIES", "qrange", "qparams", "quantize", "dequantize", "quantize_dequantize",
           "fake_quantize", "grouped", "ungrouped"]

GRANULARITIES = ("tensor", "channel", "group")


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """(q_min, q_max) of b-bit codes: symmetric (−(2^(b−1)−1), 2^(b−1)−1), asymmetric (0, 2^b − 1)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an int in [2, 16], got {bits!r}")
    if symmetric:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


@dataclass(frozen=True)
class QParams:
    """Scale s and zero point z (integer-valued floats) that broadcast against x (or its groups), the code range,
    and the group size (None when x is not split into groups)."""

    scale: Tensor
    zero_point: Tensor
    qmin: int
    qmax: int
    group_size: int | None = None

    @property
    def bits(self) -> int:
        return int(self.qmax - self.qmin).bit_length()


def grouped(x: Tensor, group_size: int) -> Tensor:
    """(…, K) → (…, K/g, g): consecutive groups of g entries along the last dimension."""
    K = x.shape[-1]
    if group_size <= 0 or K % group_size:
        raise ValueError(f"group_size must divide the last dimension: got group_size={group_size} for a tensor "
                         f"of shape {shape_str(x.shape)}")
    return x.reshape(*x.shape[:-1], K // group_size, group_size)


def ungrouped(x: Tensor) -> Tensor:
    """(…, K/g, g) → (…, K): the inverse of :func:`grouped`."""
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def qparams(x: Tensor, bits: int = 8, *, symmetric: bool = True, granularity: str = "tensor",
            group_size: int | None = None, axis: int = 0) -> QParams:
    """Scale and zero point covering the range of x: per tensor, per channel (one per index of ``axis``: a weight's
    output rows, an activation's tokens) or per group (g consecutive entries of the last dimension).

    Symmetric: s = max|x| / q_max, z = 0. Asymmetric: the range [min(x, 0), max(x, 0)] is spread over
    [q_min, q_max]: s = (max − min) / (q_max − q_min), z = q_min − ⌊min / s⌉. An all-zero slice gets s = 1."""
    check_float(x, "x")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if x.numel() == 0:
        raise ValueError(f"x must not be empty, got shape {shape_str(x.shape)}")
    qmin, qmax = qrange(bits, symmetric)
    if granularity == "group":
        if group_size is None:
            raise ValueError("granularity='group' needs group_size")
        v = grouped(x, group_size)
        dims: tuple[int, ...] = (-1,)
    else:
        if group_size is not None:
            raise ValueError(f"group_size is only used with granularity='group', got group_size={group_size} "
                             f"with granularity={granularity!r}")
        v = x
        if granularity == "tensor":
            dims = tuple(range(x.dim()))
        else:
            ax = axis % x.dim()
            dims = tuple(d for d in range(x.dim()) if d != ax)
    if symmetric:
        amax = v.abs().amax(dim=dims, keepdim=True) if dims else v.abs()
        scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
        zero = torch.zeros_like(scale)
    else:
        lo = (v.amin(dim=dims, keepdim=True) if dims else v).clamp(max=0)
        hi = (v.amax(dim=dims, keepdim=True) if dims else v).clamp(min=0)
        width = hi - lo
        scale = torch.where(width > 0, width / (qmax - qmin), torch.ones_like(width))
        zero = (qmin - torch.round(lo / scale)).clamp(qmin, qmax)
    return QParams(scale, zero, qmin, qmax, group_size if granularity == "group" else None)


def _view(x: Tensor, qp: QParams) -> Tensor:
    return grouped(x, qp.group_size) if qp.group_size is not None else x


def quantize(x: Tensor, qp: QParams) -> Tensor:
    """Integer codes q = clamp(⌊x / s⌉ + z, q_min, q_max) (round to nearest, ties to even), as int32."""
    check_float(x, "x")
    v = _view(x, qp)
    q = torch.clamp(torch.round(v / qp.scale) + qp.zero_point, qp.qmin, qp.qmax)
    q = ungrouped(q) if qp.group_size is not None else q
    return q.to(torch.int32)


def dequantize(q: Tensor, qp: QParams, dtype: torch.dtype = torch.float32) -> Tensor:
    """x̂ = s · (q − z), in ``dtype``."""
    v = _view(q.to(qp.scale.dtype), qp)
    x = (v - qp.zero_point) * qp.scale
    x = ungrouped(x) if qp.group_size is not None else x
    return x.to(dtype)


def quantize_dequantize(x: Tensor, qp: QParams) -> Tensor:
    """Round-to-nearest with clamping, returned on the real axis: s · (clamp(⌊x/s⌉ + z) − z)."""
    return dequantize(quantize(x, qp), qp, x.dtype)


def fake_quantize(x: Tensor, qp: QParams) -> Tensor:
    """Forward: :func:`quantize_dequantize` (x). Backward: the straight-through estimator — the gradient passes
    unchanged where ⌊x/s⌉ + z lies in [q_min, q_max] and is zero where the code was clamped."""
    v = _view(x, qp)
    code = torch.round(v.detach() / qp.scale) + qp.zero_point
    inside = (code >= qp.qmin) & (code <= qp.qmax)
    inside = ungrouped(inside) if qp.group_size is not None else inside
    xq = quantize_dequantize(x.detach(), qp)
    passed = x * inside.to(x.dtype)
    return passed + (xq - passed).detach()
