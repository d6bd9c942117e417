"""Weight-only quantization: b-bit weight codes with a scale and zero point per group of g input columns, float
activations (W4A16 in the papers; here W4A32). Round-to-nearest (RTN) is the baseline GPTQ and AWQ improve on
(Frantar et al. 2023, §2 and Table 1 "RTN"; Lin et al. 2024, §2.1, Eq. 1).

- :func:`pack_codes` / :func:`unpack_codes` — ⌊8/b⌋ codes per byte when b divides 8 (two 4-bit codes per byte)
- :func:`rtn_quantize` — asymmetric min–max codes per output row and group, rounded to nearest
- :class:`WeightOnlyLinear` — stores packed codes, a float32 scale and a uint8 zero point per (row, group), and an
  optional per-input-channel scale s (AWQ: y = Q(W diag(s)) (x / s)); ``forward`` dequantizes the whole weight
  to float and runs an ordinary matmul. Without int4 kernels that dequantization is extra work on every call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_float, shape_str
from .affine import QParams, qparams, qrange, quantize

__all__ = ["pack_codes", "unpack_codes", "group_qparams", "rtn_quantize", "WeightOnlyLinear", "effective_group"]


def effective_group(group_size: int | None, in_features: int) -> int:
    """The group size actually used: None or a size ≥ K means one group per row (per channel)."""
    if group_size is None or group_size >= in_features:
        return in_features
    if in_features % group_size:
        raise ValueError(f"group_size={group_size} must divide in_features={in_features}")
    return group_size


def pack_codes(codes: Tensor, bits: int) -> Tensor:
    """(out, K) codes in [0, 2^b) → uint8 (out, ⌈K·b/8⌉) when b divides 8, else one code per byte."""
    codes = codes.to(torch.uint8)
    if 8 % bits:
        return codes.contiguous()
    per = 8 // bits
    out, K = codes.shape
    if K % per:
        raise ValueError(f"in_features={K} must be a multiple of {per} to pack {bits}-bit codes")
    c = codes.reshape(out, K // per, per).to(torch.int32)
    shifts = torch.arange(per, dtype=torch.int32, device=codes.device) * bits
    return (c << shifts).sum(-1).to(torch.uint8)


def _unpack_u8(packed: Tensor, bits: int, in_features: int) -> Tensor:
    if 8 % bits:
        return packed
    per = 8 // bits
    shifts = torch.arange(per, dtype=torch.uint8, device=packed.device) * bits
    c = torch.bitwise_and(torch.bitwise_right_shift(packed[..., None], shifts), 2**bits - 1)
    return c.reshape(packed.shape[0], in_features)


def unpack_codes(packed: Tensor, bits: int, in_features: int) -> Tensor:
    """The inverse of :func:`pack_codes`: uint8 → (out, K) codes as int32."""
    return _unpack_u8(packed, bits, in_features).to(torch.int32)


def group_qparams(w: Tensor, bits: int, group_size: int | None) -> QParams:
    """Asymmetric min–max parameters of W (out, K) per row and group of g columns (GPTQ's and AWQ's default)."""
    g = effective_group(group_size, w.shape[-1])
    return qparams(w, bits, symmetric=False, granularity="group", group_size=g)


def rtn_quantize(w: Tensor, bits: int = 4, group_size: int | None = 128) -> tuple[Tensor, QParams]:
    """Round-to-nearest: codes (out, K) int32 and their parameters (scale, zero (out, K/g, 1))."""
    check_float(w, "w")
    if w.dim() != 2:
        raise ValueError(f"w must be a weight matrix (out, in), got shape {shape_str(w.shape)}")
    qp = group_qparams(w, bits, group_size)
    return quantize(w, qp), qp


class WeightOnlyLinear(nn.Module):
    """A linear layer with b-bit weights: y = dequant(codes) (x / s) + bias, s the optional AWQ input scale."""

    def __init__(self, codes: Tensor, qp: QParams, bias: Tensor | None = None, input_scale: Tensor | None = None,
                 method: str = "rtn") -> None:
        super().__init__()
        out, K = codes.shape
        bits = qp.bits
        qmin, qmax = qrange(bits, symmetric=False)
        if qp.qmin != qmin or qp.qmax != qmax:
            raise ValueError(f"WeightOnlyLinear stores asymmetric codes in [0, 2^b − 1], got [{qp.qmin}, {qp.qmax}]")
        if int(codes.min()) < qmin or int(codes.max()) > qmax:
            raise ValueError(f"codes must lie in [{qmin}, {qmax}], got [{int(codes.min())}, {int(codes.max())}]")
        g = qp.group_size or K
        self.in_features, self.out_features, self.bits, self.group_size, self.method = K, out, bits, g, method
        self.register_buffer("packed", pack_codes(codes, bits))
        self.register_buffer("scale", qp.scale.reshape(out, K // g).float())
        self.register_buffer("zero", qp.zero_point.reshape(out, K // g).to(torch.uint8))
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.register_buffer("input_scale", None if input_scale is None else input_scale.detach().float().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int = 4, group_size: int | None = 128) -> WeightOnlyLinear:
        """Round-to-nearest quantization of an nn.Linear."""
        codes, qp = rtn_quantize(linear.weight.detach().float(), bits, group_size)
        return cls(codes, qp, linear.bias, method="rtn")

    def qparams(self) -> QParams:
        qmin, qmax = qrange(self.bits, symmetric=False)
        return QParams(self.scale[..., None], self.zero.float()[..., None], qmin, qmax, self.group_size)

    def codes(self) -> Tensor:
        return unpack_codes(self.packed, self.bits, self.in_features)

    def dequantized_weight(self) -> Tensor:
        """The float weight the layer multiplies with (out, in); with an input scale s this is Q(W diag(s)):
        s · (q − z) per (row, group), computed from the packed codes on every call."""
        out, G = self.scale.shape
        q = _unpack_u8(self.packed, self.bits, self.in_features).reshape(out, G, self.group_size).float()
        return ((q - self.zero[..., None].float()) * self.scale[..., None]).reshape(out, self.in_features)

    def effective_weight(self) -> Tensor:
        """The weight the layer applies to x itself: Q(W diag(s)) diag(1/s)."""
        w = self.dequantized_weight()
        return w if self.input_scale is None else w / self.input_scale[None, :]

    def forward(self, x: Tensor) -> Tensor:
        check_float(x, "x")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (…, {self.in_features}), got {shape_str(x.shape)}")
        if self.input_scale is not None:
            x = x / self.input_scale.to(x.dtype)
        w = self.dequantized_weight().to(x.dtype)
        return F.linear(x, w, None if self.bias is None else self.bias.to(x.dtype))

    def storage_bytes(self) -> int:
        """Packed codes + float32 scale and uint8 zero per (row, group) + input scale + bias."""
        n = self.packed.numel() + self.scale.numel() * 4 + self.zero.numel()
        for t in (self.bias, self.input_scale):
            n += 0 if t is None else t.numel() * 4
        return n

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
                f"group_size={self.group_size}, method={self.method}, input_scale={self.input_scale is not None}")
