"""Where a patch is: learned position embeddings E_pos (Dosovitskiy et al. 2021, §3.1, Eq. 1) or fixed 2-D
sin-cos positions (half the channels encode the row, half the column; Chen et al. 2021 / He et al. 2022).

The class token gets position 0 of the learned table; with 2-D sin-cos it gets the zero vector.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..positional import sinusoidal_encoding

__all__ = ["sincos_2d", "PatchPositions", "POSITIONS"]

POSITIONS = ("learned", "sincos", "none")


def sincos_2d(grid: tuple[int, int], d: int) -> Tensor:
    """(h·w, d): the 1-D table of §3.5 (Vaswani et al. 2017) of the row in d/2 channels, of the column in d/2."""
    if d % 4:
        raise ValueError(f"2-D sin-cos positions need d_model divisible by 4, got {d}")
    h, w = grid
    rows, cols = sinusoidal_encoding(h, d // 2), sinusoidal_encoding(w, d // 2)  # (h, d/2), (w, d/2)
    return torch.cat([rows[:, None, :].expand(h, w, d // 2), cols[None, :, :].expand(h, w, d // 2)],
                     dim=-1).reshape(h * w, d)


class PatchPositions(nn.Module):
    """x (B, n_extra + h·w, d) → x + E_pos; the first ``n_extra`` tokens are class/distillation tokens."""

    def __init__(self, kind: str, grid: tuple[int, int], d_model: int, n_extra: int = 1) -> None:
        super().__init__()
        if kind not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {kind!r}")
        self.kind, self.grid, self.n_extra = kind, grid, n_extra
        T = n_extra + grid[0] * grid[1]
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(T, d_model) * 0.02)
        else:
            table = torch.zeros(T, d_model)
            if kind == "sincos":
                table[n_extra:] = sincos_2d(grid, d_model)
            self.register_buffer("table", table, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.table.shape[0]:
            raise ValueError(f"expected {self.table.shape[0]} tokens ({self.n_extra} extra + "
                             f"{self.grid[0]}×{self.grid[1]} patches), got {x.shape[1]}")
        return x + self.table.to(x.dtype)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, grid={self.grid}, n_extra={self.n_extra}"
