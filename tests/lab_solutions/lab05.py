"""Reference solution of lab 05 (Swin's windows and ToMe's token merging)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def window_partition(x: Tensor, window: int) -> Tensor:
    B, H, W, C = x.shape
    if H % window or W % window:
        raise ValueError(f"window {window} does not divide the grid {H}×{W}")
    x = x.reshape(B, H // window, window, W // window, window, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, C)


def window_reverse(windows: Tensor, window: int, H: int, W: int) -> Tensor:
    C = windows.shape[-1]
    x = windows.reshape(-1, H // window, W // window, window, window, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, H, W, C)


def shifted_window_mask(H: int, W: int, window: int, shift: int) -> Tensor:
    if not 0 < shift < window:
        raise ValueError(f"shift must lie in (0, {window}), got {shift}")

    def bands(n: int) -> Tensor:
        lab = torch.zeros(n, dtype=torch.long)
        lab[n - window:n - shift] = 1
        lab[n - shift:] = 2
        return lab

    labels = (bands(H)[:, None] * 3 + bands(W)[None, :])[None, :, :, None]
    win = window_partition(labels, window)[..., 0]
    return win[:, :, None] == win[:, None, :]


def merge_tokens(x: Tensor, size: Tensor, metric: Tensor, r: int) -> tuple[Tensor, Tensor]:
    r = min(r, (x.shape[1] - 1) // 2)
    if r <= 0:
        return x, size
    m = metric / metric.norm(dim=-1, keepdim=True)
    scores = m[:, ::2] @ m[:, 1::2].transpose(-1, -2)
    scores[:, 0, :] = -math.inf
    best, partner = scores.max(dim=-1)
    order = best.argsort(dim=-1, descending=True)
    src, unm = order[:, :r], order[:, r:].sort(dim=1).values
    dst = partner.gather(1, src)
    xs = torch.cat([x * size, size], dim=-1)
    a, b = xs[:, ::2], xs[:, 1::2]
    c = xs.shape[-1]
    kept = a.gather(1, unm[..., None].expand(-1, -1, c))
    merged = b.scatter_add(1, dst[..., None].expand(-1, -1, c), a.gather(1, src[..., None].expand(-1, -1, c)))
    both = torch.cat([kept, merged], dim=1)
    new_size = both[..., -1:]
    return both[..., :-1] / new_size, new_size
