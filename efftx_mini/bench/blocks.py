"""Blocks side by side at equal width and depth: parameters, forward+backward tokens/s, peak memory.

    python -m efftx_mini.bench blocks [--json] [--d 768 --heads 12 --T 128 --batch 8 --layers 4]

He & Hofmann 2024, Table 1 compares parameters and training speed of the blocks; this is the same
comparison on the current device (fp32). Parameters are counted for one block in layer 1 (layers > 0
have no trainable value matrix in SAS/SAS-P): all parameters, and weight matrices only (the paper's
accounting, §4.2: 12d² for Pre-LN, 10d² for SAS and SAS-P when d_ff = 4d). Speed: median seconds of
forward+backward through a stack of ``--layers`` blocks (layers 0…L−1), contenders interleaved.
Peak memory of one forward+backward above the memory in use before it (parameters and input excluded,
gradients and activations included): CUDA ``max_memory_allocated``; CPU ``torch.profiler`` with
``profile_memory=True`` (the peak of the running sum of bytes allocated minus freed, op by op; the profiler's
own log lines are kept out of the output). The stacks run in rounds in a shuffled order, and Pre-LN is timed
twice per round (the A/A control). ``speed_*`` is Pre-LN's time / the block's per round (above 1: the block is
faster): median with its 95% bootstrap interval (``speed_ci_lo``, ``speed_ci_hi``), min–max, quartiles and n;
``speed_aa_*`` is the A/A ratio of the same rounds, and ``speed_verdict`` is ``efftx_mini.timing.verdict``:
"faster" or "slower" only where the interval excludes 1.0 and the A/A interval contains 1.0.

The ``sas-p (no norm)`` row is the paper's norm-free SAS-P (§4.4; ``norm=None``): no normalisation inside the
blocks except a LayerNorm on the input of block 0, as in the authors' code (the final LayerNorm of a model sits
outside the blocks and is not timed here).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..blocks import get_block, matrix_params
from ..timing import aa_name, git_commit, hardware, print_table, spread, time_interleaved
from ._ratios import aa_spread, fmt_ratio, speed_fields

__all__ = ["main", "run", "CONTENDERS", "REF", "quiet_stderr"]

#: row name → (block name, block kwargs)
CONTENDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "pre-ln": ("pre-ln", {}),
    "post-ln": ("post-ln", {}),
    "parallel": ("parallel", {}),
    "value-skipinit": ("value-skipinit", {}),
    "sas": ("sas", {}),
    "sas-p": ("sas-p", {}),
    "sas-p (no norm)": ("sas-p", {"norm": None}),
}
REF = "pre-ln"  #: the reference of every speed ratio, timed twice per round (A/A control)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C-level writes such as the profiler's ``USDT … profiler_stop`` lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _stack(name: str, d: int, heads: int, layers: int, dev: torch.device) -> nn.ModuleList:
    block, kw = CONTENDERS[name]
    cls = get_block(block)
    return nn.ModuleList(cls(d, heads, 4 * d, causal=True, layer_idx=i, n_layers=layers, **kw)
                         for i in range(layers)).to(dev)


def _step_fn(stack: nn.ModuleList, x: torch.Tensor, g: torch.Tensor):
    def step() -> None:
        for p in stack.parameters():
            p.grad = None
        h = x
        for blk in stack:
            h = blk(h)
        h.backward(g)
    return step


def _profiled_peak_mib(step) -> float:
    """Peak of the running sum of bytes allocated minus freed, op by op, recorded by torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    cur = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += e.self_cpu_memory_usage
        peak = max(peak, cur)
    return peak / 2**20


def _peak_mib(name: str, d: int, heads: int, T: int, batch: int, layers: int, dev: torch.device) -> float:
    torch.manual_seed(0)
    stack = _stack(name, d, heads, layers, dev)
    x, g = torch.randn(batch, T, d, device=dev), torch.randn(batch, T, d, device=dev)
    step = _step_fn(stack, x, g)
    if dev.type != "cuda":
        return _profiled_peak_mib(step)
    torch.cuda.synchronize(dev)
    base = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    step()
    torch.cuda.synchronize(dev)
    return (torch.cuda.max_memory_allocated(dev) - base) / 2**20


