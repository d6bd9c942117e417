"""The Vision Transformer (Dosovitskiy et al. 2021, §3.1, Eqs. 1–4): patches + class token + positions,
L encoder blocks of the book (Pre-LN by default, any name of :data:`efftx_mini.blocks.BLOCKS`), a final
LayerNorm and a linear head on the class token (``pool="cls"``) or on the mean of the patch tokens
(``pool="mean"``, Zhai et al. 2022).

Every image classifier of this package is called the same way: ``model(images (B, C, H, W)) -> logits (B, K)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..blocks import get_block
from .patches import PatchEmbedding
from .positions import PatchPositions

__all__ = ["ViT", "POOLS"]

POOLS = ("cls", "mean")


class ViT(nn.Module):
    """images (B, C, H, W) → logits (B, n_classes); z_0 = [x_class; x_p^1 E; …; x_p^N E] + E_pos (Eq. 1)."""

    #: class/distillation tokens in front of the patch tokens (set by subclasses such as DeiT)
    n_distill_tokens: int = 0

    def __init__(self, image_size: int = 28, patch: int = 7, in_channels: int = 1, n_classes: int = 10,
                 d_model: int = 64, depth: int = 4, n_heads: int = 4, d_ff: int = 128, *,
                 block: str = "pre-ln", pool: str = "cls", positions: str = "learned", dropout: float = 0.0,
                 block_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        self.pool, self.depth, self.n_classes, self.d_model = pool, depth, n_classes, d_model
        self.embed = PatchEmbedding(image_size, patch, in_channels, d_model)
        self.grid = self.embed.grid
        self.n_extra = (1 if pool == "cls" else 0) + self.n_distill_tokens
        self.extra_tokens = nn.Parameter(torch.randn(self.n_extra, d_model) * 0.02)
        self.positions = PatchPositions(positions, self.grid, d_model, self.n_extra)
        cls = get_block(block)
        self.blocks = nn.ModuleList(
            cls(d_model, n_heads, d_ff, causal=False, dropout=dropout, layer_idx=i, n_layers=depth,
                **(block_kwargs or {}))
            for i in range(depth))
        self.norm: nn.Module = nn.LayerNorm(d_model) if cls.final_norm else nn.Identity()
        self.head = nn.Linear(d_model, n_classes)

    @property
    def n_tokens(self) -> int:
        return self.n_extra + self.embed.n_patches

    def tokens(self, images: Tensor) -> Tensor:
        """images (B, C, H, W) → the final normalised tokens (B, n_extra + N, d)."""
        x = self.embed(images)
        extra = self.extra_tokens.to(x.dtype).expand(x.shape[0], -1, -1)
        x = self.positions(torch.cat([extra, x], dim=1))
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def pooled(self, z: Tensor) -> Tensor:
        """(B, T, d) → (B, d): the class token (Eq. 4) or the mean of the patch tokens."""
        return z[:, 0] if self.pool == "cls" else z[:, self.n_extra:].mean(dim=1)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.pooled(self.tokens(images)))
