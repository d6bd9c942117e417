"""Timing for the benchmarks and chapters: randomised interleaved rounds, paired ratios, bootstrap intervals.

The book's rule for a speed claim (every ``bench`` and every chapter follows it):

1. Contenders run in *rounds*; a round times each contender once, in an order shuffled afresh per round
   (seeded), so that drifts in clock speed or load, and any advantage of going first or last, hit every
   contender alike.
2. A ratio between two contenders is *paired* per round (their times from the same round); it is summarised by
   the median of the per-round ratios and a 95% percentile-bootstrap confidence interval of that median.
3. An *A/A control* times the same work twice under two names (``aa_control=``); its ratio's interval is the
   noise floor of this machine at this moment.
4. A speed-up is claimed only where the ratio's interval lies wholly above 1.0 and the A/A interval contains
   1.0 (:func:`verdict`). Min–max and the interquartile range are kept in the results files too, but min–max is
   the machine's noise, not a confidence statement.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from .provenance import git_commit, hardware

__all__ = [
    "synchronize", "time_interleaved", "Spread", "spread", "ratio_spread", "bootstrap_ci", "median_times",
    "verdict", "aa_name", "hardware", "git_commit", "print_table", "CI_LEVEL",
]

CI_LEVEL = 0.95
N_BOOT = 4000


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so that a wall-clock reading covers the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def bootstrap_ci(samples: Sequence[float], level: float = CI_LEVEL, n_boot: int = N_BOOT,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median of ``samples`` (seeded, so reproducible)."""
    if not samples:
        raise ValueError("bootstrap_ci needs at least one sample, got none")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    xs = np.asarray(samples, dtype=np.float64)
    if xs.size == 1:
        return float(xs[0]), float(xs[0])
    idx = np.random.default_rng(seed).integers(0, xs.size, size=(n_boot, xs.size))
    meds = np.median(xs[idx], axis=1)
    lo, hi = np.quantile(meds, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Spread:
    """Repeated measurements: median, its 95% bootstrap interval (ci_lo, ci_hi), min–max and quartiles."""

    median: float
    lo: float  # min
    hi: float  # max
    q1: float
    q3: float
    n: int
    ci_lo: float
    ci_hi: float

    def as_dict(self, prefix: str = "") -> dict[str, float | int]:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, object], prefix: str = "") -> Spread:
        """The inverse of :meth:`as_dict`: rebuild a stored spread from the ``prefix``-ed keys of ``d``."""
        missing = [f"{prefix}{f.name}" for f in fields(cls) if f"{prefix}{f.name}" not in d]
        if missing:
            raise KeyError(f"no stored spread under prefix {prefix!r}: missing {missing}")
        return cls(**{f.name: d[f"{prefix}{f.name}"] for f in fields(cls)})  # type: ignore[arg-type]

    def robust_above(self, threshold: float = 1.0) -> bool:
        """True when the median's whole confidence interval lies above ``threshold``."""
        return self.ci_lo > threshold

    def robust_below(self, threshold: float = 1.0) -> bool:
        """True when the median's whole confidence interval lies below ``threshold``."""
        return self.ci_hi < threshold

    def contains(self, value: float = 1.0) -> bool:
        """True when ``value`` lies inside the confidence interval (ends included)."""
        return self.ci_lo <= value <= self.ci_hi

    def __str__(self) -> str:
        return f"{self.median:.3g} [{self.ci_lo:.3g}–{self.ci_hi:.3g}]"


def spread(samples: Sequence[float], seed: int = 0) -> Spread:
    """Median with its bootstrap interval, min, max and quartiles of ``samples`` (at least one)."""
    if not samples:
        raise ValueError("spread needs at least one sample, got none")
    xs = sorted(float(s) for s in samples)
    if len(xs) >= 2:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        q1 = q3 = xs[0]
    ci_lo, ci_hi = bootstrap_ci(xs, seed=seed)
    return Spread(statistics.median(xs), xs[0], xs[-1], q1, q3, len(xs), ci_lo, ci_hi)


def ratio_spread(num: Sequence[float], den: Sequence[float], seed: int = 0) -> Spread:
    """Spread of the per-round ratios num[i] / den[i] (paired: both timed in the same round).

    With times, ``ratio_spread(t_ref, t_new)`` is the speed-up of ``new`` over ``ref``.
    """
    if len(num) != len(den) or not num:
        raise ValueError(f"ratio_spread needs two equally long, non-empty sample lists, got {len(num)} and {len(den)}")
    return spread([a / b for a, b in zip(num, den, strict=True)], seed=seed)


def aa_name(name: str) -> str:
    """The key under which :func:`time_interleaved` stores the A/A copy of contender ``name``."""
    return f"{name} (A/A)"


def verdict(ratio: Spread, aa: Spread | None) -> str:
    """'faster', 'slower', 'within noise' or 'noisy machine' for a speed ratio (>1 = faster), by the book's rule.

    A speed-up (or slow-down) counts only where the ratio's 95% interval excludes 1.0 and the A/A control's
    interval (the same work timed twice) contains 1.0; without an A/A control nothing is claimed.
    """
    if aa is None:
        return "within noise (no A/A control)"
    if not aa.contains(1.0):
        return "noisy machine (A/A interval excludes 1)"
    if ratio.robust_above(1.0):
        return "faster"
    if ratio.robust_below(1.0):
        return "slower"
    return "within noise"


def time_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2,
    device: torch.device | None = None, shuffle: bool = True, seed: int = 0, aa_control: str | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each fn, one list per fn with one entry per round.

    Every round times each fn once, in an order shuffled per round (``shuffle=False`` keeps the given order).
    ``aa_control=name`` adds the A/A control: fn ``name`` timed a second time per round under
    :func:`aa_name` (name).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    fns = dict(fns)
    if aa_control is not None:
        if aa_control not in fns:
            raise ValueError(f"aa_control must name one of {sorted(fns)}, got {aa_control!r}")
        fns[aa_name(aa_control)] = fns[aa_control]
    device = device or torch.device("cpu")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    synchronize(device)
    rng = random.Random(seed)
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        order = rng.sample(names, len(names)) if shuffle else names
        for name in order:
            fn = fns[name]
            synchronize(device)
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            samples[name].append(time.perf_counter() - t0)
    return samples


def median_times(
    fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Median seconds per call of each fn (randomised interleaved rounds; see :func:`time_interleaved`)."""
    return {k: statistics.median(v) for k, v in time_interleaved(fns, repeats, warmup, device).items()}


class MarkdownTable(str):
    """A Markdown table as text that Jupyter renders as a table (``_repr_markdown_``)."""

    def _repr_markdown_(self) -> str:
        return str(self)


def print_table(rows: Sequence[dict[str, object]], columns: Sequence[str], show: bool = True) -> MarkdownTable:
    """Rows as a Markdown table, shown when ``show`` (rendered in a notebook, printed in a terminal) and returned."""
    def fmt(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    text = MarkdownTable("\n".join(lines))
    if show:
        _show(text)
    return text


def _show(text: MarkdownTable) -> None:
    """Display as a rendered table inside a Jupyter kernel, print elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython is installed with the book
        print(text)
        return
    shell = get_ipython()
    if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell":
        display(Markdown(str(text)))
    else:
        print(text)
