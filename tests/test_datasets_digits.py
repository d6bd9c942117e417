"""The shipped digits: real images, fixed class-balanced splits that never overlap."""

from __future__ import annotations

import pytest
import torch

from efftx_mini.datasets import DIGIT_SPLITS, load_digits


def test_splits_are_balanced_disjoint_and_fixed() -> None:
    seen: dict[bytes, str] = {}
    for split, per_class in DIGIT_SPLITS.items():
        d = load_digits(split)
        assert d.images.shape == (10 * per_class, 28, 28) and d.images.dtype == torch.float32
        assert torch.bincount(d.labels, minlength=10).tolist() == [per_class] * 10
        assert 0.0 <= float(d.images.min()) and float(d.images.max()) <= 1.0
        for img in d.images:
            key = img.numpy().tobytes()
            assert seen.setdefault(key, split) == split, "an image appears in two splits"
        again = load_digits(split)
        assert torch.equal(again.images, d.images) and torch.equal(again.labels, d.labels)


def test_images_are_digits_not_noise() -> None:
    """Real strokes: most pixels are background, and the mean image of 1s is narrower than that of 0s."""
    d = load_digits("valid")
    assert float((d.images == 0).float().mean()) > 0.7
    ones, zeros = d.images[d.labels == 1].mean(0), d.images[d.labels == 0].mean(0)
    assert float((ones > 0.2).sum()) < float((zeros > 0.2).sum())


def test_unknown_split_is_named() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        load_digits("training")
