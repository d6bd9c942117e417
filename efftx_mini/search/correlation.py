"""Rank correlation with honest intervals: Kendall's τ-b and Spearman's ρ, signed, with percentile-bootstrap
95% intervals over architectures, paired differences between two proxies, and τ's standard error under the
null hypothesis of no association, Var τ = 2(2n+5) / (9n(n−1)) (Kendall 1938; Kendall & Gibbons 1990, §4).

Signed: a proxy that ranks the wrong way gets a negative τ (Abdelfattah et al.'s notebooks report |ρ|).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["kendall_tau", "spearman_rho", "ranks", "RankCorr", "rank_correlation", "paired_difference",
           "bootstrap_taus", "tau_null_se", "CI_LEVEL"]

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


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _tau_rows(x: np.ndarray, y: np.ndarray, chunk: int = 256) -> np.ndarray:
    """τ-b of every row pair x[b], y[b] (B, n), vectorised; NaN where a row is constant."""
    n = x.shape[1]
    iu = np.triu_indices(n, k=1)
    out = np.empty(x.shape[0])
    for s in range(0, x.shape[0], chunk):
        a, b = x[s:s + chunk], y[s:s + chunk]
        sa = np.sign(a[:, iu[0]] - a[:, iu[1]])
        sb = np.sign(b[:, iu[0]] - b[:, iu[1]])
        n0 = iu[0].size
        den = np.sqrt((n0 - (sa == 0).sum(1)) * (n0 - (sb == 0).sum(1)).astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + chunk] = np.where(den > 0, (sa * sb).sum(1) / np.where(den > 0, den, 1.0), np.nan)
    return out


def _rank_rows(x: np.ndarray) -> np.ndarray:
    """Average ranks 1…n of every row: #smaller + (#equal + 1) / 2."""
    less = (x[:, None, :] < x[:, :, None]).sum(2)
    equal = (x[:, None, :] == x[:, :, None]).sum(2)
    return less + (equal + 1) / 2


def _rho_rows(x: np.ndarray, y: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Spearman's ρ of every row pair, vectorised; NaN where a row is constant."""
    out = np.empty(x.shape[0])
    for s in range(0, x.shape[0], chunk):
        ra, rb = _rank_rows(x[s:s + chunk]), _rank_rows(y[s:s + chunk])
        ra, rb = ra - ra.mean(1, keepdims=True), rb - rb.mean(1, keepdims=True)
        den = np.sqrt((ra**2).sum(1) * (rb**2).sum(1))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + chunk] = np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), np.nan)
    return out


def _interval(vals: np.ndarray, level: float) -> tuple[float, float]:
    vals = vals[np.isfinite(vals)]
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_taus(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """τ on each of ``n_boot`` resamples of the architectures; the same ``seed`` gives the same resamples, so the
    arrays of two proxies are paired and their difference is the paired bootstrap of τ_1 − τ_2."""
    a, b = _pair(x, y)
    idx = _resamples(a.size, n_boot, seed)
    return _tau_rows(a[idx], b[idx])


def rank_correlation(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                     level: float = CI_LEVEL) -> RankCorr:
    """Signed τ and ρ of x against y, with percentile-bootstrap intervals (architectures resampled, seeded)."""
    a, b = _pair(x, y)
    idx = _resamples(a.size, n_boot, seed)
    tl, th = _interval(_tau_rows(a[idx], b[idx]), level)
    rl, rh = _interval(_rho_rows(a[idx], b[idx]), level)
    return RankCorr(kendall_tau(a, b), tl, th, spearman_rho(a, b), rl, rh, a.size)


def paired_difference(x1: Sequence[float], x2: Sequence[float], y: Sequence[float], *, n_boot: int = 2000,
                      seed: int = 0, level: float = CI_LEVEL) -> tuple[float, float, float]:
    """τ(x1, y) − τ(x2, y) and its 95% interval, both τ computed on the same bootstrap resample each time."""
    a1, b = _pair(x1, y)
    a2, _ = _pair(x2, y)
    idx = _resamples(b.size, n_boot, seed)
    lo, hi = _interval(_tau_rows(a1[idx], b[idx]) - _tau_rows(a2[idx], b[idx]), level)
    return kendall_tau(a1, b) - kendall_tau(a2, b), lo, hi
