"""``python -m efftx_mini.bench attention``: our MultiHeadAttention against torch.nn.MultiheadAttention.

Contenders, side by side in one run (interleaved repeats, medians, current device):
  ours/fast     efftx_mini MultiHeadAttention, need_weights=False (fused SDPA kernel)
  ours/weights  efftx_mini MultiHeadAttention, need_weights=True  (explicit softmax(QKᵀ/√d)V)
  torch/fast    torch.nn.MultiheadAttention, need_weights=False
  torch/weights torch.nn.MultiheadAttention, need_weights=True, average_attn_weights=False (per-head weights)
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

from efftx_mini import device as pick_device
from efftx_mini.attention import MultiHeadAttention

from ._timing import git_commit, hardware, median_times, print_table


def _pair(d: int, h: int, dev: torch.device, dtype: torch.dtype) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    ours = MultiHeadAttention(d, h).to(dev, dtype)
    ref = nn.MultiheadAttention(d, h, batch_first=True).to(dev, dtype)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


def run(B: int, T: int, d: int, h: int, repeats: int, dev: torch.device, dtype: torch.dtype) -> list[dict]:
    ours, ref = _pair(d, h, dev, dtype)
    x = torch.randn(B, T, d, device=dev, dtype=dtype, requires_grad=True)

    def ours_call(w: bool):
        return ours(x, x, x, need_weights=w)[0]

    def ref_call(w: bool):
        return ref(x, x, x, need_weights=w, average_attn_weights=False)[0]

    calls = {
        "ours/fast": lambda: ours_call(False),
        "ours/weights": lambda: ours_call(True),
        "torch/fast": lambda: ref_call(False),
        "torch/weights": lambda: ref_call(True),
    }

    def fwd(fn):
        def go():
            with torch.no_grad():
                fn()
        return go

    def fwd_bwd(fn):
        def go():
            fn().sum().backward()
        return go

    f = median_times({k: fwd(v) for k, v in calls.items()}, repeats=repeats, device=dev)
    fb = median_times({k: fwd_bwd(v) for k, v in calls.items()}, repeats=repeats, device=dev)
    rows = []
    for name in calls:
        side = name.split("/")[1]
        ref_name = f"torch/{side}"
        rows.append({
            "T": T, "impl": name, "fwd_ms": 1e3 * f[name], "fwd_bwd_ms": 1e3 * fb[name],
            "fwd_bwd_vs_torch": fb[name] / fb[ref_name], "fwd_vs_torch": f[name] / f[ref_name],
        })
    fast_speedup = f["ours/weights"] / f["ours/fast"]
    for r in rows:
        r["fused_fwd_speedup"] = fast_speedup if r["impl"] == "ours/fast" else ""
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench attention", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, nargs="+", default=[512, 1024], help="sequence lengths T")
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    p.add_argument("--json", action="store_true", help="print a JSON document instead of the table")
    a = p.parse_args(argv)
    dev, dtype = pick_device(), getattr(torch, a.dtype)
    torch.manual_seed(0)
    rows = [r for T in a.seq for r in run(a.batch, T, a.d_model, a.heads, a.repeats, dev, dtype)]
    meta = {
        "command": "python -m efftx_mini.bench attention " + " ".join(argv or []),
        "commit": git_commit(), "hardware": hardware(), "device": str(dev), "dtype": a.dtype,
        "batch": a.batch, "d_model": a.d_model, "heads": a.heads, "repeats": a.repeats,
    }
    if a.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
    else:
        print(f"# attention benchmark on {meta['hardware']} ({dev}, {a.dtype}, B={a.batch}, d={a.d_model}, "
              f"h={a.heads}, median of {a.repeats})")
        print_table(rows, ["T", "impl", "fwd_ms", "fwd_bwd_ms", "fwd_vs_torch", "fwd_bwd_vs_torch",
                           "fused_fwd_speedup"])
    return 0
