"""Inference speed of the chapter-12 backbones against the ViT: images/s and time per batch on this device.

    python -m efftx_mini.bench backbones [--json] [--preset cpu] [--batch 64] [--repeats 15]
        [--latency-repeats 200] [--breakdown-repeats 15] [--out FILE]

The models are those of ``python -m efftx_mini.experiments.backbones`` at the same preset, in eval mode with every
BatchNorm folded into its convolution (``efftx_mini.vision.fuse_batchnorm``, as the EfficientViT authors measure
speed). Following ``efftx_mini.timing``: the contenders run in rounds, in an order shuffled per round; each model's
speed against the ViT is the median of the per-round ratios t_ViT / t_model with its 95% bootstrap interval; the
ViT is timed twice per round (A/A control); the verdict says "faster"/"slower" only where the interval excludes
1.0 and the A/A interval contains it. Time per image at batch 1 is measured the same way in a second pass
(``--latency-repeats`` rounds: single-image calls are short, so a scheduler's time slice on a shared CPU can land in
any of them; many rounds keep the median and its interval honest).

*Where the time goes* (``--breakdown-repeats`` > 0): for each model and batch size, one forward call runs under a
``TorchDispatchMode`` that reads the process CPU clock around every ATen operator the model dispatches (after
PyTorch's composite operators such as ``linear``, ``conv2d`` or ``scaled_dot_product_attention`` have turned into
the kernels they call) and adds the time up by kind: matrix products (``aten::mm``, ``bmm``, ``addmm``,
``baddbmm``, ``addbmm``), PyTorch's fused attention kernels (``aten::_scaled_dot_product_*``), convolutions (every
operator whose name holds ``conv``) and all other operators (normalisations, activations, reshapes, copies, adds
...). The part *outside operators* (Python, module calls, the dispatcher's own work) is the CPU time of an
uninstrumented call minus the operators' time, so it absorbs the clock's own cost and can come out slightly
negative when it is near zero. ``op_calls`` counts the dispatched operator calls, ``{kind}_calls`` those of each
kind. Every part is the median over ``--breakdown-repeats`` calls. Unlike ``efftx_mini.bench.memory``'s breakdown,
which times operators with ``torch.profiler``, this one reads CPU time: the profiler times operators by the wall
clock, and on a CPU shared with other processes their time slices (several ms each) land inside single operators
of some calls, while the process CPU clock stands still when another process has the core. The speed ratios come
from the timed rounds only.
Beside them, ``flops_conv`` and ``flops_matmul`` split each model's forward FLOPs per image
(``torch.utils.flop_counter``, attention in the math backend so that QKᵀ and AV count as matrix products) into
convolutions and matrix products, so that FLOPs per second can be read per kind.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..timing import aa_name, git_commit, hardware, print_table, ratio_spread, spread, time_interleaved, verdict
from ..vision import fuse_batchnorm
from .memory import MATMUL_OPS

__all__ = ["main", "run", "time_models", "time_breakdown", "flop_split", "op_kind", "REFERENCE", "BREAKDOWN_PARTS"]

REFERENCE = "vit"
#: the parts of a forward call's CPU time, in ms (they add up to ``cpu_ms``)
BREAKDOWN_PARTS = ("matmul_ms", "attention_ms", "conv_ms", "other_ops_ms", "outside_ops_ms")


OP_KINDS = ("matmul", "attention", "conv", "other")


def op_kind(name: str) -> str:
    """The kind of an ``aten::`` operator: "matmul", "attention" (fused SDPA kernels), "conv" or "other"."""
    if name in MATMUL_OPS:
        return "matmul"
    if name.startswith("aten::_scaled_dot_product"):
        return "attention"
    if "conv" in name.removeprefix("aten::"):
        return "conv"
    return "other"


def flop_split(model: nn.Module, images: torch.Tensor) -> dict[str, int]:
    """Forward FLOPs per image of ``model`` in convolutions and in matrix products (attention's included)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(images)
    split = {"flops_conv": 0, "flops_matmul": 0}
    for op, n in counter.get_flop_counts()["Global"].items():
        split["flops_conv" if "conv" in str(op) else "flops_matmul"] += n // images.shape[0]
    return split


class _OpClock(TorchDispatchMode):
    """Adds up the process CPU time of every ATen operator call by kind (``op_kind``), and counts the calls."""

    def __init__(self, overhead_ns: int) -> None:
        super().__init__()
        self.overhead_ns = overhead_ns
        self.ns = dict.fromkeys(OP_KINDS, 0)
        self.calls = dict.fromkeys(OP_KINDS, 0)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        t0 = time.process_time_ns()
        out = func(*args, **(kwargs or {}))
        t1 = time.process_time_ns()
        kind = op_kind(func._schema.name)
        self.ns[kind] += t1 - t0 - self.overhead_ns
        self.calls[kind] += 1
        return out


def _clock_overhead_ns(n: int = 1001) -> int:
    """Median cost of reading the process CPU clock twice in a row (subtracted from every operator's time)."""
    pairs = []
    for _ in range(n):
        t0 = time.process_time_ns()
        pairs.append(time.process_time_ns() - t0)
    return int(statistics.median(pairs))


def time_breakdown(step: Callable[[], object], repeats: int = 15) -> dict[str, float | int]:
    """Where the CPU time of ``step()`` goes (see the module docstring): ms per kind of operator and outside them,
    each the median over ``repeats`` instrumented calls, and the number of operator calls per kind."""
    overhead = _clock_overhead_ns()
    parts: dict[str, list[float]] = {k: [] for k in ("cpu_ms", *BREAKDOWN_PARTS)}
    calls: dict[str, int] = {}
    for _ in range(repeats):
        c0 = time.process_time_ns()
        step()
        cpu = (time.process_time_ns() - c0) / 1e6
        with _OpClock(overhead) as clock:
            step()
        ms = {k: v / 1e6 for k, v in clock.ns.items()}
        for k, v in (("cpu_ms", cpu), ("matmul_ms", ms["matmul"]), ("attention_ms", ms["attention"]),
                     ("conv_ms", ms["conv"]), ("other_ops_ms", ms["other"]),
                     ("outside_ops_ms", cpu - sum(ms.values()))):
            parts[k].append(v)
        calls = {"op_calls": sum(clock.calls.values()), **{f"{k}_calls": v for k, v in clock.calls.items()}}
    return {**{k: round(statistics.median(v), 3) for k, v in parts.items()}, **calls}


def time_models(models: dict[str, nn.Module], batch: int, repeats: int, warmup: int, channels: int,
                image_size: int, seed: int = 0, breakdown_repeats: int = 0) -> dict[str, Any]:
    """Forward timings of ``models`` (fused, eval, no_grad) at one batch size: rows + the A/A control (+ where the
    time goes, ``breakdown_repeats`` > 0)."""
    if REFERENCE not in models:
        raise ValueError(f"the reference {REFERENCE!r} must be among the models, got {sorted(models)}")
    torch.manual_seed(seed)
    x = torch.rand(batch, channels, image_size, image_size)
    fused = {n: fuse_batchnorm(m) for n, m in models.items()}

    def forward(m: nn.Module):
        def step() -> None:
            with torch.no_grad():
                m(x)
        return step

    t = time_interleaved({n: forward(m) for n, m in fused.items()}, repeats, warmup, aa_control=REFERENCE, seed=seed)
    aa = ratio_spread(t[REFERENCE], t[aa_name(REFERENCE)], seed=seed)
    rows = []
    for n in models:
        ms = spread([1000 * s for s in t[n]], seed=seed)
        sp = ratio_spread(t[REFERENCE], t[n], seed=seed)  # > 1: faster than the ViT
        rows.append({"variant": n, "batch": batch, "ms_per_batch": round(ms.median, 4),
                     **{k: round(v, 4) if isinstance(v, float) else v for k, v in ms.as_dict("ms_").items()},
                     "images_per_s": round(batch / (ms.median / 1000), 1),
                     **{k: round(v, 4) if isinstance(v, float) else v for k, v in sp.as_dict("speed_").items()},
                     "verdict": "reference" if n == REFERENCE else verdict(sp, aa)})
        if breakdown_repeats > 0:
            rows[-1].update({f"bd_{k}": v for k, v in time_breakdown(forward(fused[n]), breakdown_repeats).items()})
            rows[-1].update(flop_split(fused[n], x[:2]))
    return {"batch": batch, "rows": rows, "aa": {k: round(v, 4) if isinstance(v, float) else v
                                                 for k, v in aa.as_dict("aa_").items()}}


def run(preset: str = "cpu", batch: int = 64, repeats: int = 15, warmup: int = 2, names: list[str] | None = None,
        command: str | None = None, latency_repeats: int = 200, breakdown_repeats: int = 15) -> dict[str, Any]:
    """Time every backbone at ``batch`` and at batch 1; returns {"timings": [...], "meta": {...}}."""
    from ..experiments.backbones import MODELS, build_model, config_for
    cfg = config_for(preset)
    names = names or list(MODELS)
    for n in names:
        if n not in MODELS:
            raise ValueError(f"unknown backbone {n!r}; expected some of {list(MODELS)}")
    torch.manual_seed(0)
    models = {n: build_model(n, cfg) for n in names}
    timings = [time_models(models, batch, repeats, warmup, cfg.channels, cfg.image_size,
                           breakdown_repeats=breakdown_repeats)]
    if latency_repeats:
        timings.append(time_models(models, 1, latency_repeats, warmup, cfg.channels, cfg.image_size,
                                   breakdown_repeats=breakdown_repeats))
    if command is None:
        command = (f"efftx_mini.bench.backbones.run(preset={preset!r}, batch={batch}, repeats={repeats}, "
                   f"latency_repeats={latency_repeats}, breakdown_repeats={breakdown_repeats})")
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": "cpu", "dtype": "float32",
            "preset": preset, "batch": batch, "repeats": repeats, "latency_repeats": latency_repeats,
            "breakdown_repeats": breakdown_repeats, "threads": torch.get_num_threads(),
            "mode": "forward, no_grad, eval, BatchNorm folded",
            "breakdown": "process CPU time per operator kind (TorchDispatchMode), median of breakdown_repeats calls"}
    return {"timings": timings, "meta": meta}


