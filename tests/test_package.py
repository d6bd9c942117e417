"""Device choice, seeding, presets, masks and the benchmark's command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import efftx_mini
from efftx_mini.masks import causal_mask, padding_mask
from efftx_mini.presets import ENV_VAR, current_preset, pick


def test_device_falls_back_to_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert efftx_mini.device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert efftx_mini.device() == torch.device("cuda", 3)


def test_mps_is_opt_in_and_the_device_variable_is_checked(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.delenv("EFFTX_DEVICE", raising=False)
    assert efftx_mini.device() == torch.device("cpu")  # MPS available, but not picked unless asked for
    monkeypatch.setenv("EFFTX_DEVICE", "mps")
    assert efftx_mini.device() == torch.device("mps")
    monkeypatch.setenv("EFFTX_DEVICE", "cpu")
    assert efftx_mini.device() == torch.device("cpu")
    monkeypatch.setenv("EFFTX_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        efftx_mini.device()
    monkeypatch.setenv("EFFTX_DEVICE", "tpu9")
    with pytest.raises(ValueError, match="must name a torch device"):
        efftx_mini.device()


def test_seed_everything_makes_runs_repeatable():
    efftx_mini.seed_everything(123)
    a = (torch.randn(3), __import__("random").random(), __import__("numpy").random.rand())
    efftx_mini.seed_everything(123)
    b = (torch.randn(3), __import__("random").random(), __import__("numpy").random.rand())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
    with pytest.raises(TypeError):
        efftx_mini.seed_everything("1")


def test_presets_follow_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert current_preset() == "cpu" and pick(smoke=1, cpu=2, gpu=3) == 2
    monkeypatch.setenv(ENV_VAR, "smoke")
    assert pick(smoke=1, cpu=2, gpu=3) == 1
    monkeypatch.setenv(ENV_VAR, "GPU")
    assert pick(smoke=1, cpu=2, gpu=3) == 3
    monkeypatch.setenv(ENV_VAR, "tpu")
    with pytest.raises(ValueError, match="smoke"):
        current_preset()


def test_masks_follow_true_means_may_attend():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert torch.equal(m, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool))
    p = padding_mask(torch.tensor([[5, 6, 0], [0, 7, 8]]), pad_id=0)
    assert p.shape == (2, 1, 1, 3)
    assert torch.equal(p[:, 0, 0], torch.tensor([[True, True, False], [False, True, True]]))


def test_bench_attention_prints_all_contenders_as_json():
    out = subprocess.run(
        [sys.executable, "-m", "efftx_mini.bench", "attention", "--json", "--batch", "1", "--seq", "16",
         "--d-model", "16", "--heads", "2", "--repeats", "1"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    doc = json.loads(out.stdout)
    assert {r["impl"] for r in doc["rows"]} == {"ours/fast", "ours/weights", "torch/fast", "torch/weights",
                                              "core/fast", "core/weights", "torch/fast (A/A)"}
    assert all(r["fwd_ms"] > 0 and r["fwd_bwd_ms"] > 0 for r in doc["rows"])
    assert doc["meta"]["hardware"] and doc["meta"]["commit"]


def test_bench_rejects_unknown_benchmark():
    out = subprocess.run([sys.executable, "-m", "efftx_mini.bench", "nope"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "attention" in out.stderr


def test_a_dry_run_replaces_only_the_gpu_values_given_as_dry(monkeypatch):
    from efftx_mini.presets import DRY_VAR, dry_run

    monkeypatch.setenv(ENV_VAR, "gpu")
    monkeypatch.delenv(DRY_VAR, raising=False)
    assert not dry_run() and pick(smoke=1, cpu=2, gpu=3000, dry=2) == 3000
    monkeypatch.setenv(DRY_VAR, "1")
    assert dry_run() and pick(smoke=1, cpu=2, gpu=3000, dry=2) == 2
    assert pick(smoke=16, cpu=64, gpu=768) == 768  # a model size has no dry value: the gpu size is checked
    assert pick(smoke=1, cpu=2, gpu=3000, dry=2, preset="gpu") == 2  # experiments pass their preset explicitly
    assert pick(smoke=1, cpu=5, gpu=3000, dry=2, preset="cpu") == 5  # other presets are unchanged
    monkeypatch.setenv(ENV_VAR, "smoke")
    assert pick(smoke=1, cpu=2, gpu=3000, dry=2) == 1
    monkeypatch.setenv(DRY_VAR, "maybe")
    with pytest.raises(ValueError, match="EFFTX_DRY_RUN must be 1 or 0"):
        dry_run()
