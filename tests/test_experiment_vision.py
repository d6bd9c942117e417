"""The vision experiment at smoke size: results files with provenance, resumable, students need their teachers;
the vision benchmark's results follow efftx_mini.timing (shuffled rounds, bootstrap CI, A/A control, verdict)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from efftx_mini.experiments import vision as experiment


def test_smoke_run_writes_results_and_resumes(tmp_path: Path) -> None:
    res = experiment.run("smoke", tmp_path, ["deit-soft", "cnn", "deit"])
    agg = {(r["variant"], r["n_train"]): r for r in res["aggregate"]}
    assert set(agg) == {("cnn", 4000), ("deit", 4000), ("deit-soft", 4000), ("cnn", 64)}
    assert all(r["seeds"] == 3 for r in agg.values())
    runs = {(r["variant"], r["seed"]): r for r in experiment.load_results(tmp_path)["runs"] if r["n_train"] == 4000}
    for s in (0, 1, 2):  # the teacher of each DeiT is the CNN of its seed
        assert runs["deit", s]["teacher_test_acc"] == runs["cnn", s]["test_acc"]
        assert 0 <= runs["deit", s]["train_loss"] and 0 <= runs["deit", s]["train_acc"] <= 1
    assert agg["cnn", 4000]["test_acc_min"] <= agg["cnn", 4000]["test_acc_mean"] <= agg["cnn", 4000]["test_acc_max"]
    loaded = experiment.load_results(tmp_path)
    assert loaded["meta"]["command"].startswith("python -m efftx_mini.experiments.vision")
    assert {"commit", "hardware", "preset"} <= set(loaded["meta"])
    assert len(loaded["runs"]) == 12 and loaded["curves"]
    first = (tmp_path / "run_deit_n4000_s0.json").read_text()
    again = experiment.run("smoke", tmp_path, ["cnn", "deit", "deit-soft"])  # resumes: nothing is retrained
    assert (tmp_path / "run_deit_n4000_s0.json").read_text() == first
    assert again["aggregate"] == res["aggregate"]


def test_minivit_learns_from_the_vit_of_its_seed_and_a_lost_teacher_is_retrained(tmp_path: Path) -> None:
    experiment.run("smoke", tmp_path, ["vit", "minivit", "vit-long"], curve=False)
    runs = {(r["variant"], r["seed"]): r for r in experiment.load_results(tmp_path)["runs"]}
    assert all(runs["minivit", s]["teacher_test_acc"] == runs["vit", s]["test_acc"] for s in (0, 1, 2))
    assert runs["vit-long", 0]["steps"] == experiment.LONG_FACTOR["vit-long"] * runs["vit", 0]["steps"]
    assert runs["minivit", 0]["params"] < runs["vit", 0]["params"]
    (tmp_path / "teacher_vit_s1.pt").unlink()  # a fresh clone has the results but not the teachers' weights
    (tmp_path / "run_minivit_n4000_s1.json").unlink()
    experiment.run("smoke", tmp_path, ["vit", "minivit"], curve=False)
    again = {(r["variant"], r["seed"]): r for r in experiment.load_results(tmp_path)["runs"]}
    timing = {"images_per_s", "train_s", "cpu_s"}
    for key in set(runs["minivit", 1]) - timing:  # the retrained teacher is the same model
        assert again["minivit", 1][key] == runs["minivit", 1][key], key
    assert (tmp_path / "teacher_vit_s1.pt").exists()


def test_committed_results_resume_under_the_current_config() -> None:
    """Every committed cpu run file was written with today's config_for("cpu") (BaseConfig, shared with chapter 12,
    plus this experiment's fields): a rerun returns it without training (no data is passed)."""
    folder = experiment.committed_results("cpu")
    cfg = experiment.config_for("cpu")
    files = sorted(folder.glob("run_*.json"))
    assert files
    for f in files:
        variant, rest = f.stem.removeprefix("run_").rsplit("_n", 1)
        n_train, seed = rest.split("_s")
        rec = experiment._run_one(variant, int(seed), int(n_train), cfg, None, folder, {}, torch.device("cpu"))
        assert rec["config"] == json.loads(f.read_text())["config"]


def test_bad_variants() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        experiment.run("smoke", "/nonexistent", ["resnet"])
    with pytest.raises(ValueError, match="include 'cnn'"):
        experiment.run("smoke", "/nonexistent", ["deit"])
    with pytest.raises(ValueError, match="include 'vit'"):
        experiment.run("smoke", "/nonexistent", ["minivit"])


def test_bench_vision_rows_ratios_aa_control_and_verdicts() -> None:
    from efftx_mini.bench import vision as bench

    res = bench.run("smoke", batch=4, repeats=3, warmup=0, names=["cnn"])
    rows = {r["variant"]: r for r in res["rows"]}
    assert set(rows) == {"vit", "cnn"}  # the base is always measured
    assert rows["cnn"]["fwd_images_per_s"] > 0 and rows["vit"]["flops"] == 2 * rows["vit"]["macs"] > 0
    for kind in ("fwd", "train"):
        keys = {f"{kind}_speed_vs_vit_{k}" for k in ("median", "ci_lo", "ci_hi", "lo", "hi", "q1", "q3", "n")}
        assert keys <= set(rows["cnn"]) and rows["cnn"][f"{kind}_speed_vs_vit_n"] == 3
        assert rows["cnn"][f"{kind}_speed_vs_vit_ci_lo"] <= rows["cnn"][f"{kind}_speed_vs_vit_median"] \
            <= rows["cnn"][f"{kind}_speed_vs_vit_ci_hi"]
        assert rows["cnn"][f"{kind}_verdict"] in {"faster", "slower", "within noise",
                                                  "noisy machine (A/A interval excludes 1)"}
        assert {"median", "ci_lo", "ci_hi", "n"} <= set(res["aa"][kind])
    assert {"command", "commit", "hardware", "order"} <= set(res["meta"])
    with pytest.raises(ValueError, match="unknown variant"):
        bench.run("smoke", names=["resnet"])
