"""Images per second of the chapter-11 image classifiers, forward (inference) and forward+backward.

    python -m efftx_mini.bench vision [--json] [--preset cpu] [--batch 128] [--repeats 30] [--out FILE]

The models are those of ``python -m efftx_mini.experiments.vision`` at the same preset (one of each network:
``vit-long`` is the ViT, ``cnn-long`` the CNN, ``deit-soft`` the DeiT, trained differently). Following
``efftx_mini.timing``: every round times each model once in a freshly shuffled order, plus an A/A control (the
ViT timed twice per round); each speed ratio against the ViT is the median of the per-round paired ratios
with its 95% bootstrap interval, and ``verdict`` claims "faster"/"slower" only where that interval excludes 1
and the A/A interval contains 1. Each ratio is stored with median, ci_lo, ci_hi, lo (min), hi (max), q1, q3
and n; the results file also holds the A/A ratios, the command, the commit and the hardware.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..experiments.vision import VARIANTS, build_model, config_for
from ..timing import aa_name, git_commit, hardware, print_table, ratio_spread, spread, time_interleaved, verdict
from ..vision import count_flops, parameters

__all__ = ["main", "run", "BASE", "SAME_NETWORK"]

#: every speed ratio is taken against this variant
BASE = "vit"
#: variants that train differently but run the same network as another one (not timed twice)
SAME_NETWORK = {"vit-long": "vit", "cnn-long": "cnn", "deit-soft": "deit"}


def run(preset: str = "cpu", batch: int = 128, repeats: int = 30, warmup: int = 2, names: list[str] | None = None,
        device: torch.device | None = None, command: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Measure every variant; returns {"rows": [...], "aa": {...}, "meta": {...}}."""
    from .. import device as _device
    dev = device or _device()
    cfg = config_for(preset)
    names = names or [n for n in VARIANTS if n not in SAME_NETWORK]
    for n in names:
        if n not in VARIANTS:
            raise ValueError(f"unknown variant {n!r}; expected some of {list(VARIANTS)}")
    if BASE not in names:
        names = [BASE, *names]
    torch.manual_seed(seed)
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

    times = {
        "fwd": time_interleaved({n: fwd(m) for n, m in models.items()}, repeats, warmup, dev, seed=seed,
                                aa_control=BASE),
        "train": time_interleaved({n: train(m) for n, m in models.items()}, repeats, warmup, dev, seed=seed + 1,
                                  aa_control=BASE),
    }
    aa = {kind: ratio_spread(t[BASE], t[aa_name(BASE)]) for kind, t in times.items()}
    rows = []
    for n, m in models.items():
        flops = count_flops(m, x[:2])
        row: dict[str, Any] = {"variant": n, "params": parameters(m), "flops": flops, "macs": flops // 2}
        for kind, t in times.items():
            row[f"{kind}_images_per_s"] = round(batch / spread(t[n]).median, 1)
        for kind, t in times.items():
            if n == BASE:
                continue
            s = ratio_spread(t[BASE], t[n])  # > 1: faster than the ViT
            row.update({k: round(v, 4) if isinstance(v, float) else v
                        for k, v in s.as_dict(f"{kind}_speed_vs_{BASE}_").items()})
            row[f"{kind}_verdict"] = verdict(s, aa[kind])
        rows.append(row)
    if command is None:
        command = (f"efftx_mini.bench.vision.run(preset={preset!r}, batch={batch}, repeats={repeats}, "
                   f"names={names})")
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": str(dev),
            "dtype": "float32", "preset": preset, "batch": batch, "repeats": repeats, "warmup": warmup,
            "order": "shuffled per round", "base": BASE, "ci_level": 0.95}
    aa_rows = {kind: {k: round(v, 4) if isinstance(v, float) else v for k, v in s.as_dict().items()}
               for kind, s in aa.items()}
    return {"rows": rows, "aa": aa_rows, "meta": meta}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench vision", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default="cpu")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--variants", default=None, help=f"comma-separated subset of {','.join(VARIANTS)}")
    p.add_argument("--out", default=None, help="also write the JSON results to this file")
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.preset, a.batch, a.repeats, a.warmup, a.variants.split(",") if a.variants else None,
              command=" ".join(["python -m efftx_mini.bench vision", *argv]))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        cols = ["variant", "params", "macs", "fwd_images_per_s", "fwd_speed_vs_vit_median", "fwd_speed_vs_vit_ci_lo",
                "fwd_speed_vs_vit_ci_hi", "fwd_verdict", "train_images_per_s", "train_speed_vs_vit_median",
                "train_verdict"]
        print_table(res["rows"], cols)
        aa = {k: f"{v['median']:.3f} [{v['ci_lo']:.3f}–{v['ci_hi']:.3f}]" for k, v in res["aa"].items()}
        print(f"\nA/A (ViT vs ViT): forward {aa['fwd']}, training {aa['train']}\n{res['meta']['hardware']}; "
              f"batch {a.batch}, fp32, {a.repeats} rounds in shuffled order")
    return 0
