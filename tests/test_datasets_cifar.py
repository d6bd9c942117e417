"""The CIFAR-10 reader on a tiny synthetic copy in the standard Python format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from efftx_mini.datasets import cifar10_root, load_cifar10


def _write(folder: Path, n_per_batch: int = 10) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        with (folder / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, f)
        arrays[name] = data
        arrays[name + "_labels"] = np.array(labels)
    return arrays


def test_reader_layout_splits_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = _write(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("EFFTX_DATA", str(tmp_path))
    assert cifar10_root() == tmp_path / "cifar-10-batches-py"
    train, valid, test = (load_cifar10(s) for s in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (45, 5, 10)
    assert train.images.shape == (45, 3, 32, 32) and train.images.dtype == torch.float32
    raw = arrays["data_batch_1"][3]
    # channel-major: value 0 is red (0, 0), value 1024 is green (0, 0), value 1024 + 32 is green (1, 0)
    assert train.images[3, 0, 0, 0] == raw[0] / 255.0
    assert train.images[3, 1, 0, 0] == raw[1024] / 255.0
    assert train.images[3, 1, 1, 0] == raw[1024 + 32] / 255.0
    assert torch.equal(test.labels, torch.from_numpy(arrays["test_batch_labels"]))
    assert torch.equal(valid.labels, torch.from_numpy(arrays["data_batch_5_labels"][5:]))


def test_missing_or_bad_files_get_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EFFTX_DATA", raising=False)
    assert cifar10_root() is None
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batches"):
        load_cifar10("train", root=tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        load_cifar10("dev", root=tmp_path)
    folder = tmp_path / "bad"
    _write(folder)
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        load_cifar10("test", root=folder)
