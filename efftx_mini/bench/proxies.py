"""Seconds per training-free proxy per architecture, against the cost of training that architecture.

    python -m efftx_mini.bench proxies [--json] [--preset cpu] [--repeats 10] [--out FILE]

For three architectures of the ground-truth sample (:mod:`efftx_mini.experiments.search_truth`; the smallest,
median and largest by FLOPs), every proxy of :mod:`efftx_mini.search.proxies` and one training step (the
ground truth's recipe: AdamW, batch of the ground truth) are timed in randomised interleaved rounds
(:func:`efftx_mini.timing.time_interleaved`), with an A/A control (the first proxy timed twice). Per proxy:
the median seconds and its 95% bootstrap interval, and the paired per-round ratio
``steps × t(training step) / t(proxy)`` — how many times cheaper than one training the proxy is — with its interval
and the book's verdict (:func:`efftx_mini.timing.verdict`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import seed_everything
from ..experiments.search_truth import archs_for, config_for, proxy_batch
from ..search.proxies import PROXIES
from ..search.space import build, closed_form_flops
from ..timing import aa_name, git_commit, hardware, print_table, ratio_spread, spread, time_interleaved, verdict

__all__ = ["main", "run"]


def run(preset: str = "cpu", repeats: int = 10, warmup: int = 1, command: str | None = None) -> dict[str, Any]:
    """Time every proxy and a training step on three architectures; returns {"rows": [...], "meta": {...}}."""
    cfg = config_for(preset)
    space, archs = archs_for(preset, cfg)
    by_flops = sorted(archs, key=lambda a: closed_form_flops(a, space))
    picks = {"smallest": by_flops[0], "median": by_flops[len(by_flops) // 2], "largest": by_flops[-1]}
    batch = proxy_batch(cfg.proxy_batch)
    g = torch.Generator().manual_seed(0)
    xb = torch.rand(cfg.batch, space.channels, space.image_size, space.image_size, generator=g)
    yb = torch.randint(0, space.n_classes, (cfg.batch,), generator=g)
    rows = []
    for label, arch in picks.items():
        seed_everything(0)
        model = build(arch, space)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)

        def train_step(model: torch.nn.Module = model, opt: torch.optim.Optimizer = opt) -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()

        fns = {name: (lambda fn=fn, model=model: fn(model, batch)) for name, fn in PROXIES.items()}
        fns["train step"] = train_step
        first = next(iter(PROXIES))
        t = time_interleaved(fns, repeats=repeats, warmup=warmup, seed=0, aa_control=first)
        aa = ratio_spread(t[first], t[aa_name(first)])
        train = [cfg.steps * s for s in t["train step"]]  # one training = cfg.steps steps
        for name in PROXIES:
            ratio = ratio_spread(train, t[name])  # > 1: the proxy is cheaper than one training
            rows.append({"arch": label, "key": arch.key, "flops": closed_form_flops(arch, space), "proxy": name,
                         **spread(t[name]).as_dict("seconds_"), "training_s": round(spread(train).median, 3),
                         **ratio.as_dict("cheaper_"), **aa.as_dict("aa_"), "verdict": verdict(ratio, aa)})
    if command is None:
        command = f"efftx_mini.bench.proxies.run(preset={preset!r}, repeats={repeats})"
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": "cpu", "dtype": "float32",
            "preset": preset, "repeats": repeats, "training_steps": cfg.steps, "batch": cfg.batch,
            "proxy_batch": cfg.proxy_batch, "threads": torch.get_num_threads()}
    return {"rows": rows, "meta": meta}


COLUMNS = ["arch", "proxy", "seconds_median", "seconds_ci_lo", "seconds_ci_hi", "training_s", "cheaper_median",
           "cheaper_ci_lo", "cheaper_ci_hi", "verdict"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench proxies", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default="cpu")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--out", default=None, help="also write the JSON to this file")
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.preset, a.repeats, a.warmup, command=" ".join(["python -m efftx_mini.bench proxies", *argv]))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["rows"], COLUMNS)
        print(f"\n{res['meta']['hardware']}; median of {a.repeats} interleaved rounds, A/A control")
    return 0
