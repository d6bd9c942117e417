"""Atomic, checksummed checkpoints and the random-number-generator states that make a resume exact.

A file is ``MAGIC | sha256(payload) | payload`` where the payload is ``torch.save`` of plain types and
tensors, read back with ``torch.load(..., weights_only=True)``. Saving writes a temporary file in the same
directory, fsyncs it and ``os.replace``s it over the old one, so a crash leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "get_rng_state", "set_rng_state"]

MAGIC = b"EFFTXCKPT1\n"
_DIGEST = 32


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be trusted (missing, truncated, corrupt or of the wrong format)."""

    def __init__(self, path: str | os.PathLike[str], cause: str) -> None:
        super().__init__(f"cannot load checkpoint {os.fspath(path)!r}: {cause}")
        self.path, self.cause = os.fspath(path), cause


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` atomically: temporary file in the same directory → fsync → os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; any defect raises :class:`CheckpointError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CheckpointError(path, f"cannot read file ({e.strerror or e})") from e
    head = len(MAGIC) + _DIGEST
    if len(data) < head or not data.startswith(MAGIC):
        raise CheckpointError(path, f"not an efftx_mini checkpoint or truncated header ({len(data)} bytes)")
    digest, payload = data[len(MAGIC) : head], data[head:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(path, f"checksum mismatch: the file is truncated or corrupt ({len(data)} bytes)")
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - reported with its cause
        raise CheckpointError(path, f"torch.load failed: {type(e).__name__}: {e}") from e
    if not isinstance(state, dict):
        raise CheckpointError(path, f"expected a dict, got {type(state).__name__}")
    return state


def get_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU (and CUDA) generator states as tensors and plain types."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": {"version": version, "mt": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["mt"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