COLUMNS = ["variant", "batch", "ms_per_batch", "ms_ci_lo", "ms_ci_hi", "images_per_s", "speed_median",
           "speed_ci_lo", "speed_ci_hi", "verdict"]
BREAKDOWN_COLUMNS = ["variant", "batch", "bd_cpu_ms", "bd_matmul_ms", "bd_attention_ms", "bd_conv_ms",
                     "bd_other_ops_ms", "bd_outside_ops_ms", "bd_op_calls", "bd_conv_calls", "flops_conv",
                     "flops_matmul"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench backbones", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default="cpu")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--latency-repeats", type=int, default=200, help="rounds of the batch-1 pass (0: none)")
    p.add_argument("--breakdown-repeats", type=int, default=15,
                   help="profiled calls per model and batch size for the time breakdown (0: none)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--out", default=None, help="also write the JSON to this file")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.preset, a.batch, a.repeats, a.warmup, command=" ".join(["python -m efftx_mini.bench backbones", *argv]),
              latency_repeats=a.latency_repeats, breakdown_repeats=a.breakdown_repeats)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        for t in res["timings"]:
            print_table(t["rows"], COLUMNS)
            aa = t["aa"]
            print(f"A/A control (ViT vs ViT): {aa['aa_median']:.3f} [{aa['aa_ci_lo']:.3f}–{aa['aa_ci_hi']:.3f}]\n")
            if a.breakdown_repeats > 0:
                print_table(t["rows"], BREAKDOWN_COLUMNS)
        print(f"{res['meta']['hardware']}; fp32; {a.repeats} shuffled rounds")
    return 0
