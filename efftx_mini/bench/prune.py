"""Why masking heads saves nothing and removing them does: forward time of the full, the masked and the
physically shrunk model, side by side (Michel et al. 2019, §4.3 measure the same for BERT inference).

    python -m efftx_mini.bench prune [--json] [--d 512 --heads 8 --layers 2 --batch 32 --T 24 --remove 4]

Two scopes: one multi-head self-attention layer on (batch, T_layer, d), and the whole encoder–decoder
transformer of chapter 5 at width d (source and target length T). "masked" gates the removed heads off
(ξ = 0, the same matmuls as "full"); "shrunk" is :func:`efftx_mini.compress.remove_heads` (smaller W^Q, W^K,
W^V, W^O). ``--remove`` heads (the first ones) go from every attention layer. Contenders run interleaved; the
speed-up's spread is over per-round ratios; one is claimed only where its whole range clears 1.0.
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
from ..timing import git_commit, hardware, print_table, ratio_spread, spread, time_interleaved
from ..transformer import Transformer

__all__ = ["main", "run"]


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


@torch.no_grad()
def run(d: int = 512, heads: int = 8, layers: int = 2, batch: int = 32, T: int = 24, T_layer: int = 128,
        remove: int = 4, repeats: int = 20, warmup: int = 2, device: torch.device | None = None,
        command: str | None = None) -> dict[str, Any]:
    """Time every scope's contenders; returns {"rows": [...], "meta": {...}}."""
    from .. import device as _device
    if not 0 < remove < heads:
        raise ValueError(f"remove must be in [1, heads={heads}), got {remove}")
    dev = device or _device()
    rows = []
    for scope in ("layer", "model"):
        models, call = _contenders(scope, d, heads, layers, batch, T, T_layer, remove, dev)
        out = {k: call(m) for k, m in models.items()}
        o_m = out["masked"][0] if scope == "layer" else out["masked"]
        o_s = out["shrunk"][0] if scope == "layer" else out["shrunk"]
        max_diff = float((o_m - o_s).abs().max())
        times = time_interleaved({k: (lambda m=m, c=call: c(m)) for k, m in models.items()}, repeats, warmup, dev)
        for k, m in models.items():
            s = spread(times[k])
            r = ratio_spread(times["full"], times[k])
            rows.append({"scope": scope, "variant": k, "heads_per_layer": heads - (remove if k == "shrunk" else 0),
                         "active_heads": heads - (0 if k == "full" else remove),
                         "params": sum(p.numel() for p in m.parameters()),
                         "fwd_ms": round(s.median * 1e3, 2), "fwd_ms_lo": round(s.lo * 1e3, 2),
                         "fwd_ms_hi": round(s.hi * 1e3, 2), "speedup": round(r.median, 3),
                         "speedup_lo": round(r.lo, 3), "speedup_hi": round(r.hi, 3),
                         "speedup_claimed": k != "full" and r.robust_above(1.0),
                         "max_abs_diff_shrunk_vs_masked": max_diff})
    if command is None:
        command = (f"efftx_mini.bench.prune.run(d={d}, heads={heads}, layers={layers}, batch={batch}, T={T}, "
                   f"T_layer={T_layer}, remove={remove}, repeats={repeats})")
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": str(dev),
            "dtype": "float32", "d_model": d, "n_heads": heads, "layers": layers, "batch": batch, "T": T,
            "T_layer": T_layer, "removed_per_layer": remove, "repeats": repeats, "mode": "forward, no_grad, eval"}
    return {"rows": rows, "meta": meta}


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
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.d, a.heads, a.layers, a.batch, a.T, a.T_layer, a.remove, a.repeats, a.warmup,
              command=" ".join(["python -m efftx_mini.bench prune", *argv]))
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["rows"], ["scope", "variant", "active_heads", "params", "fwd_ms", "speedup", "speedup_lo",
                                  "speedup_hi", "speedup_claimed"])
        print(f"\n{res['meta']['hardware']}; d={a.d}, H={a.heads}, {a.remove} heads removed per layer, fp32")
    return 0
