"""A small convolutional baseline in the spirit of LeNet-5 (LeCun et al. 1998): two conv–ReLU–max-pool
stages and a linear classifier; ``model(images (B, C, H, W)) -> logits (B, K)`` like the transformers."""

from __future__ import annotations

from torch import Tensor, nn

from .patches import check_images

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """conv5×5(w) → ReLU → pool2 → conv5×5(2w) → ReLU → pool2 → linear (2w·(H/4)·(W/4) → hidden) → ReLU → linear."""

    def __init__(self, image_size: int = 28, in_channels: int = 1, n_classes: int = 10, width: int = 8,
                 hidden: int = 64) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"SmallCNN pools twice by 2; image_size must be divisible by 4, got {image_size}")
        self.image_size, self.in_channels = image_size, in_channels
        s = image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(2 * width * s * s, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, images: Tensor) -> Tensor:
        x = check_images(images, self.in_channels, self.image_size)
        return self.classifier(self.features(x))
