"""Int8 dynamic quantization of a linear layer on the CPU's int8 kernels (PyTorch's quantized engine: FBGEMM /
oneDNN "x86"), in the sense of Jacob et al. 2018 (§2.2–2.3: int8 products, int32 accumulation, one rescale).

Weights are quantized once, symmetric int8 per output channel (one scale per row of W). Activations are
quantized at run time ("dynamically"): the kernel measures the input's range on every call and quantizes it to
asymmetric 8-bit codes with one scale and zero point for the whole input tensor (per tensor, not per token: the
engine's choice; LLM.int8's vector-wise scheme, :mod:`efftx_mini.quant.llm_int8`, has one scale per token).
``reduce_range=True`` (PyTorch's default for this engine) uses 7-bit activation codes, which keeps the int16
intermediate sums of CPUs without VNNI instructions from saturating.

:class:`Int8DynamicLinear` packs the weight for the engine; on a device without the engine (a GPU) it computes
the same arithmetic in floating point (:func:`simulate`), which is also the reference the tests compare to.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from .._checks import check_float, shape_str
from .affine import qparams, quantize

__all__ = ["Int8DynamicLinear", "simulate", "activation_qparams", "engine_available"]

# PyTorch 2.13 marks its quantized-tensor constructors deprecated in favour of torchao (whose 0.18 CPU wheel
# prints loader errors at import here); the kernels themselves are current. The book pins torch, so we keep the
# engine and silence exactly this message where the weight is packed (see the chapter's list of differences).
_DEPRECATED_QTENSOR = r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor"


def engine_available() -> bool:
    """True when this PyTorch build has a CPU int8 engine for dynamic linear layers (FBGEMM/x86/oneDNN)."""
    return any(e in torch.backends.quantized.supported_engines for e in ("x86", "fbgemm", "onednn"))


def activation_qparams(x: Tensor, reduce_range: bool = True) -> tuple[Tensor, Tensor, int]:
    """The engine's dynamic activation quantization: asymmetric over [min(x, 0), max(x, 0)] of the whole tensor,
    codes 0…255 (0…127 with ``reduce_range``); returns (scale, zero_point, q_max)."""
    qmax = 127 if reduce_range else 255
    lo, hi = x.min().clamp(max=0), x.max().clamp(min=0)
    scale = torch.where(hi > lo, (hi - lo) / qmax, torch.ones_like(hi))
    zero = torch.clamp(torch.round(-lo / scale), 0, qmax)
    return scale, zero, qmax


def simulate(x: Tensor, w_codes: Tensor, w_scale: Tensor, bias: Tensor | None, reduce_range: bool = True) -> Tensor:
    """What the int8 kernel computes, in float64: x quantized per tensor (asymmetric), W = w_scale · w_codes (int8
    per output channel), y = s_x s_w · (q_x − z_x) q_wᵀ + b."""
    xd = x.double()
    s, z, qmax = activation_qparams(xd, reduce_range)
    qx = torch.clamp(torch.round(xd / s) + z, 0, qmax)
    acc = (qx - z) @ w_codes.double().t()  # exact: integers well below 2^53
    y = acc * s * w_scale.double()
    if bias is not None:
        y = y + bias.double()
    return y.to(x.dtype)


class Int8DynamicLinear(nn.Module):
    """A drop-in for ``nn.Linear`` at inference: int8 weights (per output channel), int8 activations per tensor
    computed at run time, int32 accumulation on the CPU's int8 kernels."""

    def __init__(self, linear: nn.Linear, reduce_range: bool = True) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Int8DynamicLinear wraps an nn.Linear, got {type(linear).__name__}")
        w = linear.weight.detach().float().cpu()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.reduce_range = bool(reduce_range)
        qp = qparams(w, 8, symmetric=True, granularity="channel", axis=0)
        codes = quantize(w, qp).to(torch.int8)
        scale = qp.scale.reshape(-1).float()
        bias = None if linear.bias is None else linear.bias.detach().float().cpu()
        self.register_buffer("w_codes", codes)  # (out, in) int8
        self.register_buffer("w_scale", scale)  # (out,)
        self.register_buffer("bias", bias)
        self._packed = None
        self._pack()

    def _pack(self) -> None:
        """Hand the int8 weight to the engine (its own layout); without an engine, forward simulates."""
        self._packed = None
        if engine_available():
            zeros = torch.zeros(self.out_features, dtype=torch.long)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_DEPRECATED_QTENSOR, category=UserWarning)
                qw = torch.quantize_per_channel(self.dequantized_weight(), self.w_scale.double(), zeros, 0,
                                                torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(qw, self.bias)

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super()._load_from_state_dict(*args, **kwargs)
        self._pack()

    def forward(self, x: Tensor) -> Tensor:
        check_float(x, "x")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (…, {self.in_features}), got {shape_str(x.shape)}")
        if self._packed is None or x.device.type != "cpu" or x.dtype != torch.float32:
            return simulate(x, self.w_codes, self.w_scale, self.bias, self.reduce_range)
        lead = x.shape[:-1]
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, self.in_features).contiguous(), self._packed,
                                               self.reduce_range)
        return y.reshape(*lead, self.out_features)

    def dequantized_weight(self) -> Tensor:
        """W ≈ w_scale · w_codes, (out, in) float32."""
        return self.w_codes.float() * self.w_scale[:, None]

    def storage_bytes(self) -> int:
        """Bytes the engine keeps: int8 weights, a float64 scale and an int64 zero point per output channel (as
        PyTorch's per-channel quantized tensor stores them), and the float32 bias."""
        b = 0 if self.bias is None else self.bias.numel() * 4
        return self.out_features * self.in_features + 16 * self.out_features + b

    def extra_repr(self) -> str:
        kernel = "engine" if self._packed is not None else "simulated"
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"reduce_range={self.reduce_range}, kernel={kernel}")

    # the packed weight is not a tensor: rebuild it after a deepcopy / state_dict round trip
    def __deepcopy__(self, memo: dict) -> Int8DynamicLinear:
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            lin.weight.copy_(self.dequantized_weight())
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        new = Int8DynamicLinear(lin, self.reduce_range)
        new.w_codes.copy_(self.w_codes)
        new.w_scale.copy_(self.w_scale)
        new._pack()
        memo[id(self)] = new
        return new
