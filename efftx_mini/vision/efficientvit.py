"""EfficientViT (Liu et al. 2023, "EfficientViT: Memory Efficient Vision Transformer with Cascaded Group
Attention", §3): a *sandwich* block — depthwise-conv token interaction and FFN before and after one attention
layer, DWConv → FFN → CGA → DWConv → FFN, each with a skip (§3.1, Eq. 1) — and *cascaded group attention* (§3.1,
Eqs. 2–3): head j sees only its own split X_ij of the channels, plus the output of head j − 1,

    X̃_ij = Attn(X'_ij W^Q_ij, X'_ij W^K_ij, X'_ij W^V_ij),   X'_ij = X_ij + X̃_i(j−1),
    X̃_{i+1} = Concat[X̃_ij]_{j=1..h} W^P_i,

with a depthwise convolution on each head's queries ("token interaction") and a learned bias per head and
per |Δy|, |Δx| offset inside the window (as LeViT and the authors' code). Feature maps are (B, C, H, W);
every projection is a 1×1 convolution followed by BatchNorm, as in the authors' code.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .._checks import shape_str
from .patches import check_images

__all__ = ["ConvBN", "offset_index", "CascadedGroupAttention", "LocalWindowAttention", "EfficientViTBlock",
           "EfficientViT"]


class ConvBN(nn.Sequential):
    """Conv2d without bias, then BatchNorm2d (``bn_weight_init=0`` starts a residual branch at zero)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 bn_weight_init: float = 1.0) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out))
        nn.init.constant_(self[1].weight, bn_weight_init)

    def flops(self, out_size: int) -> int:
        c = self[0]
        return 2 * out_size * out_size * c.out_channels * (c.in_channels // c.groups) * c.kernel_size[0] ** 2


def offset_index(window: int) -> Tensor:
    """(M², M²) long: an id per distinct (|Δy|, |Δx|) pair, numbered in order of first appearance."""
    points = list(itertools.product(range(window), range(window)))
    ids: dict[tuple[int, int], int] = {}
    out = [[ids.setdefault((abs(p[0] - q[0]), abs(p[1] - q[1])), len(ids)) for q in points] for p in points]
    return torch.tensor(out, dtype=torch.long)


class CascadedGroupAttention(nn.Module):
    """x (B, C, M, M) → (B, C, M, M): Eqs. 2–3 on one window; head j's input is its channel split plus head j−1's
    output. ``key_dim`` is the width of queries and keys; values (and so head outputs) are C/h wide."""

    def __init__(self, dim: int, key_dim: int, n_heads: int, window: int, kernel: int = 5) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"n_heads must divide dim, got dim={dim}, n_heads={n_heads}")
        self.dim, self.key_dim, self.n_heads, self.window = dim, key_dim, n_heads, window
        self.d_v = dim // n_heads  # so that head j's output can be added to split j + 1
        self.qkvs = nn.ModuleList(ConvBN(self.d_v, 2 * key_dim + self.d_v) for _ in range(n_heads))
        self.dws = nn.ModuleList(ConvBN(key_dim, key_dim, kernel, groups=key_dim) for _ in range(n_heads))
        self.proj = nn.Sequential(nn.ReLU(), ConvBN(self.d_v * n_heads, dim, bn_weight_init=0.0))
        idx = offset_index(window)
        self.biases = nn.Parameter(torch.zeros(n_heads, int(idx.max()) + 1))
        self.register_buffer("bias_index", idx, persistent=False)

    def head_qkv(self, j: int, feat: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Head j's queries (after the depthwise conv), keys (B, M², key_dim) and values (B, M², d_v)."""
        q, k, v = self.qkvs[j](feat).split([self.key_dim, self.key_dim, self.d_v], dim=1)
        q = self.dws[j](q)
        return tuple(rearrange(t, "b c h w -> b (h w) c") for t in (q, k, v))  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        if C != self.dim or (H, W) != (self.window, self.window):
            raise ValueError(f"x must have shape (B, {self.dim}, {self.window}, {self.window}), "
                             f"got {shape_str(x.shape)}")
        splits = x.chunk(self.n_heads, dim=1)
        bias = self.biases[:, self.bias_index]  # (h, M², M²)
        outs, feat = [], splits[0]
        for j in range(self.n_heads):
            if j > 0:
                feat = splits[j] + feat  # X'_ij = X_ij + X̃_i(j−1)
            q, k, v = self.head_qkv(j, feat)
            a = (q @ k.transpose(-1, -2) / math.sqrt(self.key_dim) + bias[j]).softmax(dim=-1)
            feat = rearrange(a @ v, "b (h w) c -> b c h w", h=H)  # X̃_ij
            outs.append(feat)
        return self.proj(torch.cat(outs, dim=1))

    def flops(self) -> int:
        T, kd, dv = self.window ** 2, self.key_dim, self.d_v
        per_head = 2 * T * dv * (2 * kd + dv) + 2 * T * kd * self.dws[0][0].kernel_size[0] ** 2 + 2 * T * T * (kd + dv)
        return self.n_heads * per_head + 2 * T * self.dim * self.dim


class LocalWindowAttention(nn.Module):
    """Cascaded group attention inside non-overlapping M×M windows of an R×R map (the whole map when R ≤ M); a map
    that does not split into windows is padded with zeros at the bottom and right, and cropped after (as the
    authors' code does)."""

    def __init__(self, dim: int, key_dim: int, n_heads: int, resolution: int, window: int = 7,
                 kernel: int = 5) -> None:
        super().__init__()
        self.resolution, self.window = resolution, min(window, resolution)
        self.n = math.ceil(resolution / self.window)  # windows per side
        self.attn = CascadedGroupAttention(dim, key_dim, n_heads, self.window, kernel)

    def forward(self, x: Tensor) -> Tensor:
        if self.window == self.resolution:
            return self.attn(x)
        M, n, R = self.window, self.n, self.resolution
        if n * M != R:
            x = F.pad(x, (0, n * M - R, 0, n * M - R))
        w = rearrange(x, "b c (nh m1) (nw m2) -> (b nh nw) c m1 m2", m1=M, m2=M)
        y = rearrange(self.attn(w), "(b nh nw) c m1 m2 -> b c (nh m1) (nw m2)", nh=n, nw=n)
        return y[:, :, :R, :R]

    def flops(self) -> int:
        return self.n ** 2 * self.attn.flops()


class _Residual(nn.Module):
    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: Tensor) -> Tensor:
        return x + self.m(x)


