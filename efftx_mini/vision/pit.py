"""Pooling-based Vision Transformer (Heo et al. 2021, "Rethinking Spatial Dimensions of Vision
Transformers", §3.2): stages of transformer blocks separated by a pooling layer that halves the token grid
with a depthwise strided convolution (kernel 3, stride 2, channel multiplier d_out/d_in) and widens the
class token with a linear map, so later blocks see fewer, wider tokens — as a CNN's stages do.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..blocks import get_block
from .patches import PatchEmbedding, grid_tokens, tokens_grid
from .positions import PatchPositions

__all__ = ["TokenPooling", "PiT"]


def _pooled_size(g: int) -> int:
    return (g + 2 * 1 - 3) // 2 + 1  # kernel 3, stride 2, padding 1


class TokenPooling(nn.Module):
    """(B, 1 + h·w, d_in) → (B, 1 + h'·w', d_out), h' = ⌈h/2⌉: depthwise conv on the grid, linear on the class token."""

    def __init__(self, d_in: int, d_out: int, grid: tuple[int, int]) -> None:
        super().__init__()
        if d_out % d_in:
            raise ValueError(f"depthwise pooling needs d_out to be a multiple of d_in, got d_in={d_in}, d_out={d_out}")
        self.grid_in = grid
        self.grid = (_pooled_size(grid[0]), _pooled_size(grid[1]))
        self.conv = nn.Conv2d(d_in, d_out, kernel_size=3, stride=2, padding=1, groups=d_in)
        self.cls = nn.Linear(d_in, d_out)

    def forward(self, x: Tensor) -> Tensor:
        cls, patches = x[:, :1], x[:, 1:]
        patches = tokens_grid(self.conv(grid_tokens(patches, self.grid_in)))
        return torch.cat([self.cls(cls), patches], dim=1)

    def extra_repr(self) -> str:
        return f"grid {self.grid_in} -> {self.grid}"


class PiT(nn.Module):
    """images (B, C, H, W) → logits; ``dims``/``depths``/``heads`` give each stage's width, blocks and heads."""

    def __init__(self, image_size: int = 28, patch: int = 4, in_channels: int = 1, n_classes: int = 10,
                 dims: tuple[int, ...] = (32, 64), depths: tuple[int, ...] = (2, 2), heads: tuple[int, ...] = (2, 4),
                 mlp_ratio: int = 2, *, block: str = "pre-ln", dropout: float = 0.0) -> None:
        super().__init__()
        if not len(dims) == len(depths) == len(heads) or not dims:
            raise ValueError(f"dims, depths and heads need one entry per stage, got {dims}, {depths}, {heads}")
        self.embed = PatchEmbedding(image_size, patch, in_channels, dims[0])
        self.cls_token = nn.Parameter(torch.randn(1, dims[0]) * 0.02)
        self.positions = PatchPositions("learned", self.embed.grid, dims[0], n_extra=1)
        cls = get_block(block)
        n_layers, grid = sum(depths), self.embed.grid
        self.stages, self.pools = nn.ModuleList(), nn.ModuleList()
        self.grids = [grid]
        i = 0
        for s, (d, L, H) in enumerate(zip(dims, depths, heads, strict=True)):
            self.stages.append(nn.ModuleList(
                cls(d, H, mlp_ratio * d, causal=False, dropout=dropout, layer_idx=i + j, n_layers=n_layers)
                for j in range(L)))
            i += L
            if s + 1 < len(dims):
                pool = TokenPooling(d, dims[s + 1], grid)
                grid = pool.grid
                self.pools.append(pool)
                self.grids.append(grid)
        self.norm: nn.Module = nn.LayerNorm(dims[-1]) if cls.final_norm else nn.Identity()
        self.head = nn.Linear(dims[-1], n_classes)

    def stage_tokens(self, images: Tensor) -> list[Tensor]:
        """The tokens (B, 1 + h·w, d) at the end of every stage (the last one normalised)."""
        x = self.embed(images)
        x = self.positions(torch.cat([self.cls_token.to(x.dtype).expand(x.shape[0], -1, -1), x], dim=1))
        out = []
        for s, stage in enumerate(self.stages):
            for blk in stage:
                x = blk(x)
            out.append(x)
            if s < len(self.pools):
                x = self.pools[s](x)
        out[-1] = self.norm(out[-1])
        return out

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.stage_tokens(images)[-1][:, 0])
