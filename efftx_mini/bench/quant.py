"""Int8 and 4-bit weights against float32 on the CPU: a linear layer, an MLP, the language model's forward pass and
generation, and this machine's memory bandwidth and FLOP rate for a roofline sketch.

    python -m efftx_mini.bench quant [--json] [--threads 1] [--rounds 15] [--tokens 64]

Contenders per workload: ``fp32``; ``int8`` (int8 dynamic quantization on PyTorch's CPU int8 engine,
:class:`efftx_mini.quant.Int8DynamicLinear`); ``w4`` (4-bit weights, groups of 128, dequantized to float32 on every
call, :class:`efftx_mini.quant.WeightOnlyLinear`: this CPU has no int4 matmul kernel); for generation also the
int8 KV cache. Every round runs every contender once in a shuffled order (``efftx_mini.timing``), the speed-up of
X is the median of the per-round ratios t_fp32 / t_X with a 95% bootstrap interval, and ``fp32`` is timed twice
per round (A/A control, the noise floor); the verdict follows :func:`efftx_mini.timing.verdict`.

Workloads: ``linear`` 1024→4096 and ``mlp`` 1024→4096→1024 (GELU) on ``--tokens`` rows and on 1 row (one decoding
step: memory-bound); ``lm_forward``: chapter 6's LM shape (d=128, 8 heads, 2 layers, d_ff=512) on 8×128 tokens,
and a wider one (d=512, 8 heads, 4 layers, d_ff=2048); ``generation``: chapter 6's LM, a 16-token prompt, 64
greedy tokens. Weights are random (speed does not depend on their values). Roofline inputs: the bandwidth of a
256 MiB copy (main memory) and of a 16 MiB copy (the size of the weight matrices, which the cache may hold), the
float32 matmul rate (1024³) and the int8 engine's rate (a 1024×1024 int8 linear on 1024 rows), each the best of its
rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..generate import generate
from ..lm import DecoderOnlyLM
from ..quant import Int8DynamicLinear, Int8KVCache, WeightOnlyLinear, quantize_model
from ..timing import aa_name, git_commit, hardware, print_table, ratio_spread, spread, time_interleaved, verdict

__all__ = ["main", "run", "roofline_inputs", "linear_traffic"]

GOAL = 1.5  # the chapter's goal for int8 dynamic on the MLP and the LM forward


def _swap(model: nn.Module, make: Callable[[nn.Linear], nn.Module]) -> nn.Module:
    import copy
    if type(model) is nn.Linear:
        return make(model).eval()
    m = copy.deepcopy(model)
    for name, mod in list(m.named_modules()):
        if type(mod) is nn.Linear:
            parent, _, child = name.rpartition(".")
            setattr(m.get_submodule(parent) if parent else m, child, make(mod))
    return m.eval()


def _layer_contenders(model: nn.Module) -> dict[str, nn.Module]:
    return {"fp32": model.eval(), "int8": _swap(model, Int8DynamicLinear),
            "w4": _swap(model, lambda lin: WeightOnlyLinear.from_linear(lin, 4, 128))}


def _time(fns: dict[str, Callable[[], Any]], rounds: int, seed: int) -> dict[str, Any]:
    with torch.no_grad():
        t = time_interleaved(fns, repeats=rounds, warmup=2, seed=seed, aa_control="fp32")
    aa = ratio_spread(t["fp32"], t[aa_name("fp32")])
    rows = {}
    for name in fns:
        s = spread(t[name])
        r = ratio_spread(t["fp32"], t[name])
        rows[name] = {"ms": round(s.median * 1e3, 4), "ms_q1": round(s.q1 * 1e3, 4), "ms_q3": round(s.q3 * 1e3, 4),
                      **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.as_dict("speedup_").items()},
                      "verdict": "reference" if name == "fp32" else verdict(r, aa)}
    return {"rows": rows, "aa": {k: round(v, 4) if isinstance(v, float) else v for k, v in aa.as_dict().items()}}


def linear_traffic(M: int, K: int, N: int, kind: str) -> dict[str, float]:
    """FLOPs and bytes moved (ideal: each operand read or written once) of y (M, N) = x (M, K) Wᵀ for a float32,
    an int8 dynamic (int8 weights; activations read, quantized to one byte, read again) and a 4-bit weight-only
    layer that dequantizes W to float32 first (read 4-bit codes, write and read the float32 copy)."""
    flops = 2.0 * M * K * N
    act = 4.0 * (M * K + M * N)
    if kind == "fp32":
        w = 4.0 * K * N
    elif kind == "int8":
        w, act = 1.0 * K * N, act + 2.0 * M * K
    elif kind == "w4":
        w = 0.5 * K * N + 8.0 * K * N
    else:
        raise ValueError(f"kind must be fp32, int8 or w4, got {kind!r}")
    return {"flops": flops, "bytes": w + act, "intensity": flops / (w + act)}


def roofline_inputs(rounds: int = 9, copy_mib: int = 256, cache_mib: int = 16, n: int = 1024) -> dict[str, float]:
    """This machine's copy bandwidth (GB/s, read + write) for a ``copy_mib`` MiB tensor (main memory) and a
    ``cache_mib`` MiB one (the size of the benchmark's weight matrices, which the processor's cache may hold), and
    its float32 matmul and int8-engine rates (GFLOP/s, GOP/s) on n×n×n products. Peak figures: the best of
    ``rounds`` interleaved rounds (a machine is never faster than it can be, but it is often slower)."""
    big, small = torch.ones(copy_mib * 2**18), torch.ones(cache_mib * 2**18)
    big_dst, small_dst = torch.empty_like(big), torch.empty_like(small)
    a, b = torch.randn(n, n), torch.randn(n, n)
    q8 = Int8DynamicLinear(nn.Linear(n, n, bias=False))
    x = torch.randn(n, n)
    fns = {"copy": lambda: big_dst.copy_(big), "copy_cache": lambda: small_dst.copy_(small), "mm_fp32": lambda: a @ b,
           "mm_int8": lambda: q8(x)}
    with torch.no_grad():
        t = time_interleaved(fns, repeats=rounds, warmup=1, seed=1)
    best = {k: min(v) for k, v in t.items()}
    return {"bandwidth_gb_s": round(2 * copy_mib * 2**20 / best["copy"] / 1e9, 3),
            "cache_bandwidth_gb_s": round(2 * cache_mib * 2**20 / best["copy_cache"] / 1e9, 3),
            "fp32_gflop_s": round(2 * n**3 / best["mm_fp32"] / 1e9, 3),
            "int8_gop_s": round(2 * n**3 / best["mm_int8"] / 1e9, 3), "copy_mib": copy_mib, "cache_mib": cache_mib,
            "matmul_n": n, "statistic": f"best of {rounds} rounds"}


def run(threads: int = 1, rounds: int = 15, tokens: int = 64, new_tokens: int = 64, seed: int = 0,
        command: str | None = None, *, width: int = 1024, hidden: int = 4096,
        lm_shapes: tuple[tuple[int, int], ...] = ((128, 2), (512, 4)), lm_batch: tuple[int, int] = (8, 128),
        copy_mib: int = 256, cache_mib: int = 16, matmul_n: int = 1024) -> dict[str, Any]:
    """Measure every workload; returns {"workloads": [...], "roofline": {...}, "goals": {...}, "meta": {...}}.
    The keyword-only sizes exist for the tests; the results file uses the defaults."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        commit, hw = git_commit(), hardware()
        torch.manual_seed(seed)
        out: list[dict[str, Any]] = []

        def record(name: str, desc: str, fns: dict[str, Callable[[], Any]], shape: dict[str, int] | None = None
                   ) -> None:
            res = _time(fns, rounds, seed)
            for contender, row in res["rows"].items():
                out.append({"workload": name, "description": desc, "contender": contender, **row,
                            **{f"aa_{k}": v for k, v in res["aa"].items()}, **(shape or {})})

        linear = nn.Linear(width, hidden)
        mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        for rows in (tokens, 1):
            x = torch.randn(rows, width)
            for wname, mod in (("linear", linear), ("mlp", mlp)):
                c = _layer_contenders(mod)
                desc = f"{width}→{hidden}" if wname == "linear" else f"{width}→{hidden}→{width}, GELU"
                record(f"{wname}_{rows}tok", f"{desc}, {rows} token(s)",
                       {k: (lambda m=m, x=x: m(x)) for k, m in c.items()}, {"M": rows})
        lm_tags = {("lm_forward" if i == 0 else f"lm_forward_d{d}"): (d, L) for i, (d, L) in enumerate(lm_shapes)}
        for tag, (d, L) in lm_tags.items():
            torch.manual_seed(seed)
            lm = DecoderOnlyLM("pre-ln", 259, d, 8, L, 4 * d, 128).eval()
            toks = torch.randint(0, 259, lm_batch, generator=torch.Generator().manual_seed(seed))
            c = {"fp32": lm, "int8": quantize_model(lm, "int8-dynamic"), "w4": quantize_model(lm, "w4-rtn-g128")}
            record(tag, f"DecoderOnlyLM d={d}, {L} layers, d_ff={4 * d}, {lm_batch[0]}×{lm_batch[1]} tokens",
                   {k: (lambda m=m, toks=toks: m(toks)) for k, m in c.items()}, {"d_model": d, "layers": L})
        torch.manual_seed(seed)
        d0, L0 = lm_shapes[0]
        lm = DecoderOnlyLM("pre-ln", 259, d0, 8, L0, 4 * d0, 128).eval()
        lm8 = quantize_model(lm, "int8-dynamic")
        prompt = [list(range(1, 17))]
        fns = {"fp32": lambda: generate(lm, prompt, new_tokens, greedy=True),
               "int8": lambda: generate(lm8, prompt, new_tokens, greedy=True),
               "int8+kv8": lambda: generate(lm8, prompt, new_tokens, greedy=True, cache_cls=Int8KVCache),
               "kv8": lambda: generate(lm, prompt, new_tokens, greedy=True, cache_cls=Int8KVCache)}
        record("generation", f"DecoderOnlyLM d={d0}, {L0} layers: 16-token prompt, {new_tokens} greedy tokens, "
               "batch 1", fns, {"new_tokens": new_tokens})
        roof = roofline_inputs(copy_mib=copy_mib, cache_mib=cache_mib, n=matmul_n)
        for r in out:
            if r["workload"].startswith(("linear", "mlp")):
                M = r["M"]
                shapes = [(width, hidden)] if r["workload"].startswith("linear") else [(width, hidden), (hidden, width)]
                tr = [linear_traffic(M, K, N, r["contender"]) for K, N in shapes]
                flops, nbytes = sum(t["flops"] for t in tr), sum(t["bytes"] for t in tr)
                peak = roof["int8_gop_s"] if r["contender"] == "int8" else roof["fp32_gflop_s"]
                r.update(flops=flops, bytes=nbytes, intensity=round(flops / nbytes, 4),
                         roofline_ms=round(1e3 * max(flops / (peak * 1e9), nbytes / (roof["bandwidth_gb_s"] * 1e9)),
                                           4),
                         achieved_gflop_s=round(flops / (r["ms"] * 1e-3) / 1e9, 3))
        by = {(r["workload"], r["contender"]): r for r in out}
        goals = {}
        for w in (f"mlp_{tokens}tok", *lm_tags):
            r = by[(w, "int8")]
            goals[w] = {"speedup": r["speedup_median"], "ci_lo": r["speedup_ci_lo"], "ci_hi": r["speedup_ci_hi"],
                        "verdict": r["verdict"], "met": bool(r["speedup_median"] >= GOAL and r["speedup_ci_lo"] > 1.0
                                                             and r["verdict"] == "faster")}
        if command is None:
            command = f"efftx_mini.bench.quant.run(threads={threads}, rounds={rounds}, tokens={tokens})"
        meta = {"command": command, "commit": commit, "hardware": hw, "threads": threads, "rounds": rounds,
                "tokens": tokens, "engine": torch.backends.quantized.engine, "torch": torch.__version__,
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "goal_speedup": GOAL}
        return {"workloads": out, "roofline": roof, "goals": goals, "meta": meta}
    finally:
        torch.set_num_threads(old_threads)


COLUMNS = ["workload", "contender", "ms", "speedup_median", "speedup_ci_lo", "speedup_ci_hi", "verdict",
           "aa_median", "aa_ci_lo", "aa_ci_hi"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench quant", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--tokens", type=int, default=64, help="rows of the linear and MLP inputs")
    p.add_argument("--new-tokens", type=int, default=64)
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.threads, a.rounds, a.tokens, a.new_tokens,
              command=" ".join(["python -m efftx_mini.bench quant", *argv]))
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["workloads"], COLUMNS)
        print(f"\nroofline inputs: {res['roofline']}\ngoals: {res['goals']}\n{res['meta']['hardware']}")
    return 0
