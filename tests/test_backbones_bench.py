"""efftx_mini.bench.backbones' time breakdown and FLOP split, against hand counts and planted work; the tokens
bench's repository-relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from efftx_mini.bench import backbones as bench


def test_op_kind_sorts_aten_operators():
    for name in ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::addbmm"):
        assert bench.op_kind(name) == "matmul", name
    for name in ("aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_attention_math"):
        assert bench.op_kind(name) == "attention", name
    for name in ("aten::convolution", "aten::_convolution", "aten::mkldnn_convolution", "aten::conv2d"):
        assert bench.op_kind(name) == "conv", name
    for name in ("aten::relu", "aten::add", "aten::native_layer_norm", "aten::matmul_backward", "aten::view"):
        assert bench.op_kind(name) == "other", name


def test_flop_split_against_hand_counts():
    """2 FLOPs per multiply-add: a 3×3 convolution, a linear layer, and attention's QKᵀ and AV as matmuls."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)  # 8×8 → 4 × 6 × 6
            self.fc = nn.Linear(4 * 6 * 6, 10)

        def forward(self, x):
            h = self.conv(x)  # (B, 4, 6, 6)
            q = h.flatten(2).transpose(1, 2)[:, None]  # (B, 1 head, T=36, d=4)
            a = F.scaled_dot_product_attention(q, q, q)  # the fused kernel; counted in the math backend
            return self.fc(a.transpose(2, 3).flatten(1))

    split = bench.flop_split(Net().eval(), torch.rand(3, 1, 8, 8))
    conv = 2 * (4 * 6 * 6) * (1 * 3 * 3)
    attention = 2 * (36 * 36 * 4) * 2  # QKᵀ and AV
    linear = 2 * 144 * 10
    assert split == {"flops_conv": conv, "flops_matmul": attention + linear}


def test_time_breakdown_counts_calls_and_adds_up():
    torch.manual_seed(0)
    lin, conv = nn.Linear(16, 8), nn.Conv2d(2, 3, 3)
    a, b = torch.rand(256, 256), torch.rand(256, 256)
    x, img = torch.rand(4, 16), torch.rand(2, 2, 8, 8)

    def step():
        with torch.no_grad():
            for _ in range(4):
                torch.mm(a, b)  # planted: most of the work is in matrix products
            lin(x)  # one more (addmm)
            conv(img).relu()

    res = bench.time_breakdown(step, repeats=1)
    assert res["matmul_calls"] == 5 and res["attention_calls"] == 0
    assert res["conv_calls"] >= 1 and res["other_calls"] >= 1  # relu (and whatever conv2d decomposes into)
    assert res["op_calls"] == sum(res[f"{k}_calls"] for k in bench.OP_KINDS)
    # one call: the parts are that call's CPU time split up (each rounded to the µs)
    assert sum(res[k] for k in bench.BREAKDOWN_PARTS) == pytest.approx(res["cpu_ms"], abs=0.01)
    assert res["matmul_ms"] > res["conv_ms"] + res["other_ops_ms"] and res["attention_ms"] == 0
    med = bench.time_breakdown(step, repeats=3)  # the median over calls keeps the call counts
    assert med["matmul_calls"] == 5 and set(med) == set(res)


def test_breakdown_rows_of_a_smoke_timing():
    """time_models with breakdown_repeats > 0 adds the breakdown and the FLOP split to every row."""
    from efftx_mini.experiments.backbones import build_model, config_for

    cfg = config_for("smoke")
    models = {n: build_model(n, cfg) for n in ("vit", "cnn")}
    t = bench.time_models(models, 2, 2, 0, cfg.channels, cfg.image_size, breakdown_repeats=1)
    rows = {r["variant"]: r for r in t["rows"]}
    for r in rows.values():
        assert {f"bd_{k}" for k in ("cpu_ms", *bench.BREAKDOWN_PARTS, "op_calls")} <= set(r)
        assert r["flops_conv"] > 0 and r["flops_matmul"] > 0
    assert rows["vit"]["bd_attention_calls"] + rows["vit"]["bd_matmul_calls"] > rows["cnn"]["bd_matmul_calls"]
    plain = bench.time_models(models, 2, 2, 0, cfg.channels, cfg.image_size)
    assert not any(k.startswith("bd_") or k.startswith("flops_") for r in plain["rows"] for k in r)


def test_tokens_bench_records_repo_relative_paths(tmp_path: Path):
    from efftx_mini.bench.tokens import committed_results, repo_relative

    root = committed_results().parents[3]
    assert repo_relative(root / "chapters" / "results" / "backbones_cpu") == "chapters/results/backbones_cpu"
    assert repo_relative(tmp_path) == str(tmp_path)  # outside the repository: unchanged
