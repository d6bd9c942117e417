"""efftx_mini.timing: summaries against hand-computed values, paired ratios, bootstrap intervals, A/A, errors."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from efftx_mini.timing import (
    Spread,
    aa_name,
    bootstrap_ci,
    print_table,
    ratio_spread,
    spread,
    time_interleaved,
    verdict,
)


def test_spread_against_hand_values() -> None:
    s = spread([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (s.median, s.lo, s.hi, s.q1, s.q3, s.n) == (3.0, 1.0, 5.0, 2.0, 4.0, 5)
    assert 1.0 <= s.ci_lo <= s.median <= s.ci_hi <= 5.0
    assert spread([7.0]).as_dict("t_") == {"t_median": 7.0, "t_lo": 7.0, "t_hi": 7.0, "t_q1": 7.0, "t_q3": 7.0,
                                           "t_n": 1, "t_ci_lo": 7.0, "t_ci_hi": 7.0}


def test_spread_round_trips_through_a_stored_dict() -> None:
    s = ratio_spread([1.2, 1.1, 1.3, 1.25], [1.0] * 4)
    row = {"block": "x", **s.as_dict("speed_"), **spread([1.0, 0.9]).as_dict("speed_aa_")}
    assert Spread.from_dict(row, "speed_") == s and Spread.from_dict(row, "speed_aa_") == spread([1.0, 0.9])
    with pytest.raises(KeyError, match="missing"):
        Spread.from_dict({"speed_median": 1.0}, "speed_")


def test_bootstrap_ci_against_a_direct_resampling() -> None:
    xs = [1.0, 1.1, 0.9, 1.3, 1.2, 0.95, 1.05, 1.4, 1.15]
    lo, hi = bootstrap_ci(xs, n_boot=4000, seed=3)
    rng = np.random.default_rng(3)  # the same draws, written out as a loop
    meds = sorted(statistics.median(xs[i] for i in rng.integers(0, len(xs), len(xs))) for _ in range(4000))
    assert lo == pytest.approx(float(np.quantile(meds, 0.025))) and hi == pytest.approx(float(np.quantile(meds, 0.975)))
    assert bootstrap_ci(xs, seed=3) == bootstrap_ci(xs, seed=3)  # seeded: reproducible
    narrow, wide = bootstrap_ci(xs, level=0.5), bootstrap_ci(xs, level=0.99)
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]


def test_ratio_spread_is_paired_per_round() -> None:
    r = ratio_spread([2.0, 4.0, 9.0], [1.0, 2.0, 3.0])  # ratios 2, 2, 3
    assert (r.median, r.lo, r.hi) == (2.0, 2.0, 3.0)
    assert r.robust_above(1.0) and not ratio_spread([0.9, 1.2], [1.0, 1.0]).robust_above(1.0)
    # a constant 2x ratio under wildly varying load: paired rounds cancel the load
    load = [1.0, 5.0, 0.3, 2.0, 9.0, 0.7]
    r = ratio_spread([2 * x for x in load], load)
    assert (r.ci_lo, r.ci_hi) == (2.0, 2.0)


def test_verdict_needs_a_clean_aa_control() -> None:
    fast = ratio_spread([1.5, 1.6, 1.55, 1.58, 1.52], [1.0] * 5)
    slow = ratio_spread([0.7, 0.72, 0.69, 0.71, 0.7], [1.0] * 5)
    tie = ratio_spread([0.9, 1.1, 1.0, 0.95, 1.05], [1.0] * 5)
    aa_ok = ratio_spread([0.98, 1.02, 1.0, 0.99, 1.01], [1.0] * 5)
    aa_bad = ratio_spread([1.2, 1.25, 1.22, 1.3, 1.21], [1.0] * 5)  # identical work timed 20% apart: noise
    assert verdict(fast, aa_ok) == "faster" and verdict(slow, aa_ok) == "slower"
    assert verdict(tie, aa_ok) == "within noise"
    assert verdict(fast, aa_bad).startswith("noisy machine") and verdict(fast, None).startswith("within noise")


def test_time_interleaved_runs_in_rounds_in_shuffled_order() -> None:
    calls: list[str] = []
    out = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b"),
                            "c": lambda: calls.append("c")}, repeats=30, warmup=1)
    assert calls[:3] == ["a", "b", "c"]  # warm-up in the given order
    rounds = [calls[3 + 3 * i: 6 + 3 * i] for i in range(30)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)  # every round times each contender once
    assert len({tuple(r) for r in rounds}) > 1  # the order changes between rounds
    assert {k: len(v) for k, v in out.items()} == {"a": 30, "b": 30, "c": 30}
    calls.clear()
    time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=0,
                     shuffle=False)
    assert calls == ["a", "b"] * 3


def test_aa_control_times_the_same_work_twice() -> None:
    calls: list[str] = []
    out = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4, warmup=0,
                           aa_control="a")
    assert set(out) == {"a", "b", aa_name("a")} and len(out[aa_name("a")]) == 4
    assert calls.count("a") == 8 and calls.count("b") == 4


def test_print_table_returns_a_markdown_table() -> None:
    t = print_table([{"x": 1, "y": 0.123456}], ["x", "y"], show=False)
    assert str(t).splitlines() == ["| x | y |", "|---|---|", "| 1 | 0.1235 |"]
    assert t._repr_markdown_() == str(t)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        spread([])
    with pytest.raises(ValueError, match="2 and 1"):
        ratio_spread([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="repeats=0"):
        time_interleaved({"a": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match="aa_control must name one of"):
        time_interleaved({"a": lambda: None}, aa_control="b")
    with pytest.raises(ValueError, match="level must be in"):
        bootstrap_ci([1.0, 2.0], level=1.5)
