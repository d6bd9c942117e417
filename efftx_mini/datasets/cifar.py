"""CIFAR-10 (Krizhevsky 2009) in its standard Python format, read from a local folder only — never downloaded.

Set ``EFFTX_DATA`` to a folder that holds ``cifar-10-batches-py/`` (or is that folder): ``data_batch_1`` …
``data_batch_5`` and ``test_batch``, each a pickled dict with ``b"data"`` (N, 3072) uint8 in channel-major
order (1,024 red, then green, then blue values, rows of 32) and ``b"labels"``. Only open files you trust:
the format is Python's pickle. Splits: ``train`` = the training batches without their last tenth,
``valid`` = that last tenth, ``test`` = ``test_batch``.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["ENV_VAR", "Cifar10", "cifar10_root", "load_cifar10"]

ENV_VAR = "EFFTX_DATA"
_FOLDER = "cifar-10-batches-py"


@dataclass(frozen=True)
class Cifar10:
    """One split: ``images`` (N, 3, 32, 32) float32 in [0, 1], ``labels`` (N,) int64 in 0…9."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def cifar10_root(root: str | Path | None = None) -> Path | None:
    """The folder with the CIFAR-10 batches under ``root`` or ``$EFFTX_DATA``, or None when there is none."""
    base = root if root is not None else os.environ.get(ENV_VAR)
    if not base:
        return None
    for folder in (Path(base) / _FOLDER, Path(base)):
        if (folder / "test_batch").is_file() and (folder / "data_batch_1").is_file():
            return folder
    return None


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open("rb") as f:
        d = pickle.load(f, encoding="bytes")
    data, labels = np.asarray(d[b"data"], dtype=np.uint8), np.asarray(d[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path}: expected b'data' of shape (N, 3072) and N labels, got {data.shape} and "
                         f"{len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(split: str = "train", root: str | Path | None = None) -> Cifar10:
    """The ``split`` ("train", "valid" or "test") of a local CIFAR-10 copy (see the module docstring)."""
    if split not in ("train", "valid", "test"):
        raise ValueError(f"split must be one of ['test', 'train', 'valid'], got {split!r}")
    folder = cifar10_root(root)
    if folder is None:
        raise FileNotFoundError(f"no CIFAR-10 batches ({_FOLDER}/data_batch_1 … test_batch) under "
                                f"{root if root is not None else '$' + ENV_VAR + '=' + os.environ.get(ENV_VAR, '')!r}")
    if split == "test":
        data, labels = _read_batch(folder / "test_batch")
    else:
        parts = [_read_batch(p) for p in sorted(folder.glob("data_batch_[1-5]"))]
        data, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        cut = len(data) - len(data) // 10
        data, labels = (data[:cut], labels[:cut]) if split == "train" else (data[cut:], labels[cut:])
    return Cifar10(images=torch.from_numpy(data.astype(np.float32) / 255.0), labels=torch.from_numpy(labels))
