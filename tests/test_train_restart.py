"""metrics.jsonl after interrupted runs: a restart before the first checkpoint starts a fresh log; a resume
after a checkpoint keeps the steps up to the checkpoint and rewrites the rest, each step exactly once."""

from __future__ import annotations

import json

import torch

from efftx_mini.train import TrainConfig, Trainer

CFG = TrainConfig(task="copy", d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0, batch_size=8, steps=8,
                  warmup=4, seq_len=4, amp="off", ckpt_every=4)


def logged_steps(run) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines() if line]


def trainer(run) -> Trainer:
    return Trainer(CFG, run, device=torch.device("cpu"), progress=False, tensorboard=False)


def test_restart_before_the_first_checkpoint_starts_a_fresh_log(tmp_path):
    trainer(tmp_path).fit(stop_after=3)  # killed at step 3, before the checkpoint at step 4
    assert not (tmp_path / "checkpoint.pt").exists() and logged_steps(tmp_path) == [1, 2, 3]
    again = trainer(tmp_path)
    assert not again.resume()
    again.fit()
    assert logged_steps(tmp_path) == list(range(1, 9))  # steps 1…3 once, not twice


def test_resume_after_a_checkpoint_logs_every_step_once(tmp_path):
    trainer(tmp_path).fit(stop_after=6)  # checkpoint at 4, killed at 6
    assert logged_steps(tmp_path) == list(range(1, 7))
    again = trainer(tmp_path)
    assert again.resume() and again.step == 4
    again.fit()
    assert logged_steps(tmp_path) == list(range(1, 9))
