"""Exact attention's extra peak memory and time against T: explicit softmax, torch's SDPA, online, blockwise.

    python -m efftx_mini.bench memory [--json] [--seq 1024 2048 4096 8192] [--batch 1 --heads 8 --d-head 64]

Contenders are the entries of :data:`efftx_mini.efficient.ATTENTIONS` on (B, H, T, d_h) inputs, fp32, no mask
(``--causal`` for the causal case). For each T and contender:

- *extra peak memory* of one forward (under ``torch.no_grad``) and of one forward+backward, above the memory in
  use before the call (q, k, v and the output gradient excluded; output, gradients and every intermediate
  included). CUDA: ``torch.cuda.max_memory_allocated`` minus the memory allocated before. CPU: ``torch.profiler``
  with ``profile_memory=True``: its allocation and free events replayed in time order, the peak of bytes
  allocated minus bytes freed (tensors from PyTorch's CPU allocator; not Python objects). Memory is deterministic, so it
  is measured once.
- *time* of forward and of forward+backward: contenders in rounds in a shuffled order
  (``efftx_mini.timing.time_interleaved``), median with min–max over ``--repeats`` rounds. Where the explicit formula
  ("softmax") runs, it is timed twice per round (the A/A control), and every other contender gets the paired speed
  ratio ``{fwd,fwd_bwd}_speed_vs_softmax`` = softmax's time / its time per round (above 1: faster than the explicit
  formula): median, 95% bootstrap interval, min–max, quartiles, n, the A/A ratio of the same rounds (``*_aa_*``)
  and the verdict of ``efftx_mini.timing.verdict``.
- *where the forward+backward time goes* (CPU, where the explicit formula runs): ``torch.profiler`` self CPU time of
  one call, split into matrix products (``aten::mm``, ``bmm``, ``addmm``, ``baddbmm``), PyTorch's fused attention
  kernels (``aten::_scaled_dot_product_*``), all other operators (softmax, exp, sums, copies ...), and the rest of
  the wall time, spent outside operators (the Python loop, autograd's bookkeeping, the profiler itself); median of
  ``--breakdown-repeats`` profiled calls, each component separately, with the number of operator calls.

A contender whose forward+backward would need more than ``--budget-gib`` for its T_q × T_k intermediates (four
fp32 copies: scores, weights and their gradients; the explicit formula and, for forward+backward, "online") is
skipped at that T and its row says so; the analytic estimate is recorded instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from ..efficient import ATTENTIONS
from ..timing import aa_name, git_commit, hardware, print_table, spread, time_interleaved
from ._ratios import aa_spread, fmt_ratio, speed_fields
from .blocks import quiet_stderr  # the profiler writes log lines to fd 2

__all__ = ["main", "run", "extra_peak_mib", "time_breakdown", "quadratic_bytes", "QUADRATIC", "REF", "MATMUL_OPS"]

REF = "softmax"  #: the reference of every speed ratio, timed twice per round (A/A control) where it runs
MATMUL_OPS = frozenset({"aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::addbmm"})

#: contenders that hold T_q × T_k tensors: in forward and backward, or (online) in the backward only
QUADRATIC: dict[str, tuple[bool, bool]] = {"softmax": (True, True), "online": (False, True)}


def quadratic_bytes(B: int, H: int, T: int, elem: int = 4, copies: int = 4) -> int:
    """Bytes of ``copies`` (B, H, T, T) tensors of ``elem`` bytes each: the explicit formula's intermediates."""
    return copies * B * H * T * T * elem


