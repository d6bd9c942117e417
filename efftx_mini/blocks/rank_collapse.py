"""Rank collapse of attention without skips (Dong et al. 2021; Noci et al. 2022, §3; He & Hofmann 2024, §4.1).

At initialisation, repeated attention averages tokens until they all point the same way. We measure
it as the mean cosine similarity between different token representations, layer after layer, for
three attention-only stacks (no MLPs) built from the package's blocks:
``"attention"``: X ← MHA(LN(X)); ``"skip"``: X ← X + MHA(LN(X)); ``"shaped"``: X ← SA(LN(X)) (SAS, §4.1–§4.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .simplified import SASBlock
from .standard import PreLNBlock

__all__ = ["token_cosine", "depth_cosines", "KINDS"]

KINDS = ("attention", "skip", "shaped")


def token_cosine(x: Tensor) -> float:
    """Mean cosine similarity over pairs of different tokens, x (B, T, d) → float in [-1, 1]."""
    if x.dim() != 3 or x.shape[1] < 2:
        raise ValueError(f"x must have shape (B, T, d) with T ≥ 2, got {tuple(x.shape)}")
    u = F.normalize(x, dim=-1)
    g = u @ u.transpose(1, 2)  # (B, T, T)
    T = x.shape[1]
    return float((g.sum(dim=(1, 2)) - g.diagonal(dim1=1, dim2=2).sum(-1)).mean() / (T * (T - 1)))


@torch.no_grad()
def depth_cosines(kind: str, depth: int = 32, *, T: int = 32, d_model: int = 64, n_heads: int = 4,
                  batch: int = 4, causal: bool = False, seed: int = 0) -> list[float]:
    """Token cosine after 0, 1, …, depth freshly initialised attention layers of the given kind."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, T, d_model, generator=g)
    torch.manual_seed(seed)
    out = [token_cosine(x)]
    for layer in range(depth):
        if kind == "shaped":
            blk = SASBlock(d_model, n_heads, 4 * d_model, causal=causal, layer_idx=layer, n_layers=depth,
                           first_layer_value=False)
            h = blk.norm1(x)
            x = blk._attend(h, blk.in_proj(h).split(blk._qkv_split(), dim=-1), None, False)
        else:
            blk = PreLNBlock(d_model, n_heads, 4 * d_model, causal=causal, layer_idx=layer, n_layers=depth)
            a = blk.attn(blk.norm1(x), None)
            x = a if kind == "attention" else x + a
        out.append(token_cosine(x))
    return out
