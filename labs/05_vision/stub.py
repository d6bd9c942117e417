"""Lab 05 — Swin's windows and ToMe's token merging (part IV: chapters 11–12). Copy this file to solution.py.

Rules: PyTorch tensor operations only (einops is allowed); nothing from ``efftx_mini``.
"""

from __future__ import annotations

import torch  # noqa: F401 (you will need it)
from torch import Tensor


def window_partition(x: Tensor, window: int) -> Tensor:
    """Swin (Liu et al. 2021, §3.2): (B, H, W, C) -> (B·n_windows, M², C), the M×M windows in row-major order of
    windows, and the tokens of each window in row-major order. ValueError if M does not divide H and W."""
    raise NotImplementedError("window_partition")


def window_reverse(windows: Tensor, window: int, H: int, W: int) -> Tensor:
    """(B·n_windows, M², C) -> (B, H, W, C): the inverse of window_partition."""
    raise NotImplementedError("window_reverse")


def shifted_window_mask(H: int, W: int, window: int, shift: int) -> Tensor:
    """(n_windows, M², M²) bool, True = may attend, for attention on the feature map rolled by (−shift, −shift)
    (torch.roll(x, (−shift, −shift), dims=(1, 2))): two tokens of a window may attend to each other only if they
    were neighbours before the roll, i.e. lie in the same of the 3×3 regions that the roll creates (Fig. 4): along
    each axis the bands [0, n−M), [n−M, n−shift), [n−shift, n). ValueError unless 0 < shift < M."""
    raise NotImplementedError("shifted_window_mask")


def merge_tokens(x: Tensor, size: Tensor, metric: Tensor, r: int) -> tuple[Tensor, Tensor]:
    """One ToMe step (Bolya et al. 2023, §3): x (B, T, d), size (B, T, 1), metric (B, T, c) -> x', size' with T − r
    tokens; position 0 is a class token and never merges.

    1. Split the tokens alternately: A = positions 0, 2, 4, …, B = positions 1, 3, 5, ….
    2. Score every (a, b) pair by the cosine similarity of their metric rows; the class token's scores are −inf.
    3. Each A token picks its most similar B token; keep the r A tokens with the highest such score (their edges).
    4. Merge each kept A token into its B token, weighting by size: x_b' = Σ s·x / Σ s, s_b' = Σ s over the group.
    5. Return [the A tokens that did not merge, in their original order; then every B token, in order].
    r is capped at (T − 1) // 2; r = 0 returns x and size unchanged.
    """
    raise NotImplementedError("merge_tokens")