def extra_peak_mib(step: Callable[[], object], device: torch.device) -> float:
    """Peak memory of ``step()`` above what was allocated before it, in MiB (see the module docstring)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    # Every allocation and free is a "[memory]" event with its byte count (negative for a free); replay them
    # in time order. (Summing each op's self memory at its start time would count a parent op's frees too early.)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    cur = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak / 2**20


def time_breakdown(step: Callable[[], object], repeats: int = 3) -> dict[str, float | int]:
    """Where the CPU time of ``step()`` goes (see the module docstring): ms per kind, median of ``repeats`` calls."""
    from torch.profiler import ProfilerActivity, profile

    parts: dict[str, list[float]] = {k: [] for k in ("wall_ms", "matmul_ms", "fused_ms", "other_ops_ms",
                                                     "outside_ops_ms", "matmul_calls", "op_calls")}
    for _ in range(repeats):
        with quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            step()
            wall = 1e3 * (time.perf_counter() - t0)
        ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
        matmul = sum(e.self_cpu_time_total for e in ops if e.key in MATMUL_OPS) / 1e3
        fused = sum(e.self_cpu_time_total for e in ops if e.key.startswith("aten::_scaled_dot_product")) / 1e3
        inside = sum(e.self_cpu_time_total for e in ops) / 1e3
        for k, v in (("wall_ms", wall), ("matmul_ms", matmul), ("fused_ms", fused),
                     ("other_ops_ms", inside - matmul - fused), ("outside_ops_ms", wall - inside),
                     ("matmul_calls", sum(e.count for e in ops if e.key in MATMUL_OPS)),
                     ("op_calls", sum(e.count for e in ops))):
            parts[k].append(v)
    return {k: (round(statistics.median(v), 2) if k.endswith("_ms") else int(statistics.median(v)))
            for k, v in parts.items()}


def _calls(fn: Callable[..., torch.Tensor], q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
           causal: bool) -> tuple[Callable[[], None], Callable[[], None]]:
    def fwd() -> None:
        with torch.no_grad():
            fn(q, k, v, causal=causal)

    def fwd_bwd() -> None:
        fn(q, k, v, causal=causal).backward(g)

    return fwd, fwd_bwd


def run(seqs: list[int], batch: int = 1, heads: int = 8, d_head: int = 64, repeats: int = 7, warmup: int = 1,
        names: list[str] | None = None, causal: bool = False, budget_gib: float = 3.0,
        device: torch.device | None = None, command: str | None = None, breakdown_repeats: int = 3
        ) -> dict[str, Any]:
    """Measure every contender at every T; returns {"rows": [...], "meta": {...}}."""
    from .. import device as _device
    dev = device or _device()
    names = names or ["softmax", "sdpa", "online", "blockwise"]
    for n in names:
        if n not in ATTENTIONS:
            raise ValueError(f"unknown attention {n!r}; expected some of {sorted(ATTENTIONS)}")
    rows: list[dict[str, Any]] = []
    for i, T in enumerate(seqs):
        torch.manual_seed(0)
        q, k, v = (torch.randn(batch, heads, T, d_head, device=dev, requires_grad=True) for _ in range(3))
        g = torch.randn(batch, heads, T, d_head, device=dev)
        need = quadratic_bytes(batch, heads, T)
        fits = need <= budget_gib * 2**30
        calls = {n: _calls(ATTENTIONS[n], q, k, v, g, causal) for n in names}
        timed_f = {n: c[0] for n, c in calls.items() if fits or not QUADRATIC.get(n, (False, False))[0]}
        timed_fb = {n: c[1] for n, c in calls.items() if fits or not any(QUADRATIC.get(n, (False, False)))}
        tf = time_interleaved(timed_f, repeats=repeats, warmup=warmup, device=dev, seed=2 * i,
                              aa_control=REF if REF in timed_f else None)
        tfb = time_interleaved(timed_fb, repeats=repeats, warmup=warmup, device=dev, seed=2 * i + 1,
                               aa_control=REF if REF in timed_fb else None)
        for n in [*names, aa_name(REF)]:
            if n == aa_name(REF) and n not in tf and n not in tfb:
                continue
            row: dict[str, Any] = {"T": T, "impl": n, "quadratic_estimate_mib": round(need / 2**20, 1)}
            for tag, times in (("fwd", tf), ("fwd_bwd", tfb)):
                if n not in times:
                    row[f"{tag}_peak_mib"] = None
                    row[f"{tag}_note"] = f"skipped: needs ~{need / 2**30:.1f} GiB > budget {budget_gib} GiB"
                    continue
                s = spread([1e3 * t for t in times[n]])
                row.update({f"{tag}_ms": round(s.median, 2), f"{tag}_ms_lo": round(s.lo, 2),
                            f"{tag}_ms_hi": round(s.hi, 2)})
                if n == aa_name(REF):  # the A/A control: softmax's time / its second copy's, per round
                    row.update(aa_spread(times, REF).as_dict(f"{tag}_aa_"))
                    continue
                for t in (q, k, v):  # the gradients this call creates count; older ones are freed first
                    t.grad = None
                row[f"{tag}_peak_mib"] = round(extra_peak_mib(calls[n][0 if tag == "fwd" else 1], dev), 2)
                if REF in times and n != REF:
                    row.update(speed_fields(times, REF, n, f"{tag}_speed_vs_softmax"))
            if n in tfb and REF in tfb and dev.type == "cpu" and breakdown_repeats > 0 and n != aa_name(REF):
                for t in (q, k, v):
                    t.grad = None
                row.update({f"fwd_bwd_{k}": val for k, val in time_breakdown(calls[n][1], breakdown_repeats).items()})
            rows.append(row)
        del q, k, v, g
    if command is None:
        command = (f"efftx_mini.bench.memory.run(seqs={seqs}, batch={batch}, heads={heads}, d_head={d_head}, "
                   f"repeats={repeats}, names={names}, causal={causal}, budget_gib={budget_gib})")
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": str(dev),
            "dtype": "float32", "batch": batch, "heads": heads, "d_head": d_head, "causal": causal,
            "repeats": repeats, "warmup": warmup, "budget_gib": budget_gib, "seqs": seqs,
            "aa_control": REF if REF in names else None, "breakdown_repeats": breakdown_repeats,
            "memory_method": ("cuda max_memory_allocated minus memory_allocated before the call"
                              if dev.type == "cuda" else
                              "torch.profiler profile_memory: allocation/free events in order, peak live bytes"),
            "gpu_note": None if dev.type == "cuda" else "no GPU was available: CPU numbers only"}
    return {"rows": rows, "meta": meta}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench memory", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--seq", type=int, nargs="+", default=[1024, 2048, 4096, 8192], help="sequence lengths T")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--d-head", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--impls", default=None, help=f"comma-separated subset of {','.join(sorted(ATTENTIONS))}")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--budget-gib", type=float, default=3.0,
                   help="skip quadratic contenders whose T×T intermediates would exceed this")
    p.add_argument("--breakdown-repeats", type=int, default=3,
                   help="profiled forward+backward calls per contender for the time breakdown (0: none)")
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.seq, a.batch, a.heads, a.d_head, a.repeats, a.warmup, a.impls.split(",") if a.impls else None,
              a.causal, a.budget_gib, command=" ".join(["python -m efftx_mini.bench memory", *argv]),
              breakdown_repeats=a.breakdown_repeats)
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        table = []
        for r in res["rows"]:
            t = {**r, "fwd+bwd speed vs softmax": fmt_ratio(r, "fwd_bwd_speed_vs_softmax", 3),
                 "A/A": fmt_ratio(r, "fwd_bwd_speed_vs_softmax_aa", 3) or fmt_ratio(r, "fwd_bwd_aa", 3),
                 "verdict": r.get("fwd_bwd_speed_vs_softmax_verdict", "")}
            if r["impl"] == aa_name(REF):
                t["verdict"] = "A/A control"
            elif r["impl"] == REF:
                t["verdict"] = "reference"
            table.append(t)
        print_table(table, ["T", "impl", "fwd_peak_mib", "fwd_bwd_peak_mib", "fwd_ms", "fwd_bwd_ms",
                            "fwd+bwd speed vs softmax", "A/A", "verdict", "fwd_bwd_matmul_ms", "fwd_bwd_other_ops_ms",
                            "fwd_bwd_outside_ops_ms"])
        m = res["meta"]
        print(f"\n{m['hardware']}; B={a.batch}, H={a.heads}, d_h={a.d_head}, fp32, causal={a.causal}; "
              f"memory: {m['memory_method']}; {a.repeats} shuffled rounds; speed: median [95% CI] of the per-round "
              f"ratios; A/A: softmax timed twice per round")
    return 0
