"""``python -m efftx_mini.bench attention_scaling``: time and extra peak memory of causal attention against T.

Contenders (all causal, (B, H, T, d_h) in, current device):
  softmax-explicit  softmax(QKᵀ/√d + mask) V with the T × T matrix (efftx_mini, need_weights=True)
  softmax-sdpa      PyTorch's fused kernel, ``F.scaled_dot_product_attention(..., is_causal=True)``
  linear            Katharopoulos et al. 2020, chunked prefix sums (chunk C)
  cosformer         Qin et al. 2022, the same prefix sums on 2·d_h features
  performer         Choromanski et al. 2021 (FAVOR+), the same prefix sums on m positive random features
  local             sliding window of w keys on each side (causal: the w keys before), computed blockwise

Statistics (:mod:`efftx_mini.timing`): per T the contenders run in rounds, in an order shuffled per round
(forward, then forward + backward); every row keeps the median, its 95% bootstrap interval, min–max and
quartiles of its times. ``speedup_vs_sdpa`` is softmax-sdpa's forward+backward time over the contender's, paired
per round (median, bootstrap interval, min–max, quartiles); an A/A control times softmax-sdpa twice per round, and
``verdict`` is "faster" only where the speed-up's interval lies above 1.0 while the A/A interval contains 1.0
(:func:`efftx_mini.timing.verdict`). The crossover of a contender is the first T from which the verdict is
"faster" at that T and at every longer one measured. The log–log slope of time against T is fitted for
T ≥ ``--fit-from`` from the medians, with a 95% bootstrap interval (the rounds resampled at every T).
Extra peak memory is that of one forward + backward beyond the inputs: on CUDA from the allocator; on Linux CPUs
from the process's peak resident set (VmHWM, reset through /proc/self/clear_refs before each call).
Options: ``--json``, ``--out FILE``, ``--T 256,512,…``, ``--repeats``, ``--preset``.
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

import numpy as np
import torch
import torch.nn.functional as F

from efftx_mini import device as pick_device
from efftx_mini import pick
from efftx_mini.attention import scaled_dot_product_attention
from efftx_mini.efficient.cosformer import cosformer_attention
from efftx_mini.efficient.linear import linear_attention
from efftx_mini.efficient.local import local_attention
from efftx_mini.efficient.performer import default_n_features, orthogonal_gaussian, performer_attention

from ..timing import (
    CI_LEVEL,
    aa_name,
    git_commit,
    hardware,
    print_table,
    ratio_spread,
    spread,
    time_interleaved,
    verdict,
)

__all__ = ["CONTENDERS", "BASE", "loglog_slope", "slope_ci", "run", "crossovers", "main"]

CONTENDERS = ("softmax-explicit", "softmax-sdpa", "linear", "cosformer", "performer", "local")
BASE = "softmax-sdpa"  # the speed-ups and crossovers are against PyTorch's fused softmax kernel


def loglog_slope(Ts: list[int], ys: list[float]) -> float:
    """Least-squares slope of log y against log T (1 = linear, 2 = quadratic)."""
    if len(Ts) < 2 or len(Ts) != len(ys):
        raise ValueError(f"need at least two (T, y) pairs of equal length, got {len(Ts)} T and {len(ys)} y")
    xs, zs = [math.log(t) for t in Ts], [math.log(y) for y in ys]
    mx, mz = sum(xs) / len(xs), sum(zs) / len(zs)
    return sum((x - mx) * (z - mz) for x, z in zip(xs, zs, strict=True)) / sum((x - mx) ** 2 for x in xs)


def slope_ci(Ts: list[int], samples: list[list[float]], n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the slope of the medians: each T's rounds resampled independently."""
    rng = np.random.default_rng(seed)
    arrs = [np.asarray(s, dtype=np.float64) for s in samples]
    meds = np.stack([np.median(a[rng.integers(0, a.size, size=(n_boot, a.size))], axis=1) for a in arrs], 1)
    x = np.log(np.asarray(Ts, dtype=np.float64))
    x = x - x.mean()
    z = np.log(meds)
    slopes = ((z - z.mean(1, keepdims=True)) * x).sum(1) / (x * x).sum()
    lo, hi = np.quantile(slopes, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
    return float(lo), float(hi)


def _fn(name: str, window: int, chunk: int, d_head: int, dev: torch.device) -> Callable[..., torch.Tensor]:
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
    if name == "performer":
        w = orthogonal_gaussian(default_n_features(d_head), d_head, generator=torch.Generator().manual_seed(0),
                                device=dev)
        return lambda q, k, v: performer_attention(q, k, v, causal=True, chunk=chunk, projection=w)[0]
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


def _ms(samples: list[float], prefix: str) -> dict[str, float | int]:
    """Times in seconds → a Spread of milliseconds as flat columns (median, ci, min–max, quartiles, n)."""
    d = spread([1e3 * s for s in samples]).as_dict(prefix)
    return {k: (v if isinstance(v, int) else round(v, 4)) for k, v in d.items()}


def run(Ts: list[int], *, batch: int, heads: int, d_head: int, window: int, chunk: int, repeats: int,
        max_explicit_T: int, max_sdpa_T: int, fit_from: int, dev: torch.device,
        contenders: tuple[str, ...] = CONTENDERS, seed: int = 0) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    aa_rows: list[dict[str, Any]] = []
    samples: dict[tuple[str, str, int], list[float]] = {}
    for T in Ts:
        g = torch.Generator().manual_seed(T)
        q, k, v = (torch.randn(batch, heads, T, d_head, generator=g).to(dev).requires_grad_() for _ in range(3))
        names = [n for n in contenders if not (n == "softmax-explicit" and T > max_explicit_T)
                 and not (n == "softmax-sdpa" and T > max_sdpa_T)]
        fns = {n: _fn(n, window, chunk, d_head, dev) for n in names}
        base = BASE if BASE in fns else names[0]
        qkv = (q, k, v)
        tf = time_interleaved({n: _fwd(f, qkv) for n, f in fns.items()}, repeats=repeats, warmup=1, device=dev,
                              seed=seed + T, aa_control=base)
        tb = time_interleaved({n: _fwd_bwd(f, qkv) for n, f in fns.items()}, repeats=repeats, warmup=1,
                              device=dev, seed=seed + T + 1, aa_control=base)
        aa = ratio_spread(tb[base], tb[aa_name(base)])
        aa_rows.append({"T": T, "contender": base, **{k: round(v, 4) if isinstance(v, float) else v
                                                      for k, v in aa.as_dict("aa_").items()}})
        for n in names:
            samples[("fwd", n, T)], samples[("fwd_bwd", n, T)] = tf[n], tb[n]
            mem = extra_peak_mb(_fwd_bwd(fns[n], qkv), dev)
            row: dict[str, Any] = {"attention": n, "T": T, **_ms(tf[n], "fwd_ms_"), **_ms(tb[n], "fwd_bwd_ms_"),
                                   "extra_peak_mb": None if mem is None else round(mem, 2)}
            if base == BASE and n != BASE:
                sp = ratio_spread(tb[BASE], tb[n])  # > 1: this one is faster than softmax-sdpa, paired per round
                row.update({k: round(v, 4) if isinstance(v, float) else v
                            for k, v in sp.as_dict("speedup_vs_sdpa_").items()})
                row.update({"aa_ci_lo": aa_rows[-1]["aa_ci_lo"], "aa_ci_hi": aa_rows[-1]["aa_ci_hi"],
                            "verdict": verdict(sp, aa)})
            else:
                row["verdict"] = "reference" if n == BASE else "no reference"
            rows.append(row)
        del q, k, v, qkv
    fits = []
    for n in contenders:
        for kind in ("fwd", "fwd_bwd"):
            ts = [T for T in Ts if T >= fit_from and (kind, n, T) in samples]
            if len(ts) < 2:
                continue
            med = loglog_slope(ts, [float(np.median(samples[(kind, n, T)])) for T in ts])
            lo, hi = slope_ci(ts, [samples[(kind, n, T)] for T in ts])
            mems = [(r["T"], r["extra_peak_mb"]) for r in rows if r["attention"] == n and r["T"] in ts
                    and r["extra_peak_mb"]]
            fits.append({"attention": n, "kind": kind, "T_from": ts[0], "T_to": ts[-1], "slope": round(med, 3),
                         "slope_ci_lo": round(lo, 3), "slope_ci_hi": round(hi, 3),
                         "mem_slope": round(loglog_slope(*map(list, zip(*mems, strict=True))), 3)
                         if len(mems) >= 2 else None})
    return {"rows": rows, "aa": aa_rows, "fits": fits, "crossover": crossovers(rows)}


def crossovers(rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """Per contender: the smallest measured T from which its verdict against softmax-sdpa (forward+backward) is
    "faster" at that T and at every longer T where softmax-sdpa was measured; None if there is no such T."""
    out: dict[str, int | None] = {}
    faster = {(r["attention"], r["T"]): r.get("verdict") == "faster" for r in rows}
    Ts = sorted({r["T"] for r in rows if r["attention"] == BASE})
    for n in dict.fromkeys(r["attention"] for r in rows):
        if n == BASE:
            continue
        first = None
        for T in reversed(Ts):
            if faster.get((n, T), False):
                first = T
            else:
                break
        out[n] = first
    return out


TABLE_COLUMNS = ["attention", "T", "fwd_bwd_ms_median", "fwd_bwd_ms_ci_lo", "fwd_bwd_ms_ci_hi",
                 "speedup_vs_sdpa_median", "speedup_vs_sdpa_ci_lo", "speedup_vs_sdpa_ci_hi", "aa_ci_lo", "aa_ci_hi",
                 "verdict", "extra_peak_mb"]


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
           "repeats": a.repeats or pick(smoke=2, cpu=15, gpu=20, preset=pr),
           "max_explicit_T": pick(smoke=256, cpu=4096, gpu=16384, preset=pr),
           "max_sdpa_T": pick(smoke=256, cpu=8192, gpu=32768, preset=pr),
           "fit_from": pick(smoke=64, cpu=1024, gpu=1024, preset=pr)}
    res = run(Ts, dev=dev, **cfg)
    cmd = "python -m efftx_mini.bench attention_scaling " + " ".join(argv if argv is not None else [])
    res["meta"] = {"command": cmd.strip(), "commit": git_commit(), "hardware": hardware(), "device": str(dev),
                   "dtype": "float32", "causal": True, "T": Ts, "performer_features": default_n_features(a.d_head),
                   "shuffled_rounds": True, "ci_level": CI_LEVEL, **cfg}
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["rows"], TABLE_COLUMNS)
        print_table(res["aa"], ["T", "contender", "aa_median", "aa_ci_lo", "aa_ci_hi", "aa_lo", "aa_hi"])
        print_table(res["fits"], ["attention", "kind", "T_from", "T_to", "slope", "slope_ci_lo", "slope_ci_hi",
                                  "mem_slope"])
        print("crossover vs softmax-sdpa (forward+backward, verdict 'faster' from this T on):", res["crossover"])
    return 0
