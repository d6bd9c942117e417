"""Timing helpers shared by the benchmarks: interleaved repeats, medians, device synchronisation."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch

from ..provenance import git_commit, hardware

__all__ = ["synchronize", "median_times", "hardware", "git_commit", "print_table"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_times(
    fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Median seconds per call of each fn; the fns run interleaved (a, b, c, a, b, c, …) so that
    drifts in clock speed or load hit every contender alike."""
    device = device or torch.device("cpu")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    synchronize(device)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(device)
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in samples.items()}


def print_table(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> str:
    """Render rows as a Markdown table (returned and printed)."""
    def fmt(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    return text
