"""Checkpoints: atomic saves, weights_only loads, clear errors on corrupt files, bit-exact resume on the CPU."""

import os
import random

import numpy as np
import pytest
import torch

from efftx_mini.checkpoint import CheckpointError, get_rng_state, load_checkpoint, save_checkpoint, set_rng_state
from efftx_mini.train import TrainConfig, Trainer


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second intra-op thread only adds contention
    yield
    torch.set_num_threads(n)


def tiny(task="numbers", **kw):
    base = dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.1, batch_size=8, steps=12, warmup=4,
                ckpt_every=4, eval_every=0, target=None, time_limit=None, max_value=3000, amp="off")
    base.update(kw)
    return TrainConfig(task=task, **base)


def test_save_load_round_trip_uses_weights_only(tmp_path, monkeypatch):
    state = {"w": torch.randn(3, 4), "step": 7, "nested": {"a": [1, 2.5, "x"]}, "rng": get_rng_state()}
    path = save_checkpoint(state, tmp_path / "ck.pt")
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    out = load_checkpoint(path)
    assert seen.get("weights_only") is True
    assert torch.equal(out["w"], state["w"]) and out["step"] == 7 and out["nested"] == state["nested"]
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary files left


def test_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint({"step": 1}, tmp_path / "ck.pt")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "empty", "missing"])
def test_corrupt_checkpoint_raises_clear_error(tmp_path, damage):
    path = save_checkpoint({"w": torch.randn(64, 64), "step": 3}, tmp_path / "ck.pt")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        i = len(data) - 3000  # inside the tensor data
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif damage == "header":
        path.write_bytes(b"PK" + data[2:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(CheckpointError, match="ck.pt") as e:
        load_checkpoint(path)
    cause = {"truncate": "checksum", "flip": "checksum", "header": "not an efftx_mini checkpoint",
             "empty": "truncated header", "missing": "cannot read"}[damage]
    assert cause in str(e.value)


def test_rng_state_round_trip():
    state = get_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


@pytest.mark.parametrize("task", ["numbers", "copy"])
def test_resume_reproduces_the_loss_curve_exactly(tmp_path, task):
    cfg = tiny(task)
    full = Trainer(cfg, tmp_path / "full", device=torch.device("cpu"), progress=False)
    ref = [h["loss"] for h in full.fit()]
    assert len(ref) == 12

    crashed = Trainer(cfg, tmp_path / "run", device=torch.device("cpu"), progress=False)
    crashed.fit(stop_after=10)  # "killed" after step 10: the last checkpoint is from step 8
    del crashed
    random.seed(123), np.random.seed(123), torch.manual_seed(123)  # a fresh process has other RNG states
    resumed = Trainer(cfg, tmp_path / "run", device=torch.device("cpu"), progress=False)
    assert resumed.resume() and resumed.step == 8
    assert resumed.stream.position(resumed.step) == load_checkpoint(tmp_path / "run" / "checkpoint.pt")[
        "data_position"]
    got = [h["loss"] for h in resumed.fit()]
    assert got == ref  # bit for bit, including steps 9–12 replayed after the "crash"
    for p, q in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 12  # the replayed steps replaced, not duplicated


def test_corrupt_checkpoint_never_restarts_silently(tmp_path):
    cfg = tiny(steps=4)
    Trainer(cfg, tmp_path, device=torch.device("cpu"), progress=False).fit()
    ck = tmp_path / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:-100])
    t = Trainer(cfg, tmp_path, device=torch.device("cpu"), progress=False)
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        t.resume()
    assert t.step == 0
    with pytest.raises(ValueError, match="different config"):
        Trainer(tiny(steps=4, d_ff=64, ckpt_every=2), tmp_path / "other", progress=False).load(
            save_checkpoint(Trainer(cfg, progress=False).state_dict(), tmp_path / "other.pt"))
