"""Why masking heads saves nothing and removing them does: forward time of the full, the masked and the
physically shrunk model, side by side (Michel et al. 2019, §4.3, Table 4 measure the same for BERT inference).

    python -m efftx_mini.bench prune [--json] [--d 512 --heads 8 --layers 2 --batch 32 --T 24 --remove 4]

Two scopes: one multi-head self-attention layer on (batch, T_layer, d), and the whole encoder–decoder
transformer of chapter 5 at width d (source and target length T). "masked" gates the removed heads off
(ξ = 0, the same matmuls as "full"); "shrunk" is :func:`efftx_mini.compress.remove_heads` (smaller W^Q, W^K,
W^V, W^O). ``--remove`` heads (the first ones) go from every attention layer.

Statistics follow :mod:`efftx_mini.timing`: per scope, the contenders run in rounds in a freshly shuffled order,
with an A/A control (the full model timed a second time in every round, "full (A/A)"). Each variant's speed-up
over "full" is the median of the per-round paired ratios t_full / t_variant with its 95% bootstrap CI, min–max
and quartiles; the verdict (:func:`efftx_mini.timing.verdict`) claims "faster" only where the CI's lower end
clears 1.0 and the scope's A/A CI contains 1.0. (Masked against full is *not* an A/A control: the gates add a
multiply.)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import torch

from ..attention import MultiHeadAttention
from ..compress import attention_layers, remove_heads, set_gates, shrink_attention
from ..timing import (
    CI_LEVEL,
    Spread,
    aa_name,
    git_commit,
    hardware,
    print_table,
    ratio_spread,
    spread,
    time_interleaved,
    verdict,
)
from ..transformer import Transformer

__all__ = ["main", "run", "TABLE_COLUMNS"]


def _contenders(scope: str, d: int, heads: int, layers: int, batch: int, T: int, T_layer: int, remove: int,
                dev: torch.device) -> tuple[dict[str, torch.nn.Module], Callable[[torch.nn.Module], Any]]:
    gone = list(range(remove))
    if scope == "layer":
        torch.manual_seed(0)
        full = MultiHeadAttention(d, heads).to(dev).eval()
        masked = MultiHeadAttention(d, heads, head_gates=True).to(dev).eval()
        masked.load_state_dict(full.state_dict() | {"head_gates": masked.head_gates}, strict=True)
        masked.head_gates[gone] = 0.0
        shrunk = shrink_attention(full, gone).eval()
        x = torch.randn(batch, T_layer, d, device=dev)
        return {"full": full, "masked": masked, "shrunk": shrunk}, lambda m: m(x, x, x)
    models = {}
    for name in ("full", "masked", "shrunk"):
        torch.manual_seed(0)
        m = Transformer(1000, 1000, d, heads, layers, 4 * d, 0.0, max_len=64, pad_id=0).to(dev).eval()
        names = list(attention_layers(m))
        if name == "masked":
            set_gates(m, [(n, h) for n in names for h in gone])
        elif name == "shrunk":
            remove_heads(m, {n: gone for n in names})
        models[name] = m
    g = torch.Generator().manual_seed(1)
    src = torch.randint(1, 1000, (batch, T), generator=g).to(dev)
    tgt = torch.randint(1, 1000, (batch, T), generator=g).to(dev)
    return models, lambda m: m(src, tgt)


def _ratio_fields(prefix: str, sp: Spread) -> dict[str, float | int]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in sp.as_dict(prefix).items()}


@torch.no_grad()
def run(d: int = 512, heads: int = 8, layers: int = 2, batch: int = 32, T: int = 24, T_layer: int = 128,
        remove: int = 4, repeats: int = 30, warmup: int = 2, device: torch.device | None = None,
        command: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Time every scope's contenders with an A/A control; returns {"rows": [...], "meta": {...}}.

    One row per (scope, variant), variant in full, masked, shrunk, full (A/A). ``speedup_*`` is the spread of
    t_full / t_variant per round (:meth:`Spread.as_dict`: median, ci_lo, ci_hi, lo = min, hi = max, q1, q3, n);
    ``aa_*`` is the scope's A/A ratio t_full / t_full(A/A); ``verdict`` applies the book's rule.
    """
    from .. import device as _device
    if not 0 < remove < heads:
        raise ValueError(f"remove must be in [1, heads={heads}), got {remove}")
    if repeats < 2:
        raise ValueError(f"repeats must be at least 2 for a confidence interval, got {repeats}")
    dev = device or _device()
    rows = []
    for i, scope in enumerate(("layer", "model")):
        models, call = _contenders(scope, d, heads, layers, batch, T, T_layer, remove, dev)
        out = {k: call(m) for k, m in models.items()}
        o_m = out["masked"][0] if scope == "layer" else out["masked"]
        o_s = out["shrunk"][0] if scope == "layer" else out["shrunk"]
        max_diff = float((o_m - o_s).abs().max())
        times = time_interleaved({k: (lambda m=m, c=call: c(m)) for k, m in models.items()}, repeats, warmup, dev,
                                 seed=seed + i, aa_control="full")
        aa = ratio_spread(times["full"], times[aa_name("full")])
        for k in (*models, aa_name("full")):
            m = models["full" if k == aa_name("full") else k]
            t = spread(times[k])
            r = ratio_spread(times["full"], times[k])
            active = heads - (0 if k in ("full", aa_name("full")) else remove)
            rows.append({"scope": scope, "variant": k, "heads_per_layer": heads - (remove if k == "shrunk" else 0),
                         "active_heads": active, "params": sum(p.numel() for p in m.parameters()),
                         "fwd_ms": round(t.median * 1e3, 3), "fwd_ms_lo": round(t.lo * 1e3, 3),
                         "fwd_ms_hi": round(t.hi * 1e3, 3),
                         **_ratio_fields("speedup_", r), **_ratio_fields("aa_", aa),
                         "verdict": "reference" if k == "full" else
                         ("A/A control" if k == aa_name("full") else verdict(r, aa)),
                         "max_abs_diff_shrunk_vs_masked": max_diff})
    if command is None:
        command = (f"efftx_mini.bench.prune.run(d={d}, heads={heads}, layers={layers}, batch={batch}, T={T}, "
                   f"T_layer={T_layer}, remove={remove}, repeats={repeats})")
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": str(dev),
            "dtype": "float32", "d_model": d, "n_heads": heads, "layers": layers, "batch": batch, "T": T,
            "T_layer": T_layer, "removed_per_layer": remove, "repeats": repeats, "warmup": warmup,
            "shuffled_rounds": True, "ci_level": CI_LEVEL, "aa_control": "full timed twice per round",
            "rule": "faster only where speedup_ci_lo > 1 and the A/A CI contains 1 (efftx_mini.timing.verdict)",
            "mode": "forward, no_grad, eval"}
    return {"rows": rows, "meta": meta}


TABLE_COLUMNS = ["scope", "variant", "active_heads", "params", "fwd_ms", "speedup_median", "speedup_ci_lo",
                 "speedup_ci_hi", "speedup_lo", "speedup_hi", "verdict"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench prune", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--T", type=int, default=24)
    p.add_argument("--T-layer", type=int, default=128)
    p.add_argument("--remove", type=int, default=4)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.d, a.heads, a.layers, a.batch, a.T, a.T_layer, a.remove, a.repeats, a.warmup,
              command=" ".join(["python -m efftx_mini.bench prune", *argv]))
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["rows"], TABLE_COLUMNS)
        aa = {r["scope"]: r for r in res["rows"] if r["variant"] == aa_name("full")}
        for scope, r in aa.items():
            print(f"{scope}: A/A ratio {r['aa_median']:.3f} [{r['aa_ci_lo']:.3f}–{r['aa_ci_hi']:.3f}]")
        print(f"\n{res['meta']['hardware']}; d={a.d}, H={a.heads}, {a.remove} heads removed per layer, fp32; "
              f"speed-up = median of per-round t_full / t_variant [95% bootstrap CI], min–max in the JSON")
    return 0
