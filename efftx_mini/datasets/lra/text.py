"""Byte-level Text and Retrieval tasks from the Python standard library's source (offline, no download).

LRA (Tay et al. 2021, §2.2.2–§2.2.3) uses IMDb reviews (byte-level sentiment) and the ACL Anthology Network
(do two papers cite each other?). We keep the form — bytes as tokens, long inputs, one label — on text that
every Python installation ships:

- **Text**: which package of the standard library does a window of bytes come from (``asyncio``, ``email``,
  ``tkinter`` or ``xml``; 4 classes, balanced)?
- **Retrieval**: do two windows come from the same file (2 classes, balanced)? Two-tower, as in LRA.

Files are split by file, so no file is in two splits: within each top-level folder, files sorted by crc32 of
their path go in turn to test, test, valid and then seven times train (test 20 %, valid 10 %, train 70 %).
Token ids: byte b ↦ b + 1 (0 is PAD).
"""

from __future__ import annotations

import random
import sysconfig
import zlib
from functools import lru_cache
from pathlib import Path

import torch

from ...corpus import stdlib_files
from ._task import LRATask, Split

__all__ = ["TEXT_CLASSES", "make_text", "make_retrieval", "file_split"]

TEXT_CLASSES: tuple[str, ...] = ("asyncio", "email", "tkinter", "xml")
_SPLITS = ("train", "valid", "test")


def file_split(rels: list[str]) -> dict[str, str]:
    """{relative path: split}: per top-level folder, by rank in crc32 order (20 % test, 10 % valid, 70 % train)."""
    groups: dict[str, list[str]] = {}
    for rel in rels:
        groups.setdefault(rel.split("/")[0], []).append(rel)
    out = {}
    for group in groups.values():
        for rank, rel in enumerate(sorted(group, key=lambda r: (zlib.crc32(r.encode()), r))):
            out[rel] = "test" if rank % 10 < 2 else "valid" if rank % 10 < 3 else "train"
    return out


@lru_cache(maxsize=2)
def _files(root: str) -> dict[str, list[tuple[str, bytes]]]:
    """{split: [(relative path, bytes)]} of stdlib files with at least 1 KB."""
    out: dict[str, list[tuple[str, bytes]]] = {s: [] for s in _SPLITS}
    data = {rel.as_posix(): (Path(root) / rel).read_bytes() for rel in stdlib_files(root)}
    data = {rel: d for rel, d in data.items() if len(d) >= 1024}
    for rel, split in file_split(sorted(data)).items():
        out[split].append((rel, data[rel]))
    return out


def _root(root: str | Path | None) -> str:
    return str(root if root is not None else sysconfig.get_paths()["stdlib"])


def _window(rng: random.Random, data: bytes, T: int) -> torch.Tensor:
    start = rng.randrange(0, max(1, len(data) - T + 1))
    chunk = data[start:start + T]
    x = torch.zeros(T, dtype=torch.long)
    x[: len(chunk)] = torch.frombuffer(bytearray(chunk), dtype=torch.uint8).long() + 1
    return x


def _text_split(files: list[tuple[str, bytes]], n_per_class: int, T: int, rng: random.Random, order_seed: int,
                what: str) -> Split:
    xs, ys = [], []
    for c, pkg in enumerate(TEXT_CLASSES):
        pool = [d for rel, d in files if rel.split("/")[0] == pkg]
        if not pool:
            raise ValueError(f"no {what} files of package {pkg!r}")
        for _ in range(n_per_class):
            xs.append(_window(rng, rng.choice(pool), T))
            ys.append(c)
    order = torch.randperm(len(ys), generator=torch.Generator().manual_seed(order_seed))
    return Split(torch.stack(xs)[order], torch.tensor(ys)[order])


def make_text(n_per_class: dict[str, int], T: int, *, seed: int = 0, root: str | Path | None = None) -> LRATask:
    """``n_per_class[split]`` windows of T bytes per class; label = index of the package in TEXT_CLASSES.

    The task's sampler draws fresh windows from the training files (n per call, classes in turn).
    """
    files = _files(_root(root))
    splits = {split: _text_split(files[split], n_per_class[split], T, random.Random(seed * 1000 + si),
                                 seed * 1000 + si, f"{split} (under {_root(root)})")
              for si, split in enumerate(_SPLITS)}

    def sampler(draw: int, size: int) -> Split:
        per = -(-size // len(TEXT_CLASSES))
        s = _text_split(files["train"], per, T, random.Random(f"text-{seed}-{draw}"), seed * 7919 + draw, "train")
        return Split(s.x[:size], s.y[:size])

    return LRATask("text", splits, 257, len(TEXT_CLASSES), T, info={"classes": list(TEXT_CLASSES), "seed": seed},
                   sampler=sampler)


def _pairs(pool: list[bytes], n: int, T: int, rng: random.Random, order_seed: int) -> Split:
    """n pairs (N, 2, T), label 1 = two disjoint windows of one file (its two halves), 0 = two different files."""
    xs, ys = [], []
    for i in range(n):
        same = i % 2 == 1
        a = rng.randrange(len(pool))
        if same:
            half = len(pool[a]) // 2
            first, second = pool[a][:half], pool[a][half:]
            pair = [_window(rng, first, T), _window(rng, second, T)]
        else:
            b = rng.randrange(len(pool) - 1)
            b += b >= a
            pair = [_window(rng, pool[a], T), _window(rng, pool[b], T)]
        xs.append(torch.stack(pair))
        ys.append(int(same))
    order = torch.randperm(len(ys), generator=torch.Generator().manual_seed(order_seed))
    return Split(torch.stack(xs)[order], torch.tensor(ys)[order])


def make_retrieval(n: dict[str, int], T: int, *, seed: int = 0, root: str | Path | None = None) -> LRATask:
    """``n[split]`` pairs (N, 2, T) of byte windows; label 1 = same file (two disjoint windows), 0 = different.

    The task's sampler draws fresh pairs from the training files.
    """
    files = _files(_root(root))
    pools = {}
    for split in _SPLITS:
        pools[split] = [d for _, d in files[split] if len(d) >= 2 * T]
        if len(pools[split]) < 2:
            raise ValueError(f"need at least two {split} files of {2 * T}+ bytes for retrieval, "
                             f"got {len(pools[split])}")
    splits = {split: _pairs(pools[split], n[split], T, random.Random(seed * 1000 + 17 + si), seed * 1000 + 17 + si)
              for si, split in enumerate(_SPLITS)}

    def sampler(draw: int, size: int) -> Split:
        return _pairs(pools["train"], size, T, random.Random(f"retrieval-{seed}-{draw}"), seed * 7919 + draw)

    return LRATask("retrieval", splits, 257, 2, T, dual=True, info={"seed": seed}, sampler=sampler)
