"""Pale-shaped self-attention (Wu et al. 2022, "Pale Transformer: A General Vision Transformer Backbone with
Pale-Shaped Attention", §3.1, Fig. 1e): a *pale* is s_r interleaved rows and s_c interleaved columns of the
H×W map. The channels are split in half; the first half attends within row groups — position (y, x) sees every
position whose row lies in the same set of interleaved rows, {y' : y' ≡ y (mod H/s_r)} — the second half within
column groups {x' : x' ≡ x (mod W/s_c)}; the two outputs are concatenated and projected (Eq. 2–3).

The reference solution of the chapter's exercise: the reshapes below gather each group into one sequence, so the
attention is an ordinary batched softmax; :func:`pale_mask` is the brute-force mask it must equal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .._checks import shape_str

__all__ = ["pale_mask", "PaleAttention"]


def pale_mask(H: int, W: int, rows: int, cols: int) -> tuple[Tensor, Tensor]:
    """(H·W, H·W) bool masks of the row half and the column half, by a loop over pairs of positions."""
    gr, gc = H // rows, W // cols  # rows y and y' are in one group when y ≡ y' (mod H / s_r)
    n = H * W
    row, col = torch.zeros(n, n, dtype=torch.bool), torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        for j in range(n):
            row[i, j] = (i // W) % gr == (j // W) % gr
            col[i, j] = (i % W) % gc == (j % W) % gc
    return row, col


class PaleAttention(nn.Module):
    """x (B, H, W, C) → same: half the heads attend within row groups of ``rows`` interleaved rows, half within
    column groups of ``cols`` interleaved columns; Concat · W^P."""

    def __init__(self, dim: int, n_heads: int, rows: int, cols: int) -> None:
        super().__init__()
        if n_heads % 2 or dim % n_heads:
            raise ValueError(f"n_heads must be even and divide dim, got dim={dim}, n_heads={n_heads}")
        self.dim, self.n_heads, self.rows, self.cols = dim, n_heads, rows, cols
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (B, H, W, {self.dim}), got {shape_str(x.shape)}")
        B, H, W, C = x.shape
        if H % self.rows or W % self.cols:
            raise ValueError(f"the map {H}×{W} is not divisible into {self.rows} rows × {self.cols} columns per pale")
        h = self.n_heads // 2
        qkv = self.qkv(x)  # (B, H, W, 3C)
        r_part, c_part = rearrange(qkv, "b hh ww (three s c) -> s three b hh ww c", three=3, s=2)
        # rows y = k·(H/s_r) + g: group g holds the s_r rows k = 0..s_r−1; one sequence per (b, g) of s_r·W tokens
        q, k, v = (rearrange(t, "b (k g) ww (h e) -> (b g) h (k ww) e", k=self.rows, h=h) for t in r_part)
        y_r = rearrange(F.scaled_dot_product_attention(q, k, v), "(b g) h (k ww) e -> b (k g) ww (h e)",
                        b=B, k=self.rows)
        q, k, v = (rearrange(t, "b hh (k g) (h e) -> (b g) h (hh k) e", k=self.cols, h=h) for t in c_part)
        y_c = rearrange(F.scaled_dot_product_attention(q, k, v), "(b g) h (hh k) e -> b hh (k g) (h e)",
                        b=B, k=self.cols)
        return self.proj(torch.cat([y_r, y_c], dim=-1))
