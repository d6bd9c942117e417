"""The blocks experiment at smoke size: files with provenance, identical budgets, resume = uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from efftx_mini.corpus import CodeCorpus
from efftx_mini.experiments import blocks as E


@pytest.fixture(scope="module")
def corpus() -> CodeCorpus:
    return CodeCorpus(max_files=60, valid_percent=30)


def test_smoke_run_writes_results_with_provenance(tmp_path: Path, corpus: CodeCorpus) -> None:
    res = E.run("smoke", tmp_path, ["pre-ln", "sas-p"], corpus=corpus, progress=False)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"curves.csv", "gains.csv", "runs.csv", "summary.csv", "summary.json", "attention_sas-p.json"} <= names
    assert not any(n.startswith("ckpt_") for n in names)
    for f in ("curves.csv", "gains.csv", "summary.csv"):
        rows, meta = E.read_csv(tmp_path / f)
        assert rows and {"command", "commit", "hardware", "preset"} <= set(meta) and meta["preset"] == "smoke"
    summ = json.loads((tmp_path / "summary.json").read_text())
    assert summ["command"].startswith("python -m efftx_mini.experiments.blocks")
    rows = {r["variant"]: r for r in res["summary"]}
    assert rows["pre-ln"]["tokens"] == rows["sas-p"]["tokens"]  # identical budgets
    assert rows["sas-p"]["block_matrix_params"] < rows["pre-ln"]["block_matrix_params"]
    assert rows["sas-p"]["seeds"] == 3 and len(res["runs"]) == 6
    gains, _ = E.read_csv(tmp_path / "gains.csv")
    init = [g for g in gains if g["variant"] == "sas-p" and g["step"] == 0]
    assert init and all(g["alpha"] == g["beta"] == g["gamma"] == g["beta_sa"] == 1.0 for g in init)
    assert {g["seed"] for g in gains} == {0, 1, 2}
    maps = json.loads((tmp_path / "attention_sas-p.json").read_text())
    assert len(maps["init"][0]["S"]) == 2  # heads


def test_resume_gives_the_uninterrupted_losses(tmp_path: Path, corpus: CodeCorpus) -> None:
    straight = E.run("smoke", tmp_path / "a", ["sas"], seeds=[0], corpus=corpus, progress=False)
    stopped = E.run("smoke", tmp_path / "b", ["sas"], seeds=[0], corpus=corpus, progress=False, stop_after=3)
    assert stopped == {"stopped": True} and (tmp_path / "b" / "ckpt_sas_seed0.pt").exists()
    resumed = E.run("smoke", tmp_path / "b", ["sas"], seeds=[0], corpus=corpus, progress=False)
    a = [(r["step"], r["train_bpb"], r["valid_bpb"]) for r in json.loads((tmp_path / "a" / "variant_sas_seed0.json")
                                                                         .read_text())["curves"]]
    b = [(r["step"], r["train_bpb"], r["valid_bpb"]) for r in json.loads((tmp_path / "b" / "variant_sas_seed0.json")
                                                                         .read_text())["curves"]]
    assert a == b
    assert straight["runs"][0]["final_valid_bpb"] == resumed["runs"][0]["final_valid_bpb"]
    # a rerun skips the finished variant: its record is not rewritten
    before = (tmp_path / "b" / "variant_sas_seed0.json").stat().st_mtime_ns
    E.run("smoke", tmp_path / "b", ["sas"], seeds=[0], corpus=corpus, progress=False)
    assert (tmp_path / "b" / "variant_sas_seed0.json").stat().st_mtime_ns == before


def test_summary_pairs_differences_by_seed() -> None:
    """Mean and min–max of the final valid bpb and of the difference to Pre-LN taken seed by seed."""
    runs = [{"variant": v, "seed": s, "block": v, "params": 1, "block_matrix_params": 1, "steps": 1, "tokens": 1,
             "final_train_bpb": 0.0, "final_valid_bpb": val, "tokens_per_s": 10.0, "wall_s": 1.0}
            for v, s, val in [("pre-ln", 0, 3.0), ("pre-ln", 1, 3.5), ("pre-ln", 2, 3.2),
                              ("sas", 0, 2.9), ("sas", 1, 3.6), ("sas", 2, 3.0)]]
    rows = {r["variant"]: r for r in E.summarise(runs)}
    assert rows["sas"]["valid_bpb_mean"] == pytest.approx((2.9 + 3.6 + 3.0) / 3, abs=1e-5)
    assert (rows["sas"]["valid_bpb_min"], rows["sas"]["valid_bpb_max"]) == (2.9, 3.6)
    # paired: -0.1, +0.1, -0.2 (unpaired min–max differences would give -0.6 … +0.6)
    assert rows["sas"]["dvalid_mean"] == pytest.approx(-0.2 / 3, abs=1e-5)
    assert (rows["sas"]["dvalid_min"], rows["sas"]["dvalid_max"]) == (pytest.approx(-0.2), pytest.approx(0.1))
    assert rows["pre-ln"]["dvalid_max"] == 0.0
    b = E.band([{"variant": "sas", "seed": s, "step": 1, "valid_bpb": v} for s, v in enumerate([1.0, 2.0, 4.0])]
               + [{"variant": "sas", "seed": 0, "step": 2, "valid_bpb": 1.0}], "sas")
    assert b == {"x": [1], "mean": [7 / 3], "lo": [1.0], "hi": [4.0]}


def test_bad_variant_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        E.run("smoke", tmp_path, ["resnet"], progress=False)


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch

    torch.set_num_threads(1)
    E.run("smoke", out, ["sas-p"], seeds=[0], corpus=CodeCorpus(max_files=60, valid_percent=30), progress=False)


def test_two_process_gloo_ddp_matches_one_process(tmp_path: Path, corpus: CodeCorpus) -> None:
    """torchrun-style env vars, 2 CPU ranks: each takes half of every batch; DDP averages the gradients, so the
    losses equal the single-process run's."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path / "ddp")), nprocs=2, join=True)
    E.run("smoke", tmp_path / "one", ["sas-p"], seeds=[0], corpus=corpus, progress=False)
    ddp = json.loads((tmp_path / "ddp" / "variant_sas-p_seed0.json").read_text())
    one = json.loads((tmp_path / "one" / "variant_sas-p_seed0.json").read_text())
    assert ddp["world_size"] == 2 and ddp["command"].startswith("torchrun --nproc_per_node=2")
    for a, b in zip(ddp["curves"], one["curves"], strict=True):
        assert a["train_bpb"] == pytest.approx(b["train_bpb"], abs=2e-4)
        if b["valid_bpb"] is not None:
            assert a["valid_bpb"] == pytest.approx(b["valid_bpb"], abs=2e-4)
