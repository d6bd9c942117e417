"""MobileViT (Mehta & Rastegari 2022, "MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision
Transformer", §3.1, Fig. 1b): a block that encodes local information with an n×n convolution and a point-wise
convolution to width d, *unfolds* the map into P = h·w sequences of N = HW/P patches — sequence p holds the pixel
at position p of every patch — runs transformer layers on each sequence, *folds* back, projects to C channels and
fuses the result with the block's input (concatenation + n×n convolution). Between blocks sit MobileNetV2
inverted residuals (Sandler et al. 2018), the "MV2" blocks of the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .._checks import shape_str
from ..blocks import get_block
from .patches import check_images

__all__ = ["unfold_patches", "fold_patches", "conv_bn", "InvertedResidual", "MobileViTBlock", "MobileViT"]


def unfold_patches(x: Tensor, patch: int) -> Tensor:
    """(B, d, H, W) → (B·P, N, d) with P = patch², N = HW/P: sequence (b, p) holds pixel p of each of the N patches."""
    if x.dim() != 4:
        raise ValueError(f"x must have shape (B, d, H, W), got {shape_str(x.shape)}")
    if x.shape[-2] % patch or x.shape[-1] % patch:
        raise ValueError(f"the map {x.shape[-2]}×{x.shape[-1]} is not divisible by the patch size {patch}")
    return rearrange(x, "b d (nh ph) (nw pw) -> (b ph pw) (nh nw) d", ph=patch, pw=patch)


def fold_patches(seq: Tensor, patch: int, size: tuple[int, int]) -> Tensor:
    """(B·P, N, d) → (B, d, H, W): the inverse of :func:`unfold_patches`."""
    H, W = size
    return rearrange(seq, "(b ph pw) (nh nw) d -> b d (nh ph) (nw pw)", ph=patch, pw=patch, nh=H // patch)


def conv_bn(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1,
            act: bool = True) -> nn.Sequential:
    """Conv (no bias) → BatchNorm → SiLU (the paper's Swish) when ``act``."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MV2: 1×1 expand (×t) → 3×3 depthwise (stride s) → 1×1 project, skip when s = 1 and C_in = C_out."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, expand: int = 2) -> None:
        super().__init__()
        hidden = c_in * expand
        self.block = nn.Sequential(conv_bn(c_in, hidden), conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                   conv_bn(hidden, c_out, act=False))
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x) if self.skip else self.block(x)


class MobileViTBlock(nn.Module):
    """(B, C, H, W) → same: local n×n conv → 1×1 conv to d → unfold → L transformer layers (the book's Pre-LN
    block) + LayerNorm → fold → 1×1 conv to C → fuse: n×n conv of [input; output] (§3.1, Fig. 1b)."""

    def __init__(self, channels: int, d: int, depth: int = 2, n_heads: int = 2, d_ff: int | None = None,
                 patch: int = 2, kernel: int = 3, block: str = "pre-ln") -> None:
        super().__init__()
        self.channels, self.d, self.patch = channels, d, patch
        self.local = nn.Sequential(conv_bn(channels, channels, kernel), nn.Conv2d(channels, d, 1, bias=False))
        cls = get_block(block)
        self.layers = nn.ModuleList(cls(d, n_heads, d_ff or 2 * d, causal=False, layer_idx=i, n_layers=depth)
                                    for i in range(depth))
        self.norm = nn.LayerNorm(d)
        self.proj = conv_bn(d, channels)
        self.fusion = conv_bn(2 * channels, channels, kernel)

    def global_rep(self, y: Tensor) -> Tensor:
        """(B, d, H, W) → same: unfold, the transformer layers on each pixel-position sequence, norm, fold."""
        seq = unfold_patches(y, self.patch)
        for layer in self.layers:
            seq = layer(seq)
        return fold_patches(self.norm(seq), self.patch, (y.shape[-2], y.shape[-1]))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must have shape (B, {self.channels}, H, W), got {shape_str(x.shape)}")
        y = self.proj(self.global_rep(self.local(x)))
        return self.fusion(torch.cat([x, y], dim=1))


