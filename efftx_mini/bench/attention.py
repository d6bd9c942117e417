"""``python -m efftx_mini.bench attention``: our MultiHeadAttention against torch.nn.MultiheadAttention.

Contenders, side by side in one run (interleaved repeats, medians, current device):
  ours/fast     efftx_mini MultiHeadAttention, need_weights=False (fused SDPA kernel)
  ours/weights  efftx_mini MultiHeadAttention, need_weights=True  (explicit softmax(QKᵀ/√d)V)
  torch/fast    torch.nn.MultiheadAttention, need_weights=False
  torch/weights torch.nn.MultiheadAttention, need_weights=True, average_attn_weights=False (per-head weights)
  core/fast     efftx_mini scaled_dot_product_attention alone on (B, H, T, d_h), fused kernel
  core/weights  the same, explicit formula with the weights returned

``fused_fwd_speedup`` is explicit time / fused time in forward: for the whole layer (ours/fast row),
where the Q/K/V/output projections cost the same on both paths, and for the attention core alone
(core/fast row), where only the kernels differ. Every ratio is the median of the per-round ratios of the
interleaved repeats, with its min–max (``*_lo``, ``*_hi``) and interquartile range (``*_q1``, ``*_q3``) in the
JSON; a ratio is a robust result only where its whole min–max range lies on one side of 1.0.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

from efftx_mini import device as pick_device
from efftx_mini.attention import MultiHeadAttention, scaled_dot_product_attention

from ..timing import git_commit, hardware, print_table, ratio_spread, spread, time_interleaved


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

    fs = time_interleaved({k: fwd(v) for k, v in calls.items()}, repeats=repeats, device=dev)
    fbs = time_interleaved({k: fwd_bwd(v) for k, v in calls.items()}, repeats=repeats, device=dev)
    f = {k: spread(v).median for k, v in fs.items()}
    fb = {k: spread(v).median for k, v in fbs.items()}

    def ratio(row: dict, key: str, num: list[float], den: list[float]) -> None:
        sp = ratio_spread(num, den)
        row[key] = sp.median
        row.update({k: v for k, v in sp.as_dict(f"{key}_").items() if k not in (f"{key}_median", f"{key}_n")})

    rows = []
    for name in calls:
        group, side = name.split("/")
        ref_name = f"torch/{side}" if group != "core" else None
        row = {"T": T, "impl": name, "fwd_ms": 1e3 * f[name], "fwd_bwd_ms": 1e3 * fb[name],
               "fwd_vs_torch": "", "fwd_bwd_vs_torch": "", "fused_fwd_speedup": ""}
        if ref_name:  # time ratios: below 1 = ours is faster
            ratio(row, "fwd_vs_torch", fs[name], fs[ref_name])
            ratio(row, "fwd_bwd_vs_torch", fbs[name], fbs[ref_name])
        if name in ("ours/fast", "core/fast"):  # speed-up: explicit time / fused time
            ratio(row, "fused_fwd_speedup", fs[f"{group}/weights"], fs[name])
        rows.append(row)
    return rows


def _with_range(r: dict, key: str) -> str:
    if r.get(key, "") == "":
        return ""
    return f"{r[key]:.3f} [{r[key + '_lo']:.3f}–{r[key + '_hi']:.3f}]"


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
              f"h={a.heads}, median of {a.repeats}; ratios: median [min–max] of the per-round ratios)")
        keys = ("fwd_vs_torch", "fwd_bwd_vs_torch", "fused_fwd_speedup")
        print_table([{**r, **{k: _with_range(r, k) for k in keys}} for r in rows],
                    ["T", "impl", "fwd_ms", "fwd_bwd_ms", *keys])
    return 0
