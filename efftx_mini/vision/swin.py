"""Swin Transformer (Liu et al. 2021, "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows"):
self-attention inside non-overlapping M×M windows (§3.2, W-MSA), every second block on windows shifted by ⌊M/2⌋
through a cyclic shift of the feature map plus an attention mask (§3.2, SW-MSA, Fig. 4), a relative position
bias B ∈ R^{M²×M²} read from a table B̂ ∈ R^{(2M−1)×(2M−1)} (§3.2, Eq. 4), and patch merging between stages
(§3.1: concatenate each 2×2 group of neighbours, 4C → 2C by a linear layer).

Tokens live on a grid: a stage's input is (B, H·W, C), row-major. ``model(images (B, C, H, W)) -> logits``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .._checks import shape_str
from .patches import PatchEmbedding, check_images

__all__ = ["window_partition", "window_reverse", "relative_position_index", "shifted_window_mask", "region_labels",
           "WindowAttention", "SwinBlock", "PatchMerging", "Swin", "swin_attention_maps"]


def _check_grid(x: Tensor, name: str = "x") -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, H, W, C) (4 dims), got {shape_str(x.shape)}")


def window_partition(x: Tensor, window: int) -> Tensor:
    """(B, H, W, C) → (B·n_windows, M², C): the M×M windows, row-major, tokens row-major inside each."""
    _check_grid(x)
    B, H, W, C = x.shape
    if H % window or W % window:
        raise ValueError(f"the grid {H}×{W} is not divisible by the window size {window}")
    return rearrange(x, "b (h m1) (w m2) c -> (b h w) (m1 m2) c", m1=window, m2=window)


def window_reverse(windows: Tensor, window: int, H: int, W: int) -> Tensor:
    """(B·n_windows, M², C) → (B, H, W, C): the inverse of :func:`window_partition`."""
    if windows.dim() != 3 or windows.shape[1] != window * window:
        raise ValueError(f"windows must have shape (B·n_windows, {window * window}, C), got {shape_str(windows.shape)}")
    return rearrange(windows, "(b h w) (m1 m2) c -> b (h m1) (w m2) c", h=H // window, w=W // window, m1=window,
                     m2=window)


def relative_position_index(window: int) -> Tensor:
    """(M², M²) long: the row of B̂ for each (query i, key j) pair — (Δy + M − 1)(2M − 1) + (Δx + M − 1),
    Δ = position(i) − position(j), as in the authors' code."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)  # (2, M², M²), each in [0, 2M − 2]
    return rel[0] * (2 * window - 1) + rel[1]


def region_labels(H: int, W: int, window: int, shift: int) -> Tensor:
    """(H, W) long: after the cyclic shift, which of the 3×3 regions of Fig. 4 each position belongs to
    (positions that wrapped around the border form their own regions)."""
    def bands(n: int) -> Tensor:
        lab = torch.zeros(n, dtype=torch.long)
        lab[n - window:n - shift] = 1
        lab[n - shift:] = 2
        return lab
    return bands(H)[:, None] * 3 + bands(W)[None, :]


def shifted_window_mask(H: int, W: int, window: int, shift: int) -> Tensor:
    """(n_windows, M², M²) bool, True = may attend: two tokens of a shifted window attend to each other only if
    they come from the same region, i.e. were neighbours before the cyclic shift."""
    if not 0 < shift < window:
        raise ValueError(f"shift must be in (0, window={window}), got {shift}")
    labels = region_labels(H, W, window, shift)[None, :, :, None]  # (1, H, W, 1)
    win = window_partition(labels, window)[..., 0]  # (n_windows, M²)
    return win[:, :, None] == win[:, None, :]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window with a relative position bias:
    softmax(QKᵀ/√d + B) V (§3.2, Eq. 4); x (B·n_windows, M², C), optional bool mask (n_windows, M², M²)."""

    def __init__(self, dim: int, window: int, n_heads: int) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"n_heads must divide dim, got dim={dim}, n_heads={n_heads}")
        self.dim, self.window, self.n_heads, self.d_head = dim, window, n_heads, dim // n_heads
        self.table = nn.Parameter(torch.randn((2 * window - 1) ** 2, n_heads) * 0.02)  # B̂
        self.register_buffer("index", relative_position_index(window), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def bias(self) -> Tensor:
        """B (n_heads, M², M²): the table read at the relative position index."""
        return rearrange(self.table[self.index], "i j h -> h i j")

    def probs(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Attention weights (B·n_windows, heads, M², M²) and the values (B·n_windows, heads, M², d_head)."""
        if x.dim() != 3 or x.shape[1:] != (self.window ** 2, self.dim):
            raise ValueError(f"x must have shape (B·n_windows, {self.window ** 2}, {self.dim}), "
                             f"got {shape_str(x.shape)}")
        q, k, v = rearrange(self.qkv(x), "b n (three h e) -> three b h n e", three=3, h=self.n_heads)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head) + self.bias().to(x.dtype)
        if mask is not None:
            nw = mask.shape[0]
            if mask.dtype != torch.bool or mask.shape != (nw, self.window ** 2, self.window ** 2) or x.shape[0] % nw:
                raise ValueError(f"mask must be bool (n_windows, {self.window ** 2}, {self.window ** 2}) with "
                                 f"n_windows dividing {x.shape[0]}, got {mask.dtype} {shape_str(mask.shape)}")
            scores = rearrange(scores, "(b w) h i j -> b w h i j", w=nw)
            scores = scores.masked_fill(~mask[None, :, None], float("-inf"))
            scores = rearrange(scores, "b w h i j -> (b w) h i j")
        return scores.softmax(dim=-1), v

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        a, v = self.probs(x, mask)
        return self.proj(rearrange(a @ v, "b h n e -> b n (h e)"))