class MobileViT(nn.Module):
    """images (B, C, H, W) → logits, the layout of Fig. 1b / Table 4 at toy size: optional zero padding, a 3×3
    stride-2 stem, an MV2 block, then per stage an MV2 block with stride 2 followed by a MobileViT block
    (2×2 patches; none where the stage's depth is 0), a 1×1 convolution, global average pooling and a linear
    classifier."""

    def __init__(self, image_size: int = 28, in_channels: int = 1, n_classes: int = 10, pad: int = 2,
                 channels: tuple[int, ...] = (8, 16, 32), dims: tuple[int, ...] = (32, 32),
                 depths: tuple[int, ...] = (2, 0), n_heads: int = 2, patch: int = 2, expand: int = 2,
                 head_channels: int | None = None) -> None:
        super().__init__()
        if not len(channels) == len(dims) + 1 == len(depths) + 1:
            raise ValueError(f"channels needs one more entry (the stem) than dims and depths, got {channels}, "
                             f"{dims}, {depths}")
        size = image_size + 2 * pad
        if size % (2 ** len(channels) * patch // 2):
            raise ValueError(f"the padded image ({size}) must halve {len(channels)} times into maps divisible by the "
                             f"patch size {patch}")
        self.image_size, self.in_channels, self.n_classes, self.pad = image_size, in_channels, n_classes, pad
        self.stem = nn.Sequential(conv_bn(in_channels, channels[0], 3, 2), InvertedResidual(channels[0], channels[0],
                                                                                             1, expand))
        self.stages = nn.ModuleList(
            nn.Sequential(InvertedResidual(channels[s], channels[s + 1], 2, expand),
                          *([MobileViTBlock(channels[s + 1], d, L, n_heads, 2 * d, patch)] if L else []))
            for s, (d, L) in enumerate(zip(dims, depths, strict=True)))
        head_channels = head_channels or 2 * channels[-1]
        self.final = conv_bn(channels[-1], head_channels)
        self.head = nn.Linear(head_channels, n_classes)
        self.sizes = [size // 2 ** (s + 2) for s in range(len(dims))]  # map size in each stage

    def forward(self, images: Tensor) -> Tensor:
        x = check_images(images, self.in_channels, self.image_size)
        if self.pad:
            x = F.pad(x, (self.pad,) * 4)
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(self.final(x).mean(dim=(-2, -1)))

    def flops(self) -> int:
        """Closed-form forward FLOPs per image (convolutions and matmuls, 2 per multiply-add)."""
        def conv(seq: nn.Sequential, out_size: int) -> int:
            c = seq[0]
            return 2 * out_size * out_size * c.out_channels * (c.in_channels // c.groups) * c.kernel_size[0] ** 2

        def mv2(block: InvertedResidual, in_size: int) -> int:
            a, b, c = block.block
            out = in_size // b[0].stride[0]
            return conv(a, in_size) + conv(b, out) + conv(c, out)

        s0 = (self.image_size + 2 * self.pad) // 2
        total = conv(self.stem[0], s0) + mv2(self.stem[1], s0)
        size = s0
        for stage in self.stages:
            total += mv2(stage[0], size)
            size //= 2
            if len(stage) == 1:  # a stage without a MobileViT block
                continue
            blk = stage[1]
            T, d = size * size, blk.d
            total += conv(blk.local[0], size) + 2 * T * blk.channels * d
            n = T // blk.patch ** 2  # tokens per sequence
            for layer in blk.layers:
                total += T * (8 * d * d + 4 * d * layer.d_ff) + 4 * T * n * d
            total += conv(blk.proj, size) + conv(blk.fusion, size)
        total += conv(self.final, size)
        return total + 2 * self.head.in_features * self.n_classes
