"""efftx_mini.timing: summaries against hand-computed values, paired ratios, errors."""

from __future__ import annotations

import pytest

from efftx_mini.timing import ratio_spread, spread, time_interleaved


def test_spread_against_hand_values() -> None:
    s = spread([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (s.median, s.lo, s.hi, s.q1, s.q3, s.n) == (3.0, 1.0, 5.0, 2.0, 4.0, 5)
    assert spread([7.0]).as_dict("t_") == {"t_median": 7.0, "t_lo": 7.0, "t_hi": 7.0, "t_q1": 7.0, "t_q3": 7.0,
                                           "t_n": 1}


def test_ratio_spread_is_paired_per_round() -> None:
    r = ratio_spread([2.0, 4.0, 9.0], [1.0, 2.0, 3.0])  # ratios 2, 2, 3
    assert (r.median, r.lo, r.hi) == (2.0, 2.0, 3.0)
    assert r.robust_above(1.0) and not ratio_spread([0.9, 1.2], [1.0, 1.0]).robust_above(1.0)


def test_time_interleaved_runs_in_rounds() -> None:
    calls: list[str] = []
    out = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert {k: len(v) for k, v in out.items()} == {"a": 3, "b": 3}


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        spread([])
    with pytest.raises(ValueError, match="2 and 1"):
        ratio_spread([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="repeats=0"):
        time_interleaved({"a": lambda: None}, repeats=0)
