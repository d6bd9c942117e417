"""Timing for the benchmarks and chapters: interleaved repeats, medians and their spread.

Contenders run interleaved (a, b, c, a, b, c, …) so that drifts in clock speed or load hit every one alike;
a repeat *round* times each contender once, so ratios between two contenders are paired per round and
their spread (min–max, interquartile range) says whether a speed-up is robust: claim one only where the
whole range clears 1.0.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from .provenance import git_commit, hardware

__all__ = [
    "synchronize", "time_interleaved", "Spread", "spread", "ratio_spread", "median_times", "hardware",
    "git_commit", "print_table",
]


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so that a wall-clock reading covers the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class Spread:
    """Summary of repeated measurements: median with min–max and interquartile range."""

    median: float
    lo: float  # min
    hi: float  # max
    q1: float
    q3: float
    n: int

    def as_dict(self, prefix: str = "") -> dict[str, float | int]:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}

    def robust_above(self, threshold: float = 1.0) -> bool:
        """True when the whole measured range lies above ``threshold`` (a speed-up one may claim)."""
        return self.lo > threshold

    def __str__(self) -> str:
        return f"{self.median:.3g} [{self.lo:.3g}–{self.hi:.3g}]"


def spread(samples: Sequence[float]) -> Spread:
    """Median, min, max and quartiles of ``samples`` (at least one)."""
    if not samples:
        raise ValueError("spread needs at least one sample, got none")
    xs = sorted(float(s) for s in samples)
    if len(xs) >= 2:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1 = q3 = xs[0]
    return Spread(statistics.median(xs), xs[0], xs[-1], q1, q3, len(xs))


def time_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2,
    device: torch.device | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each fn, one list per fn with one entry per repeat round (interleaved)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
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
    return samples


def ratio_spread(num: Sequence[float], den: Sequence[float]) -> Spread:
    """Spread of the per-round ratios num[i] / den[i] (paired: both timed in the same round)."""
    if len(num) != len(den) or not num:
        raise ValueError(f"ratio_spread needs two equally long, non-empty sample lists, got {len(num)} and {len(den)}")
    return spread([a / b for a, b in zip(num, den, strict=True)])


def median_times(
    fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Median seconds per call of each fn (interleaved repeats; see :func:`time_interleaved`)."""
    return {k: statistics.median(v) for k, v in time_interleaved(fns, repeats, warmup, device).items()}


def print_table(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> str:
    """Render rows as a Markdown table (returned and printed)."""
    def fmt(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    return text
