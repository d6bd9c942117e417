"""The ``gpu`` preset's dry run (``make gpu-check``, issue 24) on the CPU: its rules, one chapter and one experiment
under two torchrun processes (Gloo) with a rank killed and resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from efftx_mini import distributed as D
from efftx_mini import dryrun, gpu_check
from efftx_mini.presets import DRY_VAR, ENV_VAR, pick


def test_a_dry_run_writes_nothing_into_the_results(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, "gpu")
    monkeypatch.setenv(DRY_VAR, "1")
    assert dryrun.active()
    scratch = dryrun.results_dir("blocks", "gpu", None, "chapters/results/blocks_gpu")
    assert not gpu_check._is_result(Path("ckpt_x.pt")) and "efftx_dry" in scratch.parts
    assert dryrun.results_dir("blocks", "gpu", tmp_path, "unused") == tmp_path
    with pytest.raises(ValueError, match="writes nothing into"):
        dryrun.results_dir("blocks", "gpu", dryrun.RESULTS / "blocks_gpu", "unused")
    # the cpu preset and a gpu run that is not a dry run keep their folders
    assert dryrun.results_dir("blocks", "cpu", None, "chapters/results/blocks_cpu") == Path(
        "chapters/results/blocks_cpu")
    monkeypatch.setenv(DRY_VAR, "0")
    assert dryrun.results_dir("blocks", "gpu", None, "x") == Path("x")
    with dryrun.dry_sizes():
        assert pick(smoke=1, cpu=2, gpu=3, dry=4, preset="gpu") == 4
    with dryrun.full_sizes():
        assert pick(smoke=1, cpu=2, gpu=3, dry=4, preset="gpu") == 3


def test_finite_check_and_shares():
    dryrun.check_finite({"a": [1.0, {"b": 2.0}]}, "ok")
    with pytest.raises(FloatingPointError, match=r"x\['a'\]\[1\]\['b'\] = nan"):
        dryrun.check_finite({"a": [1.0, {"b": float("nan")}]}, "x")
    two = [D.DistInfo(rank=r, world_size=2, local_rank=r) for r in (0, 1)]
    shares = [D.share(list(range(5)), d) for d in two]
    assert shares == [[0, 2, 4], [1, 3]]


def test_merged_folders_are_compared_without_provenance(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, commit, acc in ((a, "abc", 0.5), (b, "def", 0.5)):
        folder.mkdir()
        (folder / "run_x.json").write_text(json.dumps({"commit": commit, "wall_s": 3.0, "acc": acc}))
        (folder / "summary.csv").write_text("# command: x\ntask,acc\nlistops,0.25\n")
    assert gpu_check.compare_folders(a, b) == []
    (b / "run_x.json").write_text(json.dumps({"commit": "def", "wall_s": 3.0, "acc": 0.51}))
    (b / "extra.json").write_text("{}")
    diffs = gpu_check.compare_folders(a, b)
    assert any("only in one folder" in d for d in diffs) and any("run_x.json.acc" in d for d in diffs)


def test_chapter_sizes_are_the_gpu_values():
    s = gpu_check.chapter_sizes("07")
    assert (s["D"], s["H"], s["T"], s["BATCH"], s["LAYERS"]) == (1024, 16, 512, 16, 8)
    assert gpu_check.chapter_sizes("01")["STEPS"] == 600  # the gpu value, not the dry run's


def test_a_chapter_runs_in_the_dry_run(tmp_path):
    """Chapter 3 at the gpu sizes in the dry run: every cell executes, nothing on stderr, and its optimizer steps
    (two per model: the dry= value of STEPS) are counted."""
    row = gpu_check.run_chapter("03", timeout=600, save_to=tmp_path / "03.ipynb")
    assert row["ok"], row["problem"]
    assert row["steps"] is not None and row["steps"] > 0 and row["steps"] % 2 == 0
    assert (tmp_path / "03.ipynb").exists()


def test_an_experiment_runs_resumes_and_merges_under_torchrun(tmp_path):
    """LRA's gpu model at ListOps' full length (2000) for two runs of two steps: one process; a rerun that trains
    nothing; two torchrun processes (Gloo) with rank 1 killed after its first file, resumed; the same files."""
    row = gpu_check.run_experiment("lra", tmp_path, timeout=600,
                                   extra_args=("--tasks", "listops", "--attentions", "softmax,linear"))
    log = (tmp_path / "lra.log").read_text() if (tmp_path / "lra.log").exists() else ""
    assert row["ok"], f"{row}\n{log[-3000:]}"
    assert row["steps"] == 2 * 2  # two runs of two optimizer steps, each counted and checked finite
    assert row["resume"] == "ok"
    assert row["torchrun"].startswith("rank 1 killed") and row["torchrun"].endswith("same files")
    runs = sorted(p.name for p in (tmp_path / "lra_torchrun").glob("run_*.json"))
    assert runs == ["run_listops_linear_0.json", "run_listops_softmax_0.json"]
    summary = json.loads((tmp_path / "lra_torchrun" / "summary.json").read_text())
    assert summary["config"]["listops"]["d_model"] == 128 and summary["tasks"]["listops"]["max_len"] == 2000
