"""Weight multiplexing in the spirit of MiniViT (Zhang et al. 2022, §3.2): all L blocks share one set of
attention and MLP weights (W^QKV, W^P, W_1, W_2); each layer keeps its own LayerNorms and a small
*weight transformation* so the layers can still differ — an H×H mixing of the attention logits across heads
(initialised to the identity) and a 3×3 depthwise convolution over the token grid inside the MLP
(initialised to zero, added to the hidden features). ``transform=False`` leaves plain sharing.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor, nn

from .patches import grid_tokens, tokens_grid
from .vit import ViT

__all__ = ["SharedWeights", "MultiplexedBlock", "SharedViT"]


class SharedWeights(nn.Module):
    """The one copy of a Pre-LN block's matrices: qkv (d → 3d), proj (d → d), fc1 (d → d_ff), fc2 (d_ff → d)."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.fc1, self.fc2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.proj.bias)


class MultiplexedBlock(nn.Module):
    """One layer: Pre-LN block with the shared matrices, its own LayerNorms and its own transformations."""

    def __init__(self, shared: SharedWeights, d_model: int, n_heads: int, d_ff: int, grid: tuple[int, int],
                 n_extra: int, *, transform: bool = True) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"n_heads must divide d_model, got d_model={d_model}, n_heads={n_heads}")
        self.shared = shared  # the same module object in every layer: one storage
        self.n_heads, self.grid, self.n_extra, self.transform = n_heads, grid, n_extra, transform
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        if transform:
            self.head_mix = nn.Parameter(torch.eye(n_heads))
            self.dwconv = nn.Conv2d(d_ff, d_ff, 3, padding=1, groups=d_ff)
            nn.init.zeros_(self.dwconv.weight)
            nn.init.zeros_(self.dwconv.bias)

    def own_parameters(self) -> int:
        """Entries that belong to this layer alone (norms and transformations)."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("shared."))

    def attention_probs(self, x: Tensor) -> Tensor:
        """(B, T, d) → the attention matrices (B, H, T, T) this layer applies."""
        q, k, _ = self._qkv(self.norm1(x))
        return self._probs(q, k)

    def _qkv(self, h: Tensor) -> tuple[Tensor, ...]:
        return tuple(rearrange(t, "b t (h e) -> b h t e", h=self.n_heads)
                     for t in self.shared.qkv(h).chunk(3, dim=-1))

    def _probs(self, q: Tensor, k: Tensor) -> Tensor:
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if self.transform:
            logits = torch.einsum("gh,bhij->bgij", self.head_mix, logits)
        return logits.softmax(dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self._qkv(self.norm1(x))
        a = self._probs(q, k) @ v
        x = x + self.shared.proj(rearrange(a, "b h t e -> b t (h e)"))
        h = torch.nn.functional.gelu(self.shared.fc1(self.norm2(x)))
        if self.transform:
            extra, patches = h[:, : self.n_extra], h[:, self.n_extra:]
            patches = patches + tokens_grid(self.dwconv(grid_tokens(patches, self.grid)))
            h = torch.cat([extra, patches], dim=1)
        return x + self.shared.fc2(h)


class SharedViT(ViT):
    """A ViT whose ``depth`` blocks are :class:`MultiplexedBlock` layers over one :class:`SharedWeights`."""

    def __init__(self, image_size: int = 28, patch: int = 7, in_channels: int = 1, n_classes: int = 10,
                 d_model: int = 64, depth: int = 4, n_heads: int = 4, d_ff: int = 128, *, pool: str = "cls",
                 positions: str = "learned", transform: bool = True) -> None:
        super().__init__(image_size, patch, in_channels, n_classes, d_model, 1, n_heads, d_ff, pool=pool,
                         positions=positions)
        self.depth = depth
        self.shared = SharedWeights(d_model, d_ff)
        self.blocks = nn.ModuleList(MultiplexedBlock(self.shared, d_model, n_heads, d_ff, self.grid, self.n_extra,
                                                     transform=transform) for _ in range(depth))
        self.norm = nn.LayerNorm(d_model)

