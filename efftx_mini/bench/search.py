"""Latency of the architectures chapter 15's searches found, against the hand-designed models of chapters 11 and 12.

    python -m efftx_mini.bench search [--json] [--preset cpu] [--batch 1] [--repeats 30] [--out FILE]

The found architectures are read from the committed results of ``python -m efftx_mini.experiments.search_supernet``
(``chapters/results/search_<preset>/search.csv``); the hand designs are those of
:data:`~efftx_mini.experiments.search_supernet.HAND_DESIGNS`, built as ``experiments.vision`` (chapter 11) and
``experiments.backbones`` (chapter 12) build them, so that all of them are timed in the same run, at the same batch
size. Every model runs one forward pass of a batch per round, in randomised interleaved rounds
(:func:`efftx_mini.timing.time_interleaved`) with an A/A control (the ViT timed twice); each speed ratio against
chapter 11's ViT is the median of the per-round ratios with its 95% bootstrap interval, and
:func:`efftx_mini.timing.verdict` decides whether a speed-up (or slow-down) is claimed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from ..experiments import search_supernet
from ..experiments.search_truth import committed_results
from ..experiments.vision import config_for
from ..search.space import Arch, build, space_for
from ..timing import aa_name, git_commit, hardware, print_table, ratio_spread, spread, time_interleaved, verdict

__all__ = ["main", "run"]

REFERENCE = "vit"


def run(preset: str = "cpu", batch: int = 1, repeats: int = 30, warmup: int = 2, folder: str | Path | None = None,
        command: str | None = None) -> dict[str, Any]:
    """Time the found and the hand-designed models; returns {"rows": [...], "meta": {...}}."""
    folder = Path(folder) if folder is not None else committed_results(preset)
    found = [r for r in search_supernet.load_results(folder)["rows"] if str(r["model"]).startswith("search:")]
    space = space_for(preset)
    cfg = config_for(preset)
    torch.manual_seed(0)
    models = {r["model"]: build(Arch.from_key(r["arch"]), space) for r in found}
    models.update(search_supernet.hand_models(preset))
    x = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0))
    for m in models.values():
        m.eval()

    def fwd(m: torch.nn.Module):
        def step() -> None:
            with torch.no_grad():
                m(x)
        return step

    t = time_interleaved({k: fwd(m) for k, m in models.items()}, repeats, warmup, aa_control=REFERENCE)
    aa = ratio_spread(t[REFERENCE], t[aa_name(REFERENCE)])
    rows = []
    for name in models:
        ratio = ratio_spread(t[REFERENCE], t[name])  # > 1: faster than the ViT
        rows.append({"model": name, **spread([1e3 * s for s in t[name]]).as_dict("ms_"),
                     **ratio.as_dict("speed_vs_vit_"), **aa.as_dict("aa_"), "verdict": verdict(ratio, aa)})
    if command is None:
        command = f"efftx_mini.bench.search.run(preset={preset!r}, batch={batch}, repeats={repeats})"
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": "cpu", "dtype": "float32",
            "preset": preset, "batch": batch, "repeats": repeats, "threads": torch.get_num_threads()}
    return {"rows": rows, "meta": meta}


COLUMNS = ["model", "ms_median", "ms_ci_lo", "ms_ci_hi", "speed_vs_vit_median", "speed_vs_vit_ci_lo",
           "speed_vs_vit_ci_hi", "verdict"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench search", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default="cpu")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--folder", default=None, help="results folder of search_supernet (default: the committed one)")
    p.add_argument("--out", default=None, help="also write the JSON to this file")
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.preset, a.batch, a.repeats, a.warmup, a.folder,
              command=" ".join(["python -m efftx_mini.bench search", *argv]))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["rows"], COLUMNS)
        print(f"\n{res['meta']['hardware']}; batch {a.batch}, median of {a.repeats} interleaved rounds, A/A control")
    return 0
