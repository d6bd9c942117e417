"""Images per second of the chapter-11 image classifiers, forward (inference) and forward+backward.

    python -m efftx_mini.bench vision [--json] [--preset cpu] [--batch 256] [--repeats 7]

The models are those of ``python -m efftx_mini.experiments.vision`` at the same preset; contenders are timed
interleaved, round by round, and each speed ratio against the plain ViT is the spread of the per-round ratios
(``efftx_mini.timing.ratio_spread``): a speed-up is claimed only where its whole range is above 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch
import torch.nn.functional as F

from ..experiments.vision import VARIANTS, build_model, config_for
from ..timing import git_commit, hardware, print_table, ratio_spread, spread, time_interleaved
from ..vision import count_flops, parameters

__all__ = ["main", "run"]


def run(preset: str = "cpu", batch: int = 256, repeats: int = 7, warmup: int = 1, names: list[str] | None = None,
        device: torch.device | None = None, command: str | None = None) -> dict[str, Any]:
    """Measure every variant; returns {"rows": [...], "meta": {...}}."""
    from .. import device as _device
    dev = device or _device()
    cfg = config_for(preset)
    names = names or list(VARIANTS)
    for n in names:
        if n not in VARIANTS:
            raise ValueError(f"unknown variant {n!r}; expected some of {list(VARIANTS)}")
    torch.manual_seed(0)
    x = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    models = {n: build_model(n, cfg).to(dev) for n in names}

    def fwd(m: torch.nn.Module):
        def step() -> None:
            with torch.no_grad():
                m.eval()
                m(x)
        return step

    def train(m: torch.nn.Module):
        def step() -> None:
            m.train()
            for p in m.parameters():
                p.grad = None
            F.cross_entropy(m(x), y).backward()
        return step

    t_fwd = time_interleaved({n: fwd(m) for n, m in models.items()}, repeats, warmup, dev)
    t_train = time_interleaved({n: train(m) for n, m in models.items()}, repeats, warmup, dev)
    rows = []
    for n, m in models.items():
        row: dict[str, Any] = {"variant": n, "params": parameters(m), "flops": count_flops(m, x[:2]),
                               "fwd_images_per_s": round(batch / spread(t_fwd[n]).median, 1),
                               "train_images_per_s": round(batch / spread(t_train[n]).median, 1)}
        if "vit" in models:
            for kind, t in (("fwd", t_fwd), ("train", t_train)):
                s = ratio_spread(t["vit"], t[n])  # > 1: faster than the ViT
                row[f"{kind}_speed_vs_vit"] = round(s.median, 3)
                row[f"{kind}_speed_vs_vit_min"] = round(s.lo, 3)
                row[f"{kind}_speed_vs_vit_max"] = round(s.hi, 3)
        rows.append(row)
    if command is None:
        command = f"efftx_mini.bench.vision.run(preset={preset!r}, batch={batch}, repeats={repeats}, names={names})"
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": str(dev), "dtype": "float32",
            "preset": preset, "batch": batch, "repeats": repeats}
    return {"rows": rows, "meta": meta}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench vision", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default="cpu")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--variants", default=None, help=f"comma-separated subset of {','.join(VARIANTS)}")
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.preset, a.batch, a.repeats, a.warmup, a.variants.split(",") if a.variants else None,
              command=" ".join(["python -m efftx_mini.bench vision", *argv]))
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["rows"], list(res["rows"][0]))
        print(f"\n{res['meta']['hardware']}; batch {a.batch}, fp32, median of {a.repeats} interleaved rounds")
    return 0