def run(d: int = 768, heads: int = 12, T: int = 128, batch: int = 8, layers: int = 4, repeats: int = 9,
        warmup: int = 1, names: list[str] | None = None, memory: bool = True,
        device: torch.device | None = None, command: str | None = None) -> dict[str, Any]:
    """Measure every contender; returns {"rows": [...], "meta": {...}}."""
    from .. import device as _device
    dev = device or _device()
    names = names or list(CONTENDERS)
    for n in names:
        if n not in CONTENDERS:
            raise ValueError(f"unknown block {n!r}; expected some of {list(CONTENDERS)}")
    torch.manual_seed(0)
    x, g = torch.randn(batch, T, d, device=dev), torch.randn(batch, T, d, device=dev)
    stacks = {n: _stack(n, d, heads, layers, dev) for n in names}
    samples = time_interleaved({n: _step_fn(s, x, g) for n, s in stacks.items()}, repeats=repeats, warmup=warmup,
                               device=dev, aa_control=REF if REF in stacks else None)
    times = {n: spread(v).median for n, v in samples.items()}
    ref_block = _stack(REF, d, heads, 2, torch.device("cpu"))[1]
    ref_matrix = matrix_params(ref_block)
    rows = []
    for n in names:
        blk = stacks[n][1] if layers > 1 else _stack(n, d, heads, 2, torch.device("cpu"))[1]
        row = {"block": n, "params_per_block": sum(p.numel() for p in blk.parameters()),
               "matrix_params_per_block": matrix_params(blk),
               "matrix_ratio_vs_pre_ln": round(matrix_params(blk) / ref_matrix, 4),
               "fwd_bwd_ms": round(times[n] * 1e3, 2), "tokens_per_s": round(batch * T / times[n], 1)}
        if REF in times and n != REF:  # per-round ratios t_pre-ln / t_block: paired, so load drifts cancel
            row.update(speed_fields(samples, REF, n, "speed"))
        elif n == REF:
            row["speed_verdict"] = "reference"
            if REF in times:  # the A/A control: Pre-LN's time / its second copy's, per round
                row.update(aa_spread(samples, REF).as_dict("speed_aa_"))
                row["fwd_bwd_ms_aa_copy"] = round(times[aa_name(REF)] * 1e3, 2)
        if memory:
            row["peak_mem_mib"] = round(_peak_mib(n, d, heads, T, batch, layers, dev), 1)
        rows.append(row)
    if command is None:
        command = (f"efftx_mini.bench.blocks.run(d={d}, heads={heads}, T={T}, batch={batch}, layers={layers}, "
                   f"repeats={repeats}, names={names}, memory={memory})")
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": str(dev), "dtype": "float32",
            "d_model": d, "n_heads": heads, "T": T, "batch": batch, "layers": layers, "repeats": repeats,
            "aa_control": REF if REF in names else None,
            "memory_method": ("cuda max_memory_allocated" if dev.type == "cuda"
                              else "torch.profiler profile_memory: peak running sum of allocations")}
    return {"rows": rows, "meta": meta}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench blocks", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--T", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--blocks", default=None, help=f"comma-separated subset of {','.join(CONTENDERS)}")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.d, a.heads, a.T, a.batch, a.layers, a.repeats, a.warmup,
              a.blocks.split(",") if a.blocks else None, memory=not a.no_memory,
              command=" ".join(["python -m efftx_mini.bench blocks", *argv]))
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        table = [{**r, "speed vs pre-ln": fmt_ratio(r, "speed", 3), "A/A": fmt_ratio(r, "speed_aa", 3),
                  "verdict": r.get("speed_verdict", "")} for r in res["rows"]]
        cols = ["block", "params_per_block", "matrix_params_per_block", "matrix_ratio_vs_pre_ln", "fwd_bwd_ms",
                "tokens_per_s", "speed vs pre-ln", "A/A", "verdict"] + (["peak_mem_mib"] if not a.no_memory else [])
        print_table(table, cols)
        print(f"\n{res['meta']['hardware']}; d={a.d}, H={a.heads}, T={a.T}, batch={a.batch}, {a.layers} blocks, fp32; "
              f"memory: {res['meta']['memory_method']}; speed vs pre-ln: median [95% CI] of the per-round ratios over "
              f"{a.repeats} shuffled rounds; A/A: Pre-LN timed twice per round")
    return 0
