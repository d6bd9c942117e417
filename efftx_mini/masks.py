"""Boolean attention masks. Convention everywhere in the book: ``True`` means "may attend".

Shapes broadcast against attention scores (B, H, T_q, T_k).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_tokens

__all__ = ["causal_mask", "padding_mask"]


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """(T, T) lower-triangular mask: position i may attend to j ≤ i (Vaswani et al. 2017, §3.2.3)."""
    if isinstance(T, bool) or not isinstance(T, int):
        raise TypeError(f"T must be an int, got {type(T).__name__}")
    if T <= 0:
        raise ValueError(f"T must be a positive sequence length, got {T}")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """(B, 1, 1, T) mask that hides padding keys: tokens (B, T) → True where tokens != pad_id."""
    tokens = check_tokens(tokens)
    return (tokens != pad_id)[:, None, None, :]