class SwinBlock(nn.Module):
    """x (B, H·W, C) → same: X + (S)W-MSA(LN(X)), then X + MLP(LN(X)) (§3.2, Eq. 3). ``shift`` > 0 makes it
    an SW-MSA block; when the window covers the grid, the window shrinks to the grid and the shift is dropped
    (as in the authors' code)."""

    def __init__(self, dim: int, grid: tuple[int, int], n_heads: int, window: int = 7, shift: int = 0,
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        H, W = grid
        if min(grid) <= window:
            window, shift = min(grid), 0
        if H % window or W % window:
            raise ValueError(f"the grid {H}×{W} is not divisible by the window size {window}")
        self.grid, self.window, self.shift, self.dim = grid, window, shift, dim
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, n_heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        mask = shifted_window_mask(H, W, window, shift) if shift else None
        self.register_buffer("mask", mask, persistent=False)

    def _windows(self, h: Tensor) -> Tensor:
        """LN'd tokens (B, H·W, C) → shifted (if SW-MSA) windows (B·n_windows, M², C)."""
        x = rearrange(h, "b (h w) c -> b h w c", h=self.grid[0])
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))  # cyclic shift up-left
        return window_partition(x, self.window)

    def mixed(self, x: Tensor) -> Tensor:
        """The attention sub-block's output (B, H·W, C), windows put back and the shift undone."""
        y = window_reverse(self.attn(self._windows(self.norm1(x)), self.mask), self.window, *self.grid)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        return rearrange(y, "b h w c -> b (h w) c")

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1:] != (self.grid[0] * self.grid[1], self.dim):
            raise ValueError(f"x must have shape (B, {self.grid[0] * self.grid[1]}, {self.dim}), "
                             f"got {shape_str(x.shape)}")
        x = x + self.mixed(x)
        return x + self.mlp(self.norm2(x))

    def attention_grid(self, x: Tensor) -> Tensor:
        """(B, heads, H·W, H·W): this block's attention weights in grid coordinates (zeros outside each query's
        window) — what the chapter's explorer draws."""
        a, _ = self.attn.probs(self._windows(self.norm1(x)), self.mask)  # (B·nW, h, M², M²)
        H, W, M = *self.grid, self.window
        ids = torch.arange(H * W, device=x.device).reshape(1, H, W, 1)
        if self.shift:
            ids = torch.roll(ids, shifts=(-self.shift, -self.shift), dims=(1, 2))
        win = window_partition(ids, M)[..., 0]  # (nW, M²): grid index of each window slot
        B, nw = x.shape[0], win.shape[0]
        a = rearrange(a, "(b w) h i j -> b h w i j", w=nw)
        out = a.new_zeros(B, a.shape[1], H * W, H * W)
        rows = win[:, :, None].expand(nw, M * M, M * M)
        cols = win[:, None, :].expand(nw, M * M, M * M)
        out[:, :, rows, cols] = a
        return out

    def extra_repr(self) -> str:
        return f"grid={self.grid}, window={self.window}, shift={self.shift}"


class PatchMerging(nn.Module):
    """(B, H·W, C) → (B, H/2·W/2, 2C): concatenate each 2×2 group [x(0,0), x(1,0), x(0,1), x(1,1)], LayerNorm,
    linear 4C → 2C without bias (§3.1, order as in the authors' code)."""

    def __init__(self, grid: tuple[int, int], dim: int) -> None:
        super().__init__()
        if grid[0] % 2 or grid[1] % 2:
            raise ValueError(f"patch merging needs an even grid, got {grid[0]}×{grid[1]}")
        self.grid, self.dim = grid, dim
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def gather(self, x: Tensor) -> Tensor:
        """(B, H·W, C) → (B, H/2·W/2, 4C): the concatenated neighbours, before norm and reduction."""
        x = rearrange(x, "b (h w) c -> b h w c", h=self.grid[0])
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return rearrange(x, "b h w c -> b (h w) c")

    def forward(self, x: Tensor) -> Tensor:
        return self.reduction(self.norm(self.gather(x)))


