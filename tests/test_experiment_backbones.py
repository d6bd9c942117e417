"""The backbones experiment and the two benchmarks at smoke size: results files with provenance, resumable,
checkpoints that load back to the same model, the distillation runs need their teacher, and every speed ratio
carries its bootstrap interval, the A/A control and a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from efftx_mini.experiments import backbones as experiment


def test_smoke_run_writes_results_resumes_and_keeps_checkpoints(tmp_path: Path) -> None:
    variants = ["cnn", "vit", "swin", "kd-stored"]
    res = experiment.run("smoke", tmp_path, variants)
    agg = {r["variant"]: r for r in res["aggregate"]}
    assert set(agg) == set(variants) and all(r["seeds"] == 3 for r in agg.values())
    assert agg["vit"]["diff_vs_vit_mean"] == 0.0
    assert agg["swin"]["test_acc_min"] <= agg["swin"]["test_acc_mean"] <= agg["swin"]["test_acc_max"]
    loaded = experiment.load_results(tmp_path)
    assert loaded["meta"]["command"].startswith("python -m efftx_mini.experiments.backbones")
    assert {"commit", "hardware", "preset"} <= set(loaded["meta"])
    assert len(loaded["runs"]) == 12 and loaded["curves"]
    stored = {r["seed"]: r for r in loaded["runs"] if r["variant"] == "kd-stored"}
    cfg = loaded["config"]
    assert stored[0]["stored_bytes"] == cfg.steps * cfg.batch * (4 + cfg.kd_topk * 4)
    assert stored[0]["full_bytes"] == cfg.steps * cfg.batch * (4 + 10 * 4)
    timing = loaded["timing"]
    assert timing is not None and [t["batch"] for t in timing["timings"]] == [cfg.bench_batch, 1]
    for t in timing["timings"]:
        rows = {r["variant"]: r for r in t["rows"]}
        assert set(rows) == {"cnn", "vit", "swin"} and rows["vit"]["verdict"] == "reference"
        for r in rows.values():
            assert r["speed_ci_lo"] <= r["speed_median"] <= r["speed_ci_hi"] and r["speed_n"] == cfg.bench_repeats
        assert {"aa_median", "aa_ci_lo", "aa_ci_hi", "aa_lo", "aa_hi", "aa_q1", "aa_q3", "aa_n"} <= set(t["aa"])
    # checkpoints: the ViT of every seed, the CNN teacher of every seed, Swin of seed 0 only
    names = sorted(p.name for p in tmp_path.glob("ckpt_*.pt"))
    assert names == sorted([f"ckpt_vit_s{s}.pt" for s in range(3)] + [f"ckpt_cnn_s{s}.pt" for s in range(3)]
                           + ["ckpt_swin_s0.pt"])
    vit = experiment.load_checkpoint(tmp_path, "vit", 1)
    x = torch.rand(4, 1, 28, 28)
    from efftx_mini.datasets import load_digits
    from efftx_mini.vision import accuracy, as_images
    t = load_digits("test")
    assert round(accuracy(vit, as_images(t.images), t.labels), 5) == next(
        r["test_acc"] for r in loaded["runs"] if r["variant"] == "vit" and r["seed"] == 1)
    assert vit(x).shape == (4, 10)
    first = (tmp_path / "run_kd-stored_s0.json").read_text()
    again = experiment.run("smoke", tmp_path, variants)  # resumes: nothing is retrained or re-timed
    assert (tmp_path / "run_kd-stored_s0.json").read_text() == first
    assert again["aggregate"] == res["aggregate"]


def test_committed_results_resume_under_the_current_config() -> None:
    """The committed cpu results were written with today's Config (chapter 11's BaseConfig plus this chapter's
    fields, same presets): their config parses back to config_for("cpu"), and a rerun returns every run file as it
    is (no data is passed: a run whose recorded config differed would raise or try to train)."""
    from efftx_mini.experiments.vision import BaseConfig

    folder = experiment.committed_results("cpu")
    cfg = experiment.load_results(folder)["config"]
    assert isinstance(cfg, BaseConfig) and cfg == experiment.config_for("cpu")
    files = sorted(folder.glob("run_*.json"))
    assert len(files) == len(experiment.VARIANTS) * len(cfg.seeds)
    for f in files:
        variant, seed = f.stem.removeprefix("run_").rsplit("_s", 1)
        assert experiment._run_one(variant, int(seed), cfg, None, folder, {}) == json.loads(f.read_text())


def test_bad_variants_and_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        experiment.run("smoke", tmp_path, ["resnet"])
    with pytest.raises(ValueError, match="include 'cnn'"):
        experiment.run("smoke", tmp_path, ["kd-online"])
    with pytest.raises(ValueError, match="unknown model"):
        experiment.build_model("resnet", experiment.config_for("smoke"))


def test_bench_tokens_on_trained_checkpoints(tmp_path: Path) -> None:
    from efftx_mini.bench import tokens as bench

    res = bench.run("smoke", tmp_path, batch=4, repeats=2, warmup=0, r_values=(1, 8), keep_rates=(0.5,),
                    patches=(7, 4))
    assert [(r["tokens"], r["r"]) for r in res["lengths"]] == [(17, 2), (50, 6)]
    assert all(r["flops_ratio"] < 1 and r["speed_ci_lo"] <= r["speed_median"] <= r["speed_ci_hi"]
               for r in res["lengths"])
    assert (tmp_path / "ckpt_vit_s2.pt").exists()  # the ViTs were trained first
    rows = {r["setting"]: r for r in res["rows"]}
    assert list(rows) == ["vit", "tome r=0", "tome r=1", "tome r=8", "evit keep=0.5"]
    assert rows["tome r=0"]["diff_min"] == rows["tome r=0"]["diff_max"] == 0.0  # r = 0 is the model
    assert rows["vit"]["tokens_last"] == 17 and rows["tome r=1"]["tokens_last"] == 17 - 2
    assert rows["tome r=8"]["tokens_last"] < rows["tome r=1"]["tokens_last"]
    assert rows["tome r=8"]["flops"] < rows["vit"]["flops"]
    assert rows["vit"]["verdict"] == "reference" and {"aa_median", "aa_ci_lo", "aa_ci_hi"} <= set(res["aa"])
    assert {"command", "commit", "hardware", "seeds"} <= set(res["meta"])
    json.dumps(res)  # a results file


def test_bench_backbones_main_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    from efftx_mini.bench import backbones as bench

    assert bench.main(["--preset", "smoke", "--repeats", "2", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "A/A control" in out and "efficientvit" in out
