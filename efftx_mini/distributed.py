"""Data-parallel training under ``torchrun`` without a launcher of our own (PyTorch DDP, Li et al. 2020).

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; a plain ``python`` run has none and is rank 0 of 1.
With WORLD_SIZE > 1 :func:`init` starts the process group (NCCL on CUDA, Gloo on CPU); each rank takes
its slice of every global batch (:func:`shard`), gradients are averaged by DistributedDataParallel,
and only rank 0 writes files.

Experiments made of independent runs share the runs out instead (:func:`share`): every rank trains its share and
writes each run to its own file, and rank 0 waits for all the files (:func:`wait_for`) and merges them into the
same results files a single process writes. A killed rank loses only its unfinished run: rerunning the same
command skips every run on disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["DistInfo", "info", "init", "shard", "share", "wait_for", "all_reduce_mean", "barrier", "cleanup"]

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def info() -> DistInfo:
    """Rank, world size and local rank from the environment torchrun sets (defaults 0, 1, 0)."""
    env = os.environ
    return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def init() -> DistInfo:
    """Start the default process group when WORLD_SIZE > 1 (idempotent) and pin this rank's GPU."""
    d = info()
    if d.enabled and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(d.local_rank)
        dist.init_process_group(backend=backend)
    return d


def shard(t: Tensor, d: DistInfo) -> Tensor:
    """This rank's rows of a global batch (B, …): rows rank, rank + W, … ; B must divide by W."""
    if t.shape[0] % d.world_size:
        raise ValueError(f"global batch {t.shape[0]} must be divisible by world size {d.world_size}")
    return t[d.rank:: d.world_size]


def share(items: Sequence[T], d: DistInfo) -> list[T]:
    """This rank's items of a list of independent runs: items rank, rank + W, … (all of them when W = 1)."""
    return list(items[d.rank:: d.world_size])


def wait_for(paths: Iterable[str | os.PathLike[str]], timeout_s: float = 86_400.0, poll_s: float = 2.0) -> bool:
    """Wait until every path exists (the other ranks' runs); False after ``timeout_s`` seconds."""
    paths = [Path(p) for p in paths]
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


def all_reduce_mean(x: Tensor, d: DistInfo) -> Tensor:
    """Mean of x over ranks (x itself when not distributed)."""
    if not d.enabled:
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / d.world_size


def barrier(d: DistInfo) -> None:
    if d.enabled and dist.is_initialized():
        dist.barrier()


def cleanup(d: DistInfo) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
