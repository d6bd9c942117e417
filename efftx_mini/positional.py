"""Position information: sinusoidal (Vaswani et al. 2017, §3.5), learned, and rotary (Su et al. 2021)."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ._checks import check_float, shape_str

__all__ = [
    "sinusoidal_encoding",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "RotaryEmbedding",
]


def _check_sizes(T: int, d: int) -> None:
    for name, n in (("T", T), ("d", d)):
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"{name} must be an int, got {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"{name} must be positive, got {n}")


def sinusoidal_encoding(T: int, d: int) -> Tensor:
    """(T, d) table: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)) — §3.5."""
    _check_sizes(T, d)
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float64)  # (ceil(d/2),)
    angle = pos / torch.pow(10000.0, two_i / d)  # (T, ceil(d/2))
    pe = torch.zeros(T, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d // 2])
    return pe.to(torch.get_default_dtype())


class SinusoidalPositionalEncoding(nn.Module):
    """x (B, T, d) → dropout(x + PE[:T]) with the fixed table of §3.5 (no parameters)."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        _check_seq(x, self.d_model, self.max_len)
        return self.dropout(x + self.pe[: x.shape[1]].to(x.dtype))


class LearnedPositionalEmbedding(nn.Module):
    """x (B, T, d) → dropout(x + P[:T]) with a trainable (max_len, d) table (Gehring et al. 2017)."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        _check_seq(x, self.d_model, self.max_len)
        return self.dropout(x + self.weight[: x.shape[1]])


def _check_seq(x: Tensor, d_model: int, max_len: int) -> None:
    check_float(x, "x")
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"x must have shape (B, T, {d_model}), got {shape_str(x.shape)}")
    if x.shape[1] > max_len:
        raise ValueError(
            f"sequence length {x.shape[1]} exceeds max_len={max_len}: expected T <= {max_len}, "
            f"got x of shape {shape_str(x.shape)}"
        )


class RotaryEmbedding(nn.Module):
    """Rotary position embedding, RoFormer (Su et al. 2021), §3.4.2, Eq. (34).

    Each pair (x_{2i}, x_{2i+1}) of a head's features at position m is rotated by the angle
    m·θ_i, θ_i = base^(-2i/d_h). Then ⟨R_m q, R_n k⟩ depends on m and n only through m − n.
    Apply to queries and keys (…, T, d_h), not to values. The angles are computed in float64 (then cast to
    x's dtype), so that float64 checks are exact and long positions lose no precision.
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(f"head_dim must be a positive even number, got {head_dim}")
        self.head_dim, self.base = head_dim, float(base)
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # θ_i
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def angles(self, positions: Tensor) -> Tensor:
        """positions (…, T) → angles m·θ_i of shape (…, T, d_h / 2), in float64."""
        theta = self.base ** (-torch.arange(0, self.head_dim, 2, dtype=torch.float64, device=positions.device)
                              / self.head_dim)
        return positions.to(torch.float64)[..., None] * theta

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        """x (…, T, d_h) → R_m x, with m = positions: (T,) or any shape (…, T) that broadcasts against x's
        leading dims, e.g. (B, 1, T) per-row positions for x (B, H, T, d_h) (default 0 … T−1)."""
        check_float(x, "x")
        if x.dim() < 2 or x.shape[-1] != self.head_dim:
            raise ValueError(f"x must have shape (..., T, {self.head_dim}), got {shape_str(x.shape)}")
        T = x.shape[-2]
        if positions is None:
            positions = torch.arange(T, device=x.device)
        if positions.dim() == 0 or positions.shape[-1] != T or positions.dim() > x.dim() - 1:
            raise ValueError(f"positions must have shape ({T},) or (..., {T}), got {shape_str(positions.shape)}")
        theta = self.angles(positions.to(x.device))  # (…, T, d_h/2)
        cos, sin = theta.cos().to(x.dtype), theta.sin().to(x.dtype)
        pairs = rearrange(x, "... t (i two) -> ... t i two", two=2)
        x1, x2 = pairs[..., 0], pairs[..., 1]
        rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return rearrange(rotated, "... t i two -> ... t (i two)")
