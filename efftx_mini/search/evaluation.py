"""How well a proxy ranks architectures: signed τ and ρ against the trained accuracy with 95% bootstrap intervals,
the paired difference to the #params baseline, the stability of a proxy across initialisations, and the
seed-to-seed ceiling (Abdelfattah et al. 2021, §4, report Spearman's ρ; we report both, signed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .correlation import kendall_tau, paired_difference, rank_correlation, tau_null_se

__all__ = ["proxy_correlations", "seed_ceiling"]


def proxy_correlations(archs: Sequence[dict[str, Any]], proxies: Sequence[dict[str, Any]], names: Sequence[str], *,
                       target: str = "test_acc_mean", init: int = 0, baseline: str = "params",
                       n_boot: int = 2000) -> list[dict[str, Any]]:
    """One row per proxy: τ, ρ and their intervals against ``target``; τ − τ(baseline) with its paired interval;
    τ between the proxy at ``init`` and at another init (its stability), when present."""
    acc = {r["arch"]: r[target] for r in archs}
    at = {r["arch"]: r for r in proxies if r["init"] == init}
    keys = [r["arch"] for r in archs if r["arch"] in at]
    y = [acc[k] for k in keys]
    other = sorted({r["init"] for r in proxies} - {init})
    at2 = {r["arch"]: r for r in proxies if other and r["init"] == other[0]}
    rows = []
    for name in names:
        x = [at[k][name] for k in keys]
        rc = rank_correlation(x, y, n_boot=n_boot)
        row: dict[str, Any] = {"proxy": name, **rc.as_dict(), "null_se": tau_null_se(len(keys))}
        if name != baseline:
            d, lo, hi = paired_difference(x, [at[k][baseline] for k in keys], y, n_boot=n_boot)
            row.update({"vs_baseline": d, "vs_baseline_lo": lo, "vs_baseline_hi": hi})
        if at2:
            row["init_tau"] = kendall_tau(x, [at2[k][name] for k in keys])
        rows.append(row)
    return rows


def seed_ceiling(archs: Sequence[dict[str, Any]], seeds: Sequence[int], metric: str = "test_acc",
                 n_boot: int = 2000) -> dict[str, float]:
    """τ and ρ between the accuracies of two training seeds (with intervals): how far a perfect proxy could
    agree with one noisy training run."""
    a, b = seeds[:2]
    return rank_correlation([r[f"{metric}_s{a}"] for r in archs], [r[f"{metric}_s{b}"] for r in archs],
                            n_boot=n_boot).as_dict()
