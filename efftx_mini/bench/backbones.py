"""Inference speed of the chapter-12 backbones against the ViT: images/s and time per batch on this device.

    python -m efftx_mini.bench backbones [--json] [--preset cpu] [--batch 64] [--repeats 15] [--out FILE]

The models are those of ``python -m efftx_mini.experiments.backbones`` at the same preset, in eval mode with every
BatchNorm folded into its convolution (``efftx_mini.vision.fuse_batchnorm``, as the EfficientViT authors measure
speed). Following ``efftx_mini.timing``: the contenders run in rounds, in an order shuffled per round; each model's
speed against the ViT is the median of the per-round ratios t_ViT / t_model with its 95% bootstrap interval; the
ViT is timed twice per round (A/A control); the verdict says "faster"/"slower" only where the interval excludes
1.0 and the A/A interval contains it. Time per image at batch 1 is measured the same way in a second pass.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..timing import aa_name, git_commit, hardware, print_table, ratio_spread, spread, time_interleaved, verdict
from ..vision import fuse_batchnorm

__all__ = ["main", "run", "time_models", "REFERENCE"]

REFERENCE = "vit"


def time_models(models: dict[str, nn.Module], batch: int, repeats: int, warmup: int, channels: int,
                image_size: int, seed: int = 0) -> dict[str, Any]:
    """Forward timings of ``models`` (fused, eval, no_grad) at one batch size: rows + the A/A control."""
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
    return {"batch": batch, "rows": rows, "aa": {k: round(v, 4) if isinstance(v, float) else v
                                                 for k, v in aa.as_dict("aa_").items()}}


def run(preset: str = "cpu", batch: int = 64, repeats: int = 15, warmup: int = 2, names: list[str] | None = None,
        command: str | None = None, latency_repeats: int = 30) -> dict[str, Any]:
    """Time every backbone at ``batch`` and at batch 1; returns {"timings": [...], "meta": {...}}."""
    from ..experiments.backbones import MODELS, build_model, config_for
    cfg = config_for(preset)
    names = names or list(MODELS)
    for n in names:
        if n not in MODELS:
            raise ValueError(f"unknown backbone {n!r}; expected some of {list(MODELS)}")
    torch.manual_seed(0)
    models = {n: build_model(n, cfg) for n in names}
    timings = [time_models(models, batch, repeats, warmup, cfg.channels, cfg.image_size)]
    if latency_repeats:
        timings.append(time_models(models, 1, latency_repeats, warmup, cfg.channels, cfg.image_size))
    if command is None:
        command = f"efftx_mini.bench.backbones.run(preset={preset!r}, batch={batch}, repeats={repeats})"
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": "cpu", "dtype": "float32",
            "preset": preset, "batch": batch, "repeats": repeats, "latency_repeats": latency_repeats,
            "threads": torch.get_num_threads(), "mode": "forward, no_grad, eval, BatchNorm folded"}
    return {"timings": timings, "meta": meta}


COLUMNS = ["variant", "batch", "ms_per_batch", "ms_ci_lo", "ms_ci_hi", "images_per_s", "speed_median",
           "speed_ci_lo", "speed_ci_hi", "verdict"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench backbones", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default="cpu")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--out", default=None, help="also write the JSON to this file")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.preset, a.batch, a.repeats, a.warmup,
              command=" ".join(["python -m efftx_mini.bench backbones", *argv]))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        for t in res["timings"]:
            print_table(t["rows"], COLUMNS)
            aa = t["aa"]
            print(f"A/A control (ViT vs ViT): {aa['aa_median']:.3f} [{aa['aa_ci_lo']:.3f}–{aa['aa_ci_hi']:.3f}]\n")
        print(f"{res['meta']['hardware']}; fp32; {a.repeats} shuffled rounds")
    return 0
