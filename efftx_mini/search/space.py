"""A miniature AutoFormer search space of ViTs on the digits (Chen et al. 2021, AutoFormer, §3).

An architecture fixes the patch size and the embedding dimension d for the whole network, the depth L, and for
every block its number of heads and its MLP ratio (d_ff = ratio·d), as AutoFormer does (depth, embed dim, and per
layer MLP ratio and heads). :func:`build` turns it into the chapter-11 :class:`~efftx_mini.vision.ViT` whose
blocks are Pre-LN blocks of the book, one per layer with that layer's heads and width.

Every architecture gets FLOPs per image (``torch.utils.flop_counter``, 2 per multiply-add, and in closed form),
trainable parameters and a measured latency (:func:`measure_latency`: randomised interleaved rounds of
:mod:`efftx_mini.timing`, so that every model of one comparison is timed under the same conditions).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from .. import pick
from ..blocks import get_block
from ..timing import time_interleaved
from ..vision import ViT, count_flops, parameters

__all__ = ["Arch", "SearchSpace", "space_for", "build", "arch_flops", "closed_form_flops", "arch_params",
           "measure_latency"]


@dataclass(frozen=True)
class Arch:
    """One ViT of the space: patch size, width d, and per block its heads and MLP ratio (depth = len(heads))."""

    patch: int
    d_model: int
    heads: tuple[int, ...]
    mlp_ratios: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.heads) != len(self.mlp_ratios) or not self.heads:
            raise ValueError(f"heads and mlp_ratios need one entry per block (depth ≥ 1), got {len(self.heads)} "
                             f"and {len(self.mlp_ratios)}")
        for h in self.heads:
            if self.d_model % h:
                raise ValueError(f"every block's heads must divide d_model={self.d_model}, got heads={self.heads}")

    @property
    def depth(self) -> int:
        return len(self.heads)

    @property
    def key(self) -> str:
        """A short, unique, readable name, e.g. ``p7-d48-h2.4-r2.1`` (two blocks)."""
        return (f"p{self.patch}-d{self.d_model}-h{'.'.join(map(str, self.heads))}"
                f"-r{'.'.join(map(str, self.mlp_ratios))}")

    @classmethod
    def from_key(cls, key: str) -> Arch:
        """The inverse of :attr:`key`."""
        try:
            p, d, h, r = key.split("-")
            return cls(int(p[1:]), int(d[1:]), tuple(int(x) for x in h[1:].split(".")),
                       tuple(int(x) for x in r[1:].split(".")))
        except (ValueError, IndexError) as e:
            raise ValueError(f"not an architecture key (like 'p7-d48-h2.4-r2.1'): {key!r}") from e

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "depth": self.depth, "key": self.key}


@dataclass(frozen=True)
class SearchSpace:
    """The choices per dimension (AutoFormer samples depth, then per block heads and MLP ratio, then d)."""

    patches: tuple[int, ...]
    d_models: tuple[int, ...]
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    mlp_ratios: tuple[int, ...]
    image_size: int = 28
    channels: int = 1
    n_classes: int = 10

    def __post_init__(self) -> None:
        for p in self.patches:
            if self.image_size % p:
                raise ValueError(f"patch size {p} does not divide the image size {self.image_size}")
        for d in self.d_models:
            for h in self.heads:
                if d % h:
                    raise ValueError(f"every head choice must divide every width, got d={d}, heads={h}")

    def size(self) -> int:
        """Number of distinct architectures: |patch|·|d|·Σ_L (|heads|·|ratio|)^L."""
        per_block = len(self.heads) * len(self.mlp_ratios)
        return len(self.patches) * len(self.d_models) * sum(per_block ** L for L in self.depths)

    def contains(self, arch: Arch) -> bool:
        return (arch.patch in self.patches and arch.d_model in self.d_models and arch.depth in self.depths
                and all(h in self.heads for h in arch.heads) and all(r in self.mlp_ratios for r in arch.mlp_ratios))

    def check(self, arch: Arch) -> Arch:
        if not self.contains(arch):
            raise ValueError(f"{arch.key} is not in the space {self}")
        return arch

    def sample(self, rng: random.Random) -> Arch:
        """One architecture drawn uniformly per dimension (AutoFormer's ``get_random_cand``)."""
        depth = rng.choice(self.depths)
        heads = tuple(rng.choice(self.heads) for _ in range(depth))
        ratios = tuple(rng.choice(self.mlp_ratios) for _ in range(depth))
        return Arch(rng.choice(self.patches), rng.choice(self.d_models), heads, ratios)

    def sample_many(self, n: int, seed: int) -> list[Arch]:
        """``n`` distinct architectures from a seeded sampler (the same list for the same seed)."""
        if n > self.size():
            raise ValueError(f"asked for {n} distinct architectures, the space has only {self.size()}")
        rng, seen, out = random.Random(seed), set(), []
        while len(out) < n:
            a = self.sample(rng)
            if a not in seen:
                seen.add(a)
                out.append(a)
        return out

    @property
    def largest(self) -> Arch:
        """The supernet's shape: the widest, deepest member with the most heads and the widest MLPs."""
        L = max(self.depths)
        return Arch(min(self.patches), max(self.d_models), (max(self.heads),) * L, (max(self.mlp_ratios),) * L)


def space_for(preset: str) -> SearchSpace:
    """The space per preset: ``cpu`` has 3·4·Σ_{L=1..4} 9^L ≈ 88,000 members; ``gpu`` is deeper and wider."""
    return SearchSpace(
        patches=pick(smoke=(7, 14), cpu=(4, 7, 14), gpu=(4, 7, 14), preset=preset),
        d_models=pick(smoke=(8, 16), cpu=(16, 32, 48, 64), gpu=(32, 64, 96, 128, 192), preset=preset),
        depths=pick(smoke=(1, 2), cpu=(1, 2, 3, 4), gpu=(2, 3, 4, 5, 6), preset=preset),
        heads=pick(smoke=(1, 2), cpu=(1, 2, 4), gpu=(2, 4, 8), preset=preset),
        mlp_ratios=pick(smoke=(1, 2), cpu=(1, 2, 4), gpu=(2, 3, 4), preset=preset),
    )


def build(arch: Arch, space: SearchSpace) -> ViT:
    """The chapter-11 ViT (class token, learned positions, Pre-LN blocks) with block i of width ratio_i·d and
    heads_i heads."""
    space.check(arch)
    d = arch.d_model
    model = ViT(space.image_size, arch.patch, space.channels, space.n_classes, d, arch.depth, arch.heads[0],
                arch.mlp_ratios[0] * d)
    cls = get_block("pre-ln")
    model.blocks = nn.ModuleList(cls(d, h, r * d, causal=False, layer_idx=i, n_layers=arch.depth)
                                 for i, (h, r) in enumerate(zip(arch.heads, arch.mlp_ratios, strict=True)))
    return model


def _probe(space: SearchSpace, batch: int = 2) -> torch.Tensor:
    return torch.zeros(batch, space.channels, space.image_size, space.image_size)


def arch_flops(arch: Arch, space: SearchSpace) -> int:
    """Forward FLOPs per image counted by ``torch.utils.flop_counter`` (matmuls and the patch convolution; 2 FLOPs
    per multiply-add)."""
    return count_flops(build(arch, space), _probe(space))


def closed_form_flops(arch: Arch, space: SearchSpace) -> int:
    """The same count in closed form (chapter 11's ``vit_flops`` with one width per block): patch embedding
    2·N·P²·C·d, per block T·(8d² + 4d·d_ff) + 4T²·d, head 2·d·K, with T = N + 1 tokens."""
    N, d = (space.image_size // arch.patch) ** 2, arch.d_model
    T = N + 1
    blocks = sum(T * (8 * d * d + 4 * d * r * d) + 4 * T * T * d for r in arch.mlp_ratios)
    return 2 * N * arch.patch**2 * space.channels * d + blocks + 2 * d * space.n_classes


def arch_params(arch: Arch, space: SearchSpace) -> int:
    """Trainable parameters of the standalone model."""
    return parameters(build(arch, space))


@torch.no_grad()
def measure_latency(models: Mapping[str, nn.Module], images: torch.Tensor, *, repeats: int = 15, warmup: int = 2,
                    seed: int = 0) -> dict[str, dict[str, float]]:
    """Seconds per forward pass of ``images`` for every model, all timed in the same randomised interleaved rounds
    (:func:`efftx_mini.timing.time_interleaved`, one thread as the caller set it): median, min and max per name."""
    for m in models.values():
        m.eval()
    fns = {k: (lambda m=m: m(images)) for k, m in models.items()}
    t = time_interleaved(fns, repeats=repeats, warmup=warmup, seed=seed)
    return {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in t.items()}
