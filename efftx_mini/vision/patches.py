"""An image as a sequence of patches: x_p^i E (Dosovitskiy et al. 2021, §3.1, Eq. 1).

The image (B, C, H, W) is cut into N = HW/P² non-overlapping P×P patches, each flattened to P²·C numbers and
projected by one matrix E (P²·C, d). A convolution with kernel = stride = P computes exactly the same thing;
:class:`PatchEmbedding` stores E as that convolution and :meth:`PatchEmbedding.forward_linear` computes the
reshape + matmul form with the same weights, so the two can be checked against each other.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from .._checks import check_float, shape_str

__all__ = ["check_images", "patchify", "unpatchify", "PatchEmbedding", "grid_tokens", "tokens_grid"]


def check_images(x: object, channels: int, image_size: int | None = None, patch: int | None = None,
                 name: str = "images") -> Tensor:
    """A float (B, C, H, W) batch with the expected channels, optional square size and patch divisibility."""
    x = check_float(x, name)
    if x.dim() == 3 and channels == 1:
        raise ValueError(f"{name} must have shape (B, 1, H, W), got {shape_str(x.shape)}; add the channel "
                         "dimension with images[:, None]")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W) (4 dims), got {shape_str(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), shape (B, {channels}, H, W), "
                         f"got {shape_str(x.shape)} with {x.shape[1]} channel(s)")
    H, W = x.shape[-2:]
    if image_size is not None and (H, W) != (image_size, image_size):
        raise ValueError(f"{name} must be {image_size}×{image_size}, got {H}×{W} (shape {shape_str(x.shape)})")
    if patch is not None and (H % patch or W % patch):
        raise ValueError(f"image size {H}×{W} is not divisible by the patch size {patch}")
    return x


def patchify(x: Tensor, patch: int) -> Tensor:
    """(B, C, H, W) → (B, N, P²·C), patches in row-major order, each flattened as (P, P, C)."""
    if isinstance(patch, bool) or not isinstance(patch, int) or patch <= 0:
        raise ValueError(f"patch must be a positive int, got {patch!r}")
    x = check_float(x, "images")
    if x.dim() != 4:
        raise ValueError(f"images must have shape (B, C, H, W) (4 dims), got {shape_str(x.shape)}")
    check_images(x, x.shape[1], patch=patch)
    return rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch, p2=patch)


def unpatchify(p: Tensor, patch: int, grid: tuple[int, int], channels: int = 1) -> Tensor:
    """(B, N, P²·C) → (B, C, H, W): the inverse of :func:`patchify`."""
    return rearrange(p, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=grid[0], w=grid[1], p1=patch, p2=patch,
                     c=channels)


class PatchEmbedding(nn.Module):
    """(B, C, H, W) → (B, N, d): x_p^i E + b for every patch i, as a Conv2d with kernel = stride = P."""

    def __init__(self, image_size: int, patch: int, in_channels: int, d_model: int) -> None:
        super().__init__()
        for name, v in (("image_size", image_size), ("patch", patch), ("in_channels", in_channels),
                        ("d_model", d_model)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if image_size % patch:
            raise ValueError(f"image size {image_size} is not divisible by the patch size {patch}")
        self.image_size, self.patch, self.in_channels, self.d_model = image_size, patch, in_channels, d_model
        self.grid = (image_size // patch, image_size // patch)
        self.n_patches = self.grid[0] * self.grid[1]
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        x = check_images(x, self.in_channels, self.image_size, self.patch)
        return rearrange(self.proj(x), "b d h w -> b (h w) d")

    def matrix(self) -> Tensor:
        """E as a (P²·C, d) matrix in :func:`patchify`'s (p1, p2, c) order (shares the conv's storage)."""
        return rearrange(self.proj.weight, "d c p1 p2 -> (p1 p2 c) d")

    def forward_linear(self, x: Tensor) -> Tensor:
        """The same map written as Eq. 1: patchify, then one matmul with E and the bias."""
        x = check_images(x, self.in_channels, self.image_size, self.patch)
        return patchify(x, self.patch) @ self.matrix() + self.proj.bias

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, patch={self.patch}, grid={self.grid}, d_model={self.d_model}"


def grid_tokens(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """(B, h·w, d) → (B, d, h, w) for convolutions on the token grid."""
    return rearrange(x, "b (h w) d -> b d h w", h=grid[0], w=grid[1])


def tokens_grid(x: Tensor) -> Tensor:
    """(B, d, h, w) → (B, h·w, d)."""
    return rearrange(x, "b d h w -> b (h w) d")

