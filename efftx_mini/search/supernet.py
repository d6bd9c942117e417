"""A weight-sharing supernet over the search space with AutoFormer's weight entanglement (Chen et al. 2021,
§3): every block has one set of weights for the largest choice, and a sub-network uses their leading slices —
the first d embedding channels, the first d rows of each of W^Q, W^K, W^V, the first ratio·d hidden units of the
MLP, the first L blocks.

:meth:`SuperViT.forward` runs the sub-network ``arch`` on the slices; :meth:`SuperViT.extract` copies the same slices
into the standalone :func:`~efftx_mini.search.space.build` model, which computes the same function (tested).
:class:`UniformSampling` trains it with one uniformly sampled sub-network per step (AutoFormer's supernet training,
§3) through the book's :func:`~efftx_mini.vision.train_classifier`.

The patch size cannot be entangled (a 4×4 and a 7×7 patch have different inputs): each patch size has its own
patch embedding and position table, and the blocks, class token, final norm and head are shared.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..vision import ViT, check_images
from .space import Arch, SearchSpace, build

__all__ = ["SuperViT", "UniformSampling", "inherited_accuracy"]


class _SuperBlock(nn.Module):
    """The largest Pre-LN block: LN, [W^Q; W^K; W^V] (3D × D), W^P, LN, fc1 (R·D × D), fc2 (D × R·D)."""

    def __init__(self, D: int, hidden: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc1, self.fc2 = nn.Linear(D, hidden), nn.Linear(hidden, D)
        nn.init.xavier_uniform_(self.qkv.weight)  # as the book's blocks (torch.nn.MultiheadAttention)
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.proj.bias)

    def slices(self, d: int, heads: int, ratio: int) -> dict[str, Tensor]:
        """This block's sub-network weights, named as in :class:`~efftx_mini.blocks.PreLNBlock` (views, no copies
        except the Q/K/V concatenation)."""
        D, h = self.proj.weight.shape[0], ratio * d
        W, b = self.qkv.weight, self.qkv.bias
        rows = torch.cat([torch.arange(d), D + torch.arange(d), 2 * D + torch.arange(d)]).to(W.device)
        return {"norm1.weight": self.norm1.weight[:d], "norm1.bias": self.norm1.bias[:d],
                "qkv.weight": W[rows, :d], "qkv.bias": b[rows],
                "proj.weight": self.proj.weight[:d, :d], "proj.bias": self.proj.bias[:d],
                "norm2.weight": self.norm2.weight[:d], "norm2.bias": self.norm2.bias[:d],
                "fc1.weight": self.fc1.weight[:h, :d], "fc1.bias": self.fc1.bias[:h],
                "fc2.weight": self.fc2.weight[:d, :h], "fc2.bias": self.fc2.bias[:d]}

    def forward(self, x: Tensor, d: int, heads: int, ratio: int) -> Tensor:
        """x (B, T, d) → (B, T, d): X̂ = X + MHA(LN(X)), X_out = X̂ + MLP(LN(X̂)) on the slices."""
        s = self.slices(d, heads, ratio)
        eps = self.norm1.eps
        h = F.layer_norm(x, (d,), s["norm1.weight"], s["norm1.bias"], eps)
        q, k, v = (rearrange(t, "b t (h e) -> b h t e", h=heads)
                   for t in F.linear(h, s["qkv.weight"], s["qkv.bias"]).split(d, dim=-1))
        a = rearrange(F.scaled_dot_product_attention(q, k, v), "b h t e -> b t (h e)")
        x = x + F.linear(a, s["proj.weight"], s["proj.bias"])
        h = F.layer_norm(x, (d,), s["norm2.weight"], s["norm2.bias"], eps)
        return x + F.linear(F.gelu(F.linear(h, s["fc1.weight"], s["fc1.bias"])), s["fc2.weight"], s["fc2.bias"])


class SuperViT(nn.Module):
    """images (B, C, H, W), arch → logits (B, K) of the sub-network ``arch`` of the space (weights entangled)."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        big = space.largest
        D, L = big.d_model, big.depth
        self.embeds = nn.ModuleDict({str(p): nn.Conv2d(space.channels, D, p, p) for p in space.patches})
        self.positions = nn.ParameterDict(
            {str(p): nn.Parameter(torch.randn(1 + (space.image_size // p) ** 2, D) * 0.02) for p in space.patches})
        self.cls = nn.Parameter(torch.randn(1, D) * 0.02)
        self.blocks = nn.ModuleList(_SuperBlock(D, max(space.mlp_ratios) * D) for _ in range(L))
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, space.n_classes)

    def forward(self, images: Tensor, arch: Arch) -> Tensor:
        self.space.check(arch)
        d, p = arch.d_model, arch.patch
        images = check_images(images, self.space.channels, self.space.image_size, p)
        conv = self.embeds[str(p)]
        x = rearrange(F.conv2d(images, conv.weight[:d], conv.bias[:d], stride=p), "b d h w -> b (h w) d")
        x = torch.cat([self.cls[:, :d].to(x.dtype).expand(x.shape[0], 1, d), x], dim=1)
        x = x + self.positions[str(p)][:, :d].to(x.dtype)
        for blk, h, r in zip(self.blocks, arch.heads, arch.mlp_ratios, strict=False):
            x = blk(x, d, h, r)
        x = F.layer_norm(x, (d,), self.norm.weight[:d], self.norm.bias[:d], self.norm.eps)
        return F.linear(x[:, 0], self.head.weight[:, :d], self.head.bias)

    @torch.no_grad()
    def extract(self, arch: Arch) -> ViT:
        """The standalone model of ``arch`` with the supernet's slices copied in (computes ``self(·, arch)``)."""
        self.space.check(arch)
        d, p = arch.d_model, arch.patch
        model = build(arch, self.space).to(self.cls.device, self.cls.dtype)
        conv = self.embeds[str(p)]
        state = {"embed.proj.weight": conv.weight[:d], "embed.proj.bias": conv.bias[:d],
                 "extra_tokens": self.cls[:, :d], "positions.table": self.positions[str(p)][:, :d],
                 "norm.weight": self.norm.weight[:d], "norm.bias": self.norm.bias[:d],
                 "head.weight": self.head.weight[:, :d], "head.bias": self.head.bias}
        for i, (blk, h, r) in enumerate(zip(self.blocks, arch.heads, arch.mlp_ratios, strict=False)):
            state.update({f"blocks.{i}.{k}": v for k, v in blk.slices(d, h, r).items()})
        model.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)
        return model


class UniformSampling(nn.Module):
    """The supernet as an ordinary classifier for :func:`~efftx_mini.vision.train_classifier`: in training mode
    every call runs a fresh sub-network drawn uniformly from the space (one per step, AutoFormer §3); in
    evaluation mode it runs ``eval_arch`` (default: the largest)."""

    def __init__(self, supernet: SuperViT, seed: int = 0, eval_arch: Arch | None = None) -> None:
        super().__init__()
        self.supernet = supernet
        self.rng = random.Random(seed)
        self.eval_arch = eval_arch or supernet.space.largest
        self.last: Arch | None = None

    def forward(self, images: Tensor) -> Tensor:
        if self.training:
            self.last = self.supernet.space.sample(self.rng)
            return self.supernet(images, self.last)
        return self.supernet(images, self.eval_arch)


@torch.no_grad()
def inherited_accuracy(supernet: SuperViT, arch: Arch, images: Tensor, labels: Tensor, batch: int = 500) -> float:
    """Accuracy of the sub-network ``arch`` with inherited weights (no retraining, as AutoFormer's search)."""
    was = supernet.training
    supernet.eval()
    dev = supernet.cls.device
    pred = torch.cat([supernet(images[i:i + batch].to(dev), arch).argmax(-1).cpu()
                      for i in range(0, len(images), batch)])
    supernet.train(was)
    return float((pred == labels).float().mean())
