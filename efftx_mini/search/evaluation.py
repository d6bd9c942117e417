"""How well a proxy ranks architectures: signed τ and ρ against the trained accuracy with 95% bootstrap intervals,
the paired difference to the #params baseline, the stability of a proxy across initialisations, and the
seed-to-seed agreement, approximately the ceiling (Abdelfattah et al. 2021, §4, report Spearman's ρ; we report both,
signed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .correlation import CI_LEVEL, bootstrap_taus, kendall_tau, rank_correlation, tau_null_se

__all__ = ["proxy_correlations", "pairwise_differences", "seed_ceiling"]


def _columns(archs: Sequence[dict[str, Any]], proxies: Sequence[dict[str, Any]], names: Sequence[str], target: str,
             init: int) -> tuple[list[str], list[float], dict[str, list[float]]]:
    acc = {r["arch"]: r[target] for r in archs}
    at = {r["arch"]: r for r in proxies if r["init"] == init}
    keys = [r["arch"] for r in archs if r["arch"] in at]
    return keys, [acc[k] for k in keys], {n: [at[k][n] for k in keys] for n in names}


def _interval(d: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    d = d[np.isfinite(d)]
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def proxy_correlations(archs: Sequence[dict[str, Any]], proxies: Sequence[dict[str, Any]], names: Sequence[str], *,
                       target: str = "test_acc_mean", init: int = 0, baseline: str = "params",
                       n_boot: int = 2000) -> list[dict[str, Any]]:
    """One row per proxy: τ, ρ and their intervals against ``target``; τ − τ(baseline) with its paired interval;
    τ between the proxy at ``init`` and at another init (its stability), when present."""
    keys, y, cols = _columns(archs, proxies, [*names, baseline], target, init)
    other = sorted({r["init"] for r in proxies} - {init})
    at2 = {r["arch"]: r for r in proxies if other and r["init"] == other[0]}
    base = bootstrap_taus(cols[baseline], y, n_boot=n_boot)
    rows = []
    for name in names:
        rc = rank_correlation(cols[name], y, n_boot=n_boot)
        row: dict[str, Any] = {"proxy": name, **rc.as_dict(), "null_se": tau_null_se(len(keys))}
        if name != baseline:
            lo, hi = _interval(bootstrap_taus(cols[name], y, n_boot=n_boot) - base)
            row.update({"vs_baseline": rc.tau - kendall_tau(cols[baseline], y), "vs_baseline_lo": lo,
                        "vs_baseline_hi": hi})
        if at2:
            row["init_tau"] = kendall_tau(cols[name], [at2[k][name] for k in keys])
        rows.append(row)
    return rows


def pairwise_differences(archs: Sequence[dict[str, Any]], proxies: Sequence[dict[str, Any]], names: Sequence[str], *,
                         target: str = "test_acc_mean", init: int = 0, n_boot: int = 2000,
                         level: float = CI_LEVEL) -> dict[tuple[str, str], tuple[float, float, float]]:
    """{(a, b): (τ_a − τ_b, lo, hi)} for every ordered pair of proxies, each interval from paired resamples: a
    difference is real (at ``level``) where its interval excludes 0. Each interval is for one pair; for m pairs
    read together, pass ``level = 1 − 0.05/m`` (Bonferroni)."""
    _, y, cols = _columns(archs, proxies, names, target, init)
    taus = {n: kendall_tau(cols[n], y) for n in names}
    boots = {n: bootstrap_taus(cols[n], y, n_boot=n_boot) for n in names}
    out = {}
    for a in names:
        for b in names:
            if a != b:
                out[a, b] = (taus[a] - taus[b], *_interval(boots[a] - boots[b], level))
    return out


def seed_ceiling(archs: Sequence[dict[str, Any]], seeds: Sequence[int], metric: str = "test_acc",
                 n_boot: int = 2000) -> dict[str, float]:
    """τ and ρ between the accuracies of two training seeds (with intervals): how far a perfect proxy could
    agree with one noisy training run."""
    a, b = seeds[:2]
    return rank_correlation([r[f"{metric}_s{a}"] for r in archs], [r[f"{metric}_s{b}"] for r in archs],
                            n_boot=n_boot).as_dict()
