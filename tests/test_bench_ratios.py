"""efftx_mini.bench._ratios: the stored fields of a speed ratio, its A/A control and verdict, on planted timings."""

from __future__ import annotations

import pytest

from efftx_mini.bench._ratios import fmt_ratio, speed_fields, stored_verdict
from efftx_mini.timing import aa_name


def test_speed_fields_pair_rounds_and_apply_the_rule() -> None:
    load = [1.0, 4.0, 0.5, 2.0, 3.0]  # per-round load, shared by the contenders of a round
    samples = {"ref": load, aa_name("ref"): list(load), "new": [t / 2 for t in load]}
    f = speed_fields(samples, "ref", "new", "speed")
    assert (f["speed_median"], f["speed_ci_lo"], f["speed_ci_hi"], f["speed_n"]) == (2.0, 2.0, 2.0, 5)
    assert (f["speed_aa_median"], f["speed_aa_ci_lo"], f["speed_aa_ci_hi"]) == (1.0, 1.0, 1.0)
    assert f["speed_verdict"] == "faster" == stored_verdict(f, "speed")
    assert fmt_ratio(f, "speed") == "2.00 [2.00–2.00]" and fmt_ratio({}, "speed") == ""
    slow = speed_fields({**samples, "new": [t * 1.5 for t in load]}, "ref", "new", "speed")
    assert slow["speed_verdict"] == "slower"
    # the A/A copy ran 20% faster in every round: the machine's noise floor excludes 1, nothing is claimed
    noisy = speed_fields({**samples, aa_name("ref"): [t / 1.2 for t in load]}, "ref", "new", "speed")
    assert noisy["speed_verdict"].startswith("noisy machine") and noisy["speed_aa_median"] == pytest.approx(1.2)
    # the A/A may belong to another contender of the same rounds; without any, no claim
    other = speed_fields({"a": load, "b": [t / 2 for t in load], "c": load, aa_name("c"): load}, "a", "b", "r",
                         aa_ref="c")
    assert other["r_verdict"] == "faster" and other["r_aa_n"] == 5
    none = speed_fields({"a": load, "b": [t / 2 for t in load]}, "a", "b", "r")
    assert none["r_aa_median"] is None and none["r_verdict"].startswith("within noise")
    assert stored_verdict(none, "r") == none["r_verdict"]


def test_a_stored_verdict_that_does_not_follow_is_detected() -> None:
    load = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95]
    f = speed_fields({"ref": load, aa_name("ref"): load, "new": [t * w for t, w in zip(
        load, [0.9, 1.1, 1.05, 0.95, 1.02, 0.97], strict=True)]}, "ref", "new", "speed")
    assert f["speed_verdict"] == "within noise"
    f["speed_verdict"] = "faster"  # what a hand-edited results file would say
    assert stored_verdict(f, "speed") != f["speed_verdict"]
