"""Rank correlation with honest intervals: Kendall's τ-b and Spearman's ρ, signed, with percentile-bootstrap
95% intervals over architectures, paired differences between two proxies, and τ's standard error under the
null hypothesis of no association, Var τ = 2(2n+5) / (9n(n−1)) (Kendall 1938; Kendall & Gibbons 1990, §4).

Signed: a proxy that ranks the wrong way gets a negative τ (Abdelfattah et al.'s notebooks report |ρ|).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["kendall_tau", "spearman_rho", "ranks", "RankCorr", "rank_correlation", "paired_difference",
           "tau_null_se", "CI_LEVEL"]

CI_LEVEL = 0.95


def _pair(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise ValueError(f"need two 1-D sequences of the same length ≥ 2, got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("rank correlation needs finite values (a proxy returned NaN or inf)")
    return a, b


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """τ-b = (C − D) / √((n0 − n1)(n0 − n2)) over all pairs (ties in x: n1 pairs, in y: n2 pairs); O(n²)."""
    a, b = _pair(x, y)
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(a.size, k=1)
    s = float((sa * sb)[iu].sum())  # C − D
    n0 = iu[0].size
    n1 = float((sa[iu] == 0).sum())
    n2 = float((sb[iu] == 0).sum())
    den = math.sqrt((n0 - n1) * (n0 - n2))
    return s / den if den > 0 else float("nan")


def ranks(x: Sequence[float]) -> np.ndarray:
    """Ranks 1…n, ties given their average rank."""
    a = np.asarray(x, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    r = np.empty(a.size)
    r[order] = np.arange(1, a.size + 1)
    for v in np.unique(a):
        m = a == v
        if m.sum() > 1:
            r[m] = r[m].mean()
    return r


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """ρ = Pearson correlation of the (average) ranks."""
    a, b = _pair(x, y)
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum()) / den if den > 0 else float("nan")


def tau_null_se(n: int) -> float:
    """Standard error of τ under no association: √(2(2n+5) / (9n(n−1))); 0.0997 at n = 48."""
    if n < 2:
        raise ValueError(f"n must be ≥ 2, got {n}")
    return math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))


@dataclass(frozen=True)
class RankCorr:
    """τ and ρ with their 95% percentile-bootstrap intervals over the n architectures."""

    tau: float
    tau_lo: float
    tau_hi: float
    rho: float
    rho_lo: float
    rho_hi: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def __str__(self) -> str:
        return f"τ = {self.tau:+.2f} [{self.tau_lo:+.2f}, {self.tau_hi:+.2f}]"


def _boot(stat: Callable[[np.ndarray], float], n: int, n_boot: int, seed: int) -> np.ndarray:
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    vals = np.array([stat(i) for i in idx])
    return vals[np.isfinite(vals)]


def rank_correlation(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                     level: float = CI_LEVEL) -> RankCorr:
    """Signed τ and ρ of x against y, with percentile-bootstrap intervals (architectures resampled, seeded)."""
    a, b = _pair(x, y)
    q = [(1 - level) / 2, (1 + level) / 2]
    t = _boot(lambda i: kendall_tau(a[i], b[i]), a.size, n_boot, seed)
    r = _boot(lambda i: spearman_rho(a[i], b[i]), a.size, n_boot, seed)
    (tl, th), (rl, rh) = np.quantile(t, q), np.quantile(r, q)
    return RankCorr(kendall_tau(a, b), float(tl), float(th), spearman_rho(a, b), float(rl), float(rh), a.size)


def paired_difference(x1: Sequence[float], x2: Sequence[float], y: Sequence[float], *, n_boot: int = 2000,
                      seed: int = 0, level: float = CI_LEVEL) -> tuple[float, float, float]:
    """τ(x1, y) − τ(x2, y) and its 95% interval, both τ computed on the same bootstrap resample each time."""
    a1, b = _pair(x1, y)
    a2, _ = _pair(x2, y)
    d = _boot(lambda i: kendall_tau(a1[i], b[i]) - kendall_tau(a2[i], b[i]), b.size, n_boot, seed)
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return kendall_tau(a1, b) - kendall_tau(a2, b), float(lo), float(hi)
