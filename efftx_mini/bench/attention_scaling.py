"""``python -m efftx_mini.bench attention_scaling``: time and extra peak memory of causal attention against T.

Contenders (all causal, (B, H, T, d_h) in, current device):
  softmax-explicit  softmax(QKᵀ/√d + mask) V with the T × T matrix (efftx_mini, need_weights=True)
  softmax-sdpa      PyTorch's fused kernel, ``F.scaled_dot_product_attention(..., is_causal=True)``
  linear            Katharopoulos et al. 2020, chunked prefix sums (chunk C)
  cosformer         Qin et al. 2022, the same prefix sums on 2·d_h features
  local             sliding window of w keys, computed blockwise

Per T, the contenders run interleaved (forward, then forward + backward), median and min–max over repeats.
Extra peak memory is that of one forward + backward beyond the inputs: on CUDA from the allocator; on Linux
CPUs from the process's peak resident set (VmHWM, reset through /proc/self/clear_refs before each call).
``speedup_vs_sdpa`` is softmax-sdpa's forward+backward time over the contender's, paired per repeat round
(median, min, max); the crossover is the first T from which that whole range stays above 1.
The log–log slope of time against T is fitted for T ≥ ``--fit-from`` from the medians, and from each repeat
round separately for its range. Options: ``--json``, ``--out FILE``, ``--T 256,512,…``, ``--preset``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from efftx_mini import device as pick_device
from efftx_mini import pick
from efftx_mini.attention import scaled_dot_product_attention
from efftx_mini.efficient.cosformer import cosformer_attention
from efftx_mini.efficient.linear import linear_attention
from efftx_mini.efficient.local import local_attention

from ..timing import git_commit, hardware, print_table, ratio_spread, spread, time_interleaved

__all__ = ["CONTENDERS", "loglog_slope", "run", "main"]

CONTENDERS = ("softmax-explicit", "softmax-sdpa", "linear", "cosformer", "local")
BASE = "softmax-sdpa"  # the speed-ups and crossovers are against PyTorch's fused softmax kernel


def loglog_slope(Ts: list[int], ys: list[float]) -> float:
    """Least-squares slope of log y against log T (1 = linear, 2 = quadratic)."""
    if len(Ts) < 2 or len(Ts) != len(ys):
        raise ValueError(f"need at least two (T, y) pairs of equal length, got {len(Ts)} T and {len(ys)} y")
    xs, zs = [math.log(t) for t in Ts], [math.log(y) for y in ys]
    mx, mz = sum(xs) / len(xs), sum(zs) / len(zs)
    return sum((x - mx) * (z - mz) for x, z in zip(xs, zs, strict=True)) / sum((x - mx) ** 2 for x in xs)


def _fn(name: str, window: int, chunk: int) -> Callable[..., torch.Tensor]:
    if name == "softmax-explicit":
        def f(q, k, v):  # noqa: ANN001, ANN202
            mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
            return scaled_dot_product_attention(q, k, v, mask, need_weights=True)[0]
        return f
    if name == "softmax-sdpa":
        return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if name == "linear":
        return lambda q, k, v: linear_attention(q, k, v, causal=True, chunk=chunk)[0]
    if name == "cosformer":
        return lambda q, k, v: cosformer_attention(q, k, v, causal=True, chunk=chunk)[0]
    if name == "local":
        return lambda q, k, v: local_attention(q, k, v, causal=True, window=window)[0]
    raise ValueError(f"unknown contender {name!r}; expected one of {CONTENDERS}")


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_free_heap() -> None:
    """glibc only: serve every allocation above 64 KiB by mmap (returned on free) and trim the heap, so that the
    resident set falls back after each call and the next call's peak is its own."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD: fixed, no longer raised by earlier frees
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def extra_peak_mb(call: Callable[[], object], dev: torch.device) -> float | None:
    """Peak memory of ``call()`` beyond what was allocated before it, in MiB (None where it can't be read)."""
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        call()
        torch.cuda.synchronize(dev)
        return (torch.cuda.max_memory_allocated(dev) - before) / 2**20
    _release_free_heap()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kb("VmRSS")
    call()
    peak = _status_kb("VmHWM")
    return None if before is None or peak is None else max(peak - before, 0) / 1024


def _fwd(f: Callable[..., torch.Tensor], qkv: tuple[torch.Tensor, ...]) -> Callable[[], None]:
    def go() -> None:
        with torch.no_grad():
            f(*qkv)
    return go


def _fwd_bwd(f: Callable[..., torch.Tensor], qkv: tuple[torch.Tensor, ...]) -> Callable[[], None]:
    def go() -> None:
        f(*qkv).sum().backward()
        for t in qkv:
            t.grad = None
    return go


