"""LLM.int8(): vector-wise int8 matrix multiplication with a mixed-precision decomposition for outlier features
(Dettmers et al. 2022, §3.1 Eq. 7 and §3.2 Eq. 8).

Vector-wise quantization gives every row of X (every token) and every row of W (every output channel) its own
absmax scale, so that X W^T ≈ diag(s_x) (X_i8 W_i8^T) diag(s_w) / 127² (Eq. 7). The decomposition takes the
*feature dimensions* (columns of X) in which any entry reaches the threshold α (6.0 in the paper; |x| ≥ α as in
bitsandbytes) out of the int8 product and multiplies them in floating point (Eq. 8):

    X W^T ≈ Σ_{h ∈ O} X_{:,h} W_{:,h}^T  +  vector-wise int8 product over h ∉ O.

``threshold=inf`` leaves O empty (plain vector-wise int8); ``threshold=0`` puts every dimension in O (floating
point, with ``fp_weights=True``) — unlike bitsandbytes, where ``threshold=0.0`` switches the decomposition off.
The row scales of X are taken over the non-outlier columns only; bitsandbytes zeroes just the entries ≥ α before
taking its row maxima, so sub-threshold entries of outlier columns still count there. The int8 products are
computed exactly (integers in float64) on any device — this module measures quality; there is no CPU kernel for it
(bitsandbytes' is CUDA).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import check_float, shape_str
from .affine import qparams, quantize

__all__ = ["LLMInt8Linear", "vectorwise_int8_matmul", "outlier_columns"]


def vectorwise_int8_matmul(x: Tensor, w_codes: Tensor, w_scale: Tensor) -> Tensor:
    """x (N, K) quantized per row (absmax, codes −127…127) times int8 W (out, K) with per-row scales (out,):
    s_x s_w · (X_i8 W_i8^T), the integer product exact in float64; returns float64 (N, out)."""
    xd = x.double()
    qp = qparams(xd, 8, symmetric=True, granularity="channel", axis=0)  # one scale per row (token)
    acc = quantize(xd, qp).double() @ w_codes.double().t()
    return acc * qp.scale * w_scale.double()[None, :]


def outlier_columns(x: Tensor, threshold: float) -> Tensor:
    """Bool (K,): the feature dimensions of x (N, K) with at least one |x| ≥ threshold (Dettmers et al., §3.2)."""
    if math.isinf(threshold):
        return torch.zeros(x.shape[-1], dtype=torch.bool, device=x.device)
    return (x.abs() >= threshold).any(dim=0)


class LLMInt8Linear(nn.Module):
    """nn.Linear replaced by LLM.int8(): int8 weights per output channel, activations per token, and the outlier
    dimensions (|x| ≥ ``threshold`` anywhere in the input) in floating point.

    ``fp_weights=True`` keeps the float weight for the outlier product (the paper's Eq. 7, 16-bit weights);
    ``fp_weights=False`` stores only int8 and multiplies the outlier dimensions with the dequantized int8 weight
    columns (bitsandbytes at inference, ``has_fp16_weights=False``). ``last_outliers`` counts the outlier
    dimensions of the latest call."""

    def __init__(self, linear: nn.Linear, threshold: float = 6.0, fp_weights: bool = False) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"LLMInt8Linear wraps an nn.Linear, got {type(linear).__name__}")
        if not threshold >= 0:
            raise ValueError(f"threshold must be ≥ 0 (inf: no outliers), got {threshold}")
        w = linear.weight.detach()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.threshold, self.fp_weights = float(threshold), bool(fp_weights)
        qp = qparams(w.float(), 8, symmetric=True, granularity="channel", axis=0)
        self.register_buffer("w_codes", quantize(w.float(), qp).to(torch.int8))
        self.register_buffer("w_scale", qp.scale.reshape(-1).float())
        self.register_buffer("weight", w.clone() if fp_weights else None)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.last_outliers = 0

    def forward(self, x: Tensor) -> Tensor:
        check_float(x, "x")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (…, {self.in_features}), got {shape_str(x.shape)}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        cols = outlier_columns(x2, self.threshold)
        self.last_outliers = int(cols.sum())
        y = torch.zeros(x2.shape[0], self.out_features, dtype=torch.float64, device=x.device)
        if not bool(cols.all()):
            y += vectorwise_int8_matmul(x2.masked_fill(cols, 0.0), self.w_codes, self.w_scale)
        if self.last_outliers:
            w_out = (self.weight[:, cols] if self.fp_weights
                     else self.w_codes[:, cols].double() * self.w_scale.double()[:, None])
            y += x2[:, cols].double() @ w_out.double().t()
        if self.bias is not None:
            y += self.bias.double()
        return y.to(x.dtype).reshape(*lead, self.out_features)

    def storage_bytes(self) -> int:
        """int8 weights and a float32 scale per output channel (+ the float weight when ``fp_weights``) + bias."""
        n = self.w_codes.numel() + 4 * self.out_features
        if self.weight is not None:
            n += self.weight.numel() * self.weight.element_size()
        return n + (0 if self.bias is None else self.bias.numel() * self.bias.element_size())

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, threshold={self.threshold}, "
                f"fp_weights={self.fp_weights}")
