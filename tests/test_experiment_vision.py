"""The vision experiment at smoke size: results files with provenance, resumable, DeiT needs its teacher."""

from __future__ import annotations

from pathlib import Path

import pytest

from efftx_mini.experiments import vision as experiment


def test_smoke_run_writes_results_and_resumes(tmp_path: Path) -> None:
    res = experiment.run("smoke", tmp_path, ["cnn", "deit"])
    agg = {(r["variant"], r["n_train"]): r for r in res["aggregate"]}
    assert set(agg) == {("cnn", 4000), ("deit", 4000), ("cnn", 64)}
    assert all(r["seeds"] == 3 for r in agg.values())
    assert agg["cnn", 4000]["test_acc_min"] <= agg["cnn", 4000]["test_acc_mean"] <= agg["cnn", 4000]["test_acc_max"]
    loaded = experiment.load_results(tmp_path)
    assert loaded["meta"]["command"].startswith("python -m efftx_mini.experiments.vision")
    assert {"commit", "hardware", "preset"} <= set(loaded["meta"])
    assert len(loaded["runs"]) == 9 and loaded["curves"]
    first = (tmp_path / "run_deit_n4000_s0.json").read_text()
    again = experiment.run("smoke", tmp_path, ["cnn", "deit"])  # resumes: nothing is retrained
    assert (tmp_path / "run_deit_n4000_s0.json").read_text() == first
    assert again["aggregate"] == res["aggregate"]


def test_bad_variants() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        experiment.run("smoke", "/nonexistent", ["resnet"])
    with pytest.raises(ValueError, match="include 'cnn'"):
        experiment.run("smoke", "/nonexistent", ["deit"])


def test_bench_vision_rows_and_ratios() -> None:
    from efftx_mini.bench import vision as bench

    res = bench.run("smoke", batch=4, repeats=1, warmup=0, names=["vit", "cnn"])
    rows = {r["variant"]: r for r in res["rows"]}
    assert rows["vit"]["fwd_speed_vs_vit"] == 1.0 and rows["cnn"]["fwd_images_per_s"] > 0
    assert rows["vit"]["flops"] > 0 and {"commit", "hardware"} <= set(res["meta"])
    with pytest.raises(ValueError, match="unknown variant"):
        bench.run("smoke", names=["resnet"])