def run(Ts: list[int], *, batch: int, heads: int, d_head: int, window: int, chunk: int, repeats: int,
        max_explicit_T: int, max_sdpa_T: int, fit_from: int, dev: torch.device,
        contenders: tuple[str, ...] = CONTENDERS) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    samples: dict[tuple[str, str, int], list[float]] = {}
    for T in Ts:
        g = torch.Generator().manual_seed(T)
        q, k, v = (torch.randn(batch, heads, T, d_head, generator=g).to(dev).requires_grad_() for _ in range(3))
        names = [n for n in contenders if not (n == "softmax-explicit" and T > max_explicit_T)
                 and not (n == "softmax-sdpa" and T > max_sdpa_T)]
        fns = {n: _fn(n, window, chunk) for n in names}

        qkv = (q, k, v)
        tf = time_interleaved({n: _fwd(f, qkv) for n, f in fns.items()}, repeats=repeats, warmup=1, device=dev)
        tb = time_interleaved({n: _fwd_bwd(f, qkv) for n, f in fns.items()}, repeats=repeats, warmup=1, device=dev)
        for n in names:
            samples[("fwd", n, T)], samples[("fwd_bwd", n, T)] = tf[n], tb[n]
            sf, sb = spread(tf[n]), spread(tb[n])
            mem = extra_peak_mb(_fwd_bwd(fns[n], qkv), dev)
            # paired per round: softmax-sdpa's time / this one's (> 1 = this one is faster)
            sp = ratio_spread(tb[BASE], tb[n]) if BASE in tb else None
            rows.append({"attention": n, "T": T, "fwd_ms": 1e3 * sf.median, "fwd_ms_lo": 1e3 * sf.lo,
                         "fwd_ms_hi": 1e3 * sf.hi, "fwd_bwd_ms": 1e3 * sb.median, "fwd_bwd_ms_lo": 1e3 * sb.lo,
                         "fwd_bwd_ms_hi": 1e3 * sb.hi, "extra_peak_mb": None if mem is None else round(mem, 2),
                         "speedup_vs_sdpa": None if sp is None else round(sp.median, 3),
                         "speedup_vs_sdpa_lo": None if sp is None else round(sp.lo, 3),
                         "speedup_vs_sdpa_hi": None if sp is None else round(sp.hi, 3)})
        del q, k, v, qkv
    fits = []
    for n in contenders:
        for kind in ("fwd", "fwd_bwd"):
            ts = [T for T in Ts if T >= fit_from and (kind, n, T) in samples]
            if len(ts) < 2:
                continue
            med = loglog_slope(ts, [spread(samples[(kind, n, T)]).median for T in ts])
            per_round = [loglog_slope(ts, [samples[(kind, n, T)][r] for T in ts]) for r in range(repeats)]
            mems = [(r["T"], r["extra_peak_mb"]) for r in rows if r["attention"] == n and r["T"] in ts
                    and r["extra_peak_mb"]]
            fits.append({"attention": n, "kind": kind, "T_from": ts[0], "T_to": ts[-1], "slope": round(med, 3),
                         "slope_lo": round(min(per_round), 3), "slope_hi": round(max(per_round), 3),
                         "mem_slope": round(loglog_slope(*map(list, zip(*mems, strict=True))), 3)
                         if len(mems) >= 2 else None})
    return {"rows": rows, "fits": fits, "crossover": crossovers(rows)}


def crossovers(rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """Per contender: the smallest measured T from which it is robustly faster than softmax-sdpa in forward+backward
    (the whole min–max range of the paired per-round speed-up above 1) at that T and every longer one measured."""
    out: dict[str, int | None] = {}
    lo = {(r["attention"], r["T"]): r["speedup_vs_sdpa_lo"] for r in rows if r["speedup_vs_sdpa_lo"] is not None}
    Ts = sorted({T for (n, T) in lo if n == BASE})
    for n in dict.fromkeys(r["attention"] for r in rows):
        if n == BASE:
            continue
        first = None
        for T in reversed(Ts):
            if (n, T) in lo and lo[(n, T)] > 1.0:
                first = T
            else:
                break
        out[n] = first
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench attention_scaling",
                                description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--out", default=None, help="also write the JSON object to this file")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None)
    p.add_argument("--T", default=None, help="comma-separated lengths (default per preset)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--d-head", type=int, default=32)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--repeats", type=int, default=None)
    a = p.parse_args(argv)
    pr = a.preset
    Ts = [int(t) for t in a.T.split(",")] if a.T else pick(
        smoke=[64, 128, 256], cpu=[256, 512, 1024, 2048, 4096, 8192],
        gpu=[512, 1024, 2048, 4096, 8192, 16384, 32768], preset=pr)
    dev = pick_device()
    cfg = {"batch": a.batch, "heads": a.heads, "d_head": a.d_head, "window": a.window, "chunk": a.chunk,
           "repeats": a.repeats or pick(smoke=2, cpu=7, gpu=10, preset=pr),
           "max_explicit_T": pick(smoke=256, cpu=4096, gpu=16384, preset=pr),
           "max_sdpa_T": pick(smoke=256, cpu=8192, gpu=32768, preset=pr),
           "fit_from": pick(smoke=64, cpu=1024, gpu=1024, preset=pr)}
    res = run(Ts, dev=dev, **cfg)
    cmd = "python -m efftx_mini.bench attention_scaling " + " ".join(argv if argv is not None else [])
    res["meta"] = {"command": cmd.strip(), "commit": git_commit(), "hardware": hardware(), "device": str(dev),
                   "dtype": "float32", "causal": True, "T": Ts, **cfg}
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["rows"], ["attention", "T", "fwd_ms", "fwd_bwd_ms", "fwd_bwd_ms_lo", "fwd_bwd_ms_hi",
                                  "speedup_vs_sdpa_lo", "speedup_vs_sdpa", "speedup_vs_sdpa_hi", "extra_peak_mb"])
        print_table(res["fits"], ["attention", "kind", "T_from", "T_to", "slope", "slope_lo", "slope_hi",
                                  "mem_slope"])
        print("robust crossover vs softmax-sdpa (forward+backward):", res["crossover"])
    return 0
