"""A real corpus with nothing downloaded: the Python standard library's own source, as bytes.

``CodeCorpus`` reads every ``*.py`` file under ``sysconfig.get_paths()["stdlib"]`` of the running
interpreter, skipping test directories (``test``, ``tests``, ``idle_test``), ``site-packages`` and
``__pycache__``. Files are taken in sorted order of their relative paths and split by file: a file
goes to ``valid`` when crc32(relative path) mod 100 < ``valid_percent`` (default 5), else ``train``.
Each file is its bytes followed by one separator token (``SEP`` = 256). Tokens: bytes 0–255 plus
``SEP``, ``MASK`` and ``PAD``, so ``VOCAB_SIZE`` = 259 and one token is one byte (bits per token =
bits per byte). Licence: the CPython standard library is distributed under the PSF License Agreement
(Python Software Foundation License v2). Size on CPython 3.11.7 (measured on the book's build machine):
734 files, about 12.1 MB (679 train files / 11,261,952 tokens; 55 valid files / 857,423 tokens, separators
included); other Python versions give somewhat different numbers, which :meth:`CodeCorpus.stats` reports.
"""

from __future__ import annotations

import sysconfig
import zlib
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["CodeCorpus", "SEP", "MASK", "PAD", "VOCAB_SIZE", "stdlib_files"]

SEP, MASK, PAD = 256, 257, 258
VOCAB_SIZE = 259
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def stdlib_files(root: str | Path | None = None) -> list[Path]:
    """Sorted relative paths of the standard library's ``*.py`` files, test dirs and site-packages excluded."""
    root = Path(root if root is not None else sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise ValueError(f"stdlib root must be a directory, got {str(root)!r}")
    rel = [p.relative_to(root) for p in root.rglob("*.py") if p.is_file()]
    return sorted((r for r in rel if not _SKIP_DIRS.intersection(r.parts[:-1])), key=lambda r: r.as_posix())


class CodeCorpus:
    """Byte-level tokens of the stdlib source, split by file; ``batches`` yields (inputs, targets) windows."""

    def __init__(self, root: str | Path | None = None, valid_percent: int = 5, max_files: int | None = None) -> None:
        if not 0 < valid_percent < 100:
            raise ValueError(f"valid_percent must be in (0, 100), got {valid_percent}")
        self.root = Path(root if root is not None else sysconfig.get_paths()["stdlib"])
        files = stdlib_files(self.root)
        if max_files is not None:
            files = files[:max_files]
        parts: dict[str, list[bytes]] = {"train": [], "valid": []}
        self.files: dict[str, list[str]] = {"train": [], "valid": []}
        for rel in files:
            split = "valid" if zlib.crc32(rel.as_posix().encode()) % 100 < valid_percent else "train"
            parts[split].append((self.root / rel).read_bytes())
            self.files[split].append(rel.as_posix())
        self.tokens: dict[str, Tensor] = {}
        for split, blobs in parts.items():
            if not blobs:
                raise ValueError(f"split {split!r} is empty: {len(files)} files under {self.root}")
            chunks = []
            for b in blobs:
                chunks.append(torch.frombuffer(bytearray(b), dtype=torch.uint8).to(torch.int16) if b else
                              torch.empty(0, dtype=torch.int16))
                chunks.append(torch.tensor([SEP], dtype=torch.int16))
            self.tokens[split] = torch.cat(chunks)

    def stats(self) -> dict[str, int]:
        """Files and tokens (= bytes + one separator per file) per split."""
        return {"train_files": len(self.files["train"]), "valid_files": len(self.files["valid"]),
                "train_tokens": int(self.tokens["train"].numel()), "valid_tokens": int(self.tokens["valid"].numel())}

    def batch(self, split: str, batch: int, T: int, seed: int, index: int = 0) -> tuple[Tensor, Tensor]:
        """The ``index``-th batch of a seeded stream: inputs and next-byte targets, both (batch, T) long."""
        if split not in self.tokens:
            raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
        data = self.tokens[split]
        if T <= 0 or batch <= 0 or T + 1 > data.numel():
            raise ValueError(f"need batch > 0 and 0 < T < {data.numel()} for split {split!r}, got batch={batch}, T={T}")
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(index))
        starts = torch.randint(0, data.numel() - T - 1, (batch,), generator=g)
        win = data[starts[:, None] + torch.arange(T + 1)].long()  # (batch, T + 1)
        return win[:, :-1], win[:, 1:]

    def batches(self, split: str, batch: int, T: int, seed: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """Endless deterministic stream of (inputs, targets) (batch, T); batch i depends only on (seed, i)."""
        i = start
        while True:
            yield self.batch(split, batch, T, seed, i)
            i += 1