class Swin(nn.Module):
    """images (B, C, H, W) → logits: optional zero padding by ``pad`` pixels, patch embedding (+ LayerNorm),
    stages of W-MSA/SW-MSA block pairs with patch merging between them, LayerNorm, mean over tokens, linear head
    (§3.1, Fig. 3)."""

    def __init__(self, image_size: int = 28, patch: int = 2, in_channels: int = 1, n_classes: int = 10,
                 dims: tuple[int, ...] = (16, 32), depths: tuple[int, ...] = (2, 2), heads: tuple[int, ...] = (2, 4),
                 window: int = 7, mlp_ratio: float = 4.0, pad: int = 0) -> None:
        super().__init__()
        if not len(dims) == len(depths) == len(heads) or not dims:
            raise ValueError(f"dims, depths and heads need one entry per stage, got {dims}, {depths}, {heads}")
        if any(b != 2 * a for a, b in zip(dims[:-1], dims[1:], strict=True)):
            raise ValueError(f"patch merging doubles the width: dims must double from stage to stage, got {dims}")
        self.image_size, self.in_channels, self.pad = image_size, in_channels, pad
        self.embed = PatchEmbedding(image_size + 2 * pad, patch, in_channels, dims[0])
        self.embed_norm = nn.LayerNorm(dims[0])
        self.window, self.mlp_ratio, self.n_classes = window, mlp_ratio, n_classes
        grid = self.embed.grid
        self.grids: list[tuple[int, int]] = []
        self.stages, self.merges = nn.ModuleList(), nn.ModuleList()
        for s, (d, L, h) in enumerate(zip(dims, depths, heads, strict=True)):
            self.grids.append(grid)
            self.stages.append(nn.ModuleList(
                SwinBlock(d, grid, h, window, shift=0 if i % 2 == 0 else window // 2, mlp_ratio=mlp_ratio)
                for i in range(L)))
            if s + 1 < len(dims):
                self.merges.append(PatchMerging(grid, d))
                grid = (grid[0] // 2, grid[1] // 2)
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], n_classes)

    def blocks(self) -> list[SwinBlock]:
        return [b for stage in self.stages for b in stage]

    def forward_features(self, images: Tensor) -> list[Tensor]:
        """The input of every block, in order, plus the final normalised tokens (last entry)."""
        images = check_images(images, self.in_channels, self.image_size)
        if self.pad:
            images = F.pad(images, (self.pad,) * 4)  # zeros around the image, so the grid splits into windows
        x = self.embed_norm(self.embed(images))
        inputs = []
        for s, stage in enumerate(self.stages):
            for blk in stage:
                inputs.append(x)
                x = blk(x)
            if s < len(self.merges):
                x = self.merges[s](x)
        return [*inputs, self.norm(x)]

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.forward_features(images)[-1].mean(dim=1))

    def flops(self) -> int:
        """Closed-form forward FLOPs per image (matmuls only, 2 per multiply-add; norms, softmax not counted):
        embedding 2NP²Cd; per block T(8d² + 4d·d_ff) + 4·T·M²·d (each query sees the M² keys of its window);
        merging 2·(T/4)·4d·2d; head 2dK."""
        e = self.embed
        total = 2 * e.n_patches * e.patch ** 2 * e.in_channels * e.d_model
        for s, stage in enumerate(self.stages):
            for blk in stage:
                T, d, M = blk.grid[0] * blk.grid[1], blk.dim, blk.window
                total += T * (8 * d * d + 4 * d * int(d * self.mlp_ratio)) + 4 * T * M * M * d
            if s < len(self.merges):
                m = self.merges[s]
                total += 2 * (m.grid[0] * m.grid[1] // 4) * 4 * m.dim * 2 * m.dim
        return total + 2 * self.head.in_features * self.n_classes


@torch.no_grad()
def swin_attention_maps(model: Swin, images: Tensor) -> list[Tensor]:
    """Every block's head-averaged attention (B, H·W, H·W) in the coordinates of its stage's grid."""
    was = model.training
    model.eval()
    try:
        inputs = model.forward_features(images)[:-1]
        return [blk.attention_grid(x).mean(1) for blk, x in zip(model.blocks(), inputs, strict=True)]
    finally:
        model.train(was)
