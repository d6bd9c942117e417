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
    assert {"curves.csv", "gains.csv", "summary.csv", "summary.json", "attention_sas-p.json"} <= names
    assert not any(n.startswith("ckpt_") for n in names)
    for f in ("curves.csv", "gains.csv", "summary.csv"):
        rows, meta = E.read_csv(tmp_path / f)
        assert rows and {"command", "commit", "hardware", "preset"} <= set(meta) and meta["preset"] == "smoke"
    summ = json.loads((tmp_path / "summary.json").read_text())
    assert summ["command"].startswith("python -m efftx_mini.experiments.blocks")
    rows = {r["variant"]: r for r in res["summary"]}
    assert rows["pre-ln"]["tokens"] == rows["sas-p"]["tokens"]  # identical budgets
    assert rows["sas-p"]["block_matrix_params"] < rows["pre-ln"]["block_matrix_params"]
    gains, _ = E.read_csv(tmp_path / "gains.csv")
    init = [g for g in gains if g["variant"] == "sas-p" and g["step"] == 0]
    assert init and all(g["alpha"] == g["beta"] == g["gamma"] == 1.0 for g in init)
    maps = json.loads((tmp_path / "attention_sas-p.json").read_text())
    assert len(maps["init"][0]["S"]) == 2  # heads


def test_resume_gives_the_uninterrupted_losses(tmp_path: Path, corpus: CodeCorpus) -> None:
    straight = E.run("smoke", tmp_path / "a", ["sas"], corpus=corpus, progress=False)
    stopped = E.run("smoke", tmp_path / "b", ["sas"], corpus=corpus, progress=False, stop_after=3)
    assert stopped == {"stopped": True} and (tmp_path / "b" / "ckpt_sas.pt").exists()
    resumed = E.run("smoke", tmp_path / "b", ["sas"], corpus=corpus, progress=False)
    a = [(r["step"], r["train_bpb"], r["valid_bpb"]) for r in json.loads((tmp_path / "a" / "variant_sas.json")
                                                                         .read_text())["curves"]]
    b = [(r["step"], r["train_bpb"], r["valid_bpb"]) for r in json.loads((tmp_path / "b" / "variant_sas.json")
                                                                         .read_text())["curves"]]
    assert a == b
    assert straight["summary"][0]["final_valid_bpb"] == resumed["summary"][0]["final_valid_bpb"]
    # a rerun skips the finished variant: its record is not rewritten
    before = (tmp_path / "b" / "variant_sas.json").stat().st_mtime_ns
    E.run("smoke", tmp_path / "b", ["sas"], corpus=corpus, progress=False)
    assert (tmp_path / "b" / "variant_sas.json").stat().st_mtime_ns == before


def test_bad_variant_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        E.run("smoke", tmp_path, ["resnet"], progress=False)


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch

    torch.set_num_threads(1)
    E.run("smoke", out, ["sas-p"], corpus=CodeCorpus(max_files=60, valid_percent=30), progress=False)


def test_two_process_gloo_ddp_matches_one_process(tmp_path: Path, corpus: CodeCorpus) -> None:
    """torchrun-style env vars, 2 CPU ranks: each takes half of every batch; DDP averages the gradients, so the
    losses equal the single-process run's."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path / "ddp")), nprocs=2, join=True)
    E.run("smoke", tmp_path / "one", ["sas-p"], corpus=corpus, progress=False)
    ddp = json.loads((tmp_path / "ddp" / "variant_sas-p.json").read_text())
    one = json.loads((tmp_path / "one" / "variant_sas-p.json").read_text())
    assert ddp["world_size"] == 2 and ddp["command"].startswith("torchrun --nproc_per_node=2")
    for a, b in zip(ddp["curves"], one["curves"], strict=True):
        assert a["train_bpb"] == pytest.approx(b["train_bpb"], abs=2e-4)
        if b["valid_bpb"] is not None:
            assert a["valid_bpb"] == pytest.approx(b["valid_bpb"], abs=2e-4)
