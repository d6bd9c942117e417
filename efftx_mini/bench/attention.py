"""``python -m efftx_mini.bench attention``: our MultiHeadAttention against torch.nn.MultiheadAttention.

Contenders, side by side in one run (rounds in a shuffled order, current device):
  ours/fast     efftx_mini MultiHeadAttention, need_weights=False (fused SDPA kernel)
  ours/weights  efftx_mini MultiHeadAttention, need_weights=True  (explicit softmax(QKᵀ/√d)V)
  torch/fast    torch.nn.MultiheadAttention, need_weights=False
  torch/weights torch.nn.MultiheadAttention, need_weights=True, average_attn_weights=False (per-head weights)
  core/fast     efftx_mini scaled_dot_product_attention alone on (B, H, T, d_h), fused kernel
  core/weights  the same, explicit formula with the weights returned

Every ratio is a speed ratio (above 1: the row's contender is faster), paired per round:
``fwd_speed_vs_torch`` and ``fwd_bwd_speed_vs_torch`` are torch's time / ours on the same path (fast or weights);
``fused_fwd_speedup`` is explicit time / fused time in forward, for the whole layer (ours/fast row), where the
Q/K/V/output projections cost the same on both paths, and for the attention core alone (core/fast row), where
only the kernels differ. torch/fast is timed twice per round: the A/A control, its own row. For each ratio the
JSON holds the median with its 95% bootstrap interval, min–max, quartiles and n (``{ratio}_*``), the A/A ratio of
the same rounds (``{ratio}_aa_*``) and ``{ratio}_verdict`` from ``efftx_mini.timing.verdict``: faster or slower
only where the interval excludes 1.0 and the A/A interval contains 1.0.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

from efftx_mini import device as pick_device
from efftx_mini.attention import MultiHeadAttention, scaled_dot_product_attention

from ..timing import aa_name, git_commit, hardware, print_table, spread, time_interleaved
from ._ratios import aa_spread, fmt_ratio, speed_fields

__all__ = ["run", "main", "AA", "RATIOS"]

AA = "torch/fast"  #: the contender timed twice per round (the A/A control)
RATIOS = ("fwd_speed_vs_torch", "fwd_bwd_speed_vs_torch", "fused_fwd_speedup")


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

    q, k, v = (torch.randn(B, h, T, d // h, device=dev, dtype=dtype, requires_grad=True) for _ in range(3))
    calls["core/fast"] = lambda: scaled_dot_product_attention(q, k, v)[0]
    calls["core/weights"] = lambda: scaled_dot_product_attention(q, k, v, need_weights=True)[0]

    fs = time_interleaved({k: fwd(v) for k, v in calls.items()}, repeats=repeats, device=dev, aa_control=AA)
    fbs = time_interleaved({k: fwd_bwd(v) for k, v in calls.items()}, repeats=repeats, device=dev, aa_control=AA,
                           seed=1)
    f = {k: spread(v).median for k, v in fs.items()}
    fb = {k: spread(v).median for k, v in fbs.items()}

    rows = []
    for name in [*calls, aa_name(AA)]:
        group, side = name.split("/", 1)
        row = {"T": T, "impl": name, "fwd_ms": 1e3 * f[name], "fwd_bwd_ms": 1e3 * fb[name]}
        if group == "ours":  # above 1: ours is faster than torch on the same path
            row.update(speed_fields(fs, f"torch/{side}", name, "fwd_speed_vs_torch", aa_ref=AA))
            row.update(speed_fields(fbs, f"torch/{side}", name, "fwd_bwd_speed_vs_torch", aa_ref=AA))
        if side == "fast" and group in ("ours", "core"):  # explicit time / fused time
            row.update(speed_fields(fs, f"{group}/weights", name, "fused_fwd_speedup", aa_ref=AA))
        if name == aa_name(AA):  # the A/A control itself: torch/fast's time / its second copy's, per round
            row.update(aa_spread(fs, AA).as_dict("fwd_aa_"))
            row.update(aa_spread(fbs, AA).as_dict("fwd_bwd_aa_"))
        rows.append(row)
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
        "batch": a.batch, "d_model": a.d_model, "heads": a.heads, "repeats": a.repeats, "aa_control": AA,
    }
    if a.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
    else:
        print(f"# attention benchmark on {meta['hardware']} ({dev}, {a.dtype}, B={a.batch}, d={a.d_model}, "
              f"h={a.heads}, {a.repeats} shuffled rounds; speed ratios: median [95% CI] of the per-round ratios; "
              f"A/A control: {AA} timed twice)")
        table = []
        for r in rows:
            t = {**r, **{k: fmt_ratio(r, k, 3) for k in RATIOS}}
            t["verdicts"] = ", ".join(r[f"{k}_verdict"] for k in RATIOS if f"{k}_verdict" in r)
            if r["impl"] == aa_name(AA):  # the A/A ratios in the columns of the vs-torch ratios
                t["fwd_speed_vs_torch"], t["fwd_bwd_speed_vs_torch"] = (fmt_ratio(r, "fwd_aa", 3),
                                                                        fmt_ratio(r, "fwd_bwd_aa", 3))
                t["verdicts"] = "A/A control"
            table.append(t)
        print_table(table, ["T", "impl", "fwd_ms", "fwd_bwd_ms", *RATIOS, "verdicts"])
    return 0