def _dw(dim: int) -> _Residual:
    """Token interaction: x + BN(DWConv3×3(x))."""
    return _Residual(ConvBN(dim, dim, 3, groups=dim, bn_weight_init=0.0))


def _ffn(dim: int, ratio: int = 2) -> _Residual:
    """x + ConvBN(ReLU(ConvBN(x))): the FFN as two 1×1 convolutions, hidden width ratio·dim."""
    return _Residual(nn.Sequential(ConvBN(dim, ratio * dim), nn.ReLU(), ConvBN(ratio * dim, dim, bn_weight_init=0.0)))


class EfficientViTBlock(nn.Module):
    """The sandwich layout (§3.1): DWConv → FFN → cascaded group attention → DWConv → FFN, each with a skip."""

    def __init__(self, dim: int, key_dim: int, n_heads: int, resolution: int, window: int = 7,
                 kernel: int = 5) -> None:
        super().__init__()
        self.dim, self.resolution = dim, resolution
        self.dw0, self.ffn0 = _dw(dim), _ffn(dim)
        self.mixer = _Residual(LocalWindowAttention(dim, key_dim, n_heads, resolution, window, kernel))
        self.dw1, self.ffn1 = _dw(dim), _ffn(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.ffn1(self.dw1(self.mixer(self.ffn0(self.dw0(x)))))

    def flops(self) -> int:
        R, d = self.resolution, self.dim
        dw = 2 * R * R * d * 9
        ffn = 2 * (2 * R * R * d * 2 * d)
        return 2 * dw + 2 * ffn + self.mixer.m.flops()


class _SqueezeExcite(nn.Module):
    """x · σ(W₂ ReLU(W₁ mean(x))) with a reduced width of ¼ (as timm's SqueezeExcite used by the authors)."""

    def __init__(self, c: int, ratio: float = 0.25) -> None:
        super().__init__()
        r = max(1, int(round(c * ratio)))
        self.reduce, self.expand = nn.Conv2d(c, r, 1), nn.Conv2d(r, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(s)


class _Subsample(nn.Module):
    """Between stages: DWConv + FFN, an inverted-residual patch merging (1×1 → DW 3×3 stride 2 → SE → 1×1),
    DWConv + FFN at the new width (the authors' ``down_ops``)."""

    def __init__(self, d_in: int, d_out: int, resolution: int) -> None:
        super().__init__()
        hid = 4 * d_in
        self.pre = nn.Sequential(_dw(d_in), _ffn(d_in))
        self.merge = nn.Sequential(ConvBN(d_in, hid), nn.ReLU(), ConvBN(hid, hid, 3, 2, groups=hid), nn.ReLU(),
                                   _SqueezeExcite(hid), ConvBN(hid, d_out))
        self.post = nn.Sequential(_dw(d_out), _ffn(d_out))
        self.r_in, self.r_out, self.d_in, self.d_out = resolution, (resolution - 1) // 2 + 1, d_in, d_out

    def forward(self, x: Tensor) -> Tensor:
        return self.post(self.merge(self.pre(x)))

    def flops(self) -> int:
        def sandwich(r: int, d: int) -> int:
            return 2 * r * r * d * 9 + 2 * (2 * r * r * d * 2 * d)
        a, b, c = self.merge[0], self.merge[2], self.merge[5]
        return (sandwich(self.r_in, self.d_in) + a.flops(self.r_in) + b.flops(self.r_out) + c.flops(self.r_out)
                + sandwich(self.r_out, self.d_out))


class EfficientViT(nn.Module):
    """images (B, C, H, W) → logits: overlapping conv patch embedding (3×3 stride-2 convolutions down to H/4),
    stages of sandwich blocks with subsampling between them, average pooling, BatchNorm + linear head."""

    def __init__(self, image_size: int = 28, in_channels: int = 1, n_classes: int = 10,
                 dims: tuple[int, ...] = (32, 64), key_dim: int = 8, depths: tuple[int, ...] = (1, 1),
                 heads: tuple[int, ...] = (2, 4), window: int = 7, kernel: int = 5) -> None:
        super().__init__()
        if not len(dims) == len(depths) == len(heads) or not dims:
            raise ValueError(f"dims, depths and heads need one entry per stage, got {dims}, {depths}, {heads}")
        if image_size % 4:
            raise ValueError(f"the patch embedding halves the image twice; image_size must be divisible by 4, "
                             f"got {image_size}")
        self.image_size, self.in_channels, self.n_classes = image_size, in_channels, n_classes
        self.stem = nn.Sequential(ConvBN(in_channels, dims[0] // 4, 3, 2), nn.ReLU(),
                                  ConvBN(dims[0] // 4, dims[0], 3, 2))
        r = image_size // 4
        self.resolutions: list[int] = []
        layers: list[nn.Module] = []
        for s, (d, L, h) in enumerate(zip(dims, depths, heads, strict=True)):
            if s > 0:
                sub = _Subsample(dims[s - 1], d, r)
                layers.append(sub)
                r = sub.r_out
            self.resolutions.append(r)
            layers += [EfficientViTBlock(d, key_dim, h, r, window, kernel) for _ in range(L)]
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm1d(dims[-1]), nn.Linear(dims[-1], n_classes))

    def forward(self, images: Tensor) -> Tensor:
        x = check_images(images, self.in_channels, self.image_size)
        return self.head(self.layers(self.stem(x)).mean(dim=(-2, -1)))

    def flops(self) -> int:
        """Closed-form forward FLOPs per image (convolutions and matmuls, 2 per multiply-add)."""
        s1, s2 = self.image_size // 2, self.image_size // 4
        total = self.stem[0].flops(s1) + self.stem[2].flops(s2)
        for m in self.layers:
            total += m.flops()  # type: ignore[operator]
        for m in self.modules():
            if isinstance(m, _SqueezeExcite):
                total += 2 * 2 * m.reduce.in_channels * m.reduce.out_channels
        return total + 2 * self.head[1].in_features * self.n_classes
