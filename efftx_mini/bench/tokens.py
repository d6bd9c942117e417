"""Fewer tokens in a trained ViT without retraining: accuracy against images/s for token merging (ToMe; Bolya et al.
2023) as r grows and for EViT-style pruning (Liang et al. 2022) as the keep rate falls.

    python -m efftx_mini.bench tokens [--json] [--preset cpu] [--batch 64] [--repeats 20] [--out FILE]

The models are the ViTs (chapter 11's configuration) trained by ``python -m efftx_mini.experiments.backbones`` —
read from its checkpoints, or trained first (resumable) when they are missing. Accuracy: the 500 test images, every
seed, paired against the same model without reduction. Speed (seed 0, forward, no_grad, eval): contenders in
shuffled rounds, each ratio t_ViT / t_contender as median and 95% bootstrap interval, an A/A control of the ViT,
and a verdict by the rule of ``efftx_mini.timing``. A last section times ToMe on untrained ViTs of the same size
with smaller patches — 17, 50 and 197 tokens — merging r = (T − 1) // 8 tokens per block: how the speed-up grows
with the sequence.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import results
from ..timing import aa_name, git_commit, hardware, print_table, ratio_spread, spread, time_interleaved, verdict
from ..vision import ViT, count_flops, evit_forward, tome_forward

__all__ = ["main", "run", "settings", "committed_results", "load_or_run"]

R_VALUES = (1, 2, 3, 4)
KEEP_RATES = (0.9, 0.8, 0.7, 0.6, 0.5)


def settings(r_values: tuple[int, ...] = R_VALUES, keep_rates: tuple[float, ...] = KEEP_RATES
             ) -> dict[str, tuple[str, float]]:
    """Contender name → (method, parameter): the plain ViT, ToMe r = 0 (its code path without merging), ToMe per r,
    EViT per keep rate."""
    out: dict[str, tuple[str, float]] = {"vit": ("vit", 0), "tome r=0": ("tome", 0)}
    out.update({f"tome r={r}": ("tome", r) for r in r_values})
    out.update({f"evit keep={k:g}": ("evit", k) for k in keep_rates})
    return out


def _forward(model: ViT, method: str, p: float) -> Callable[[Tensor], Tensor]:
    if method == "vit":
        return model
    if method == "tome":
        return lambda x: tome_forward(model, x, int(p))[0]
    return lambda x: evit_forward(model, x, keep_rate=float(p))[0]


class _Wrapped(nn.Module):
    def __init__(self, model: ViT, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


@torch.no_grad()
def _accuracy(fn: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor, batch: int = 250) -> float:
    pred = torch.cat([fn(images[i:i + batch]).argmax(-1) for i in range(0, len(images), batch)])
    return float((pred == labels).float().mean())


def _tokens(model: ViT, method: str, p: float, x: Tensor) -> int:
    """Tokens entering the last block's MLP (class token included)."""
    if method == "vit":
        return model.n_tokens
    with torch.no_grad():
        tr = tome_forward(model, x, int(p))[1] if method == "tome" else evit_forward(model, x, keep_rate=float(p))[1]
    return int(tr.sizes[-1].shape[1])


def _timed(fn: Callable[[Tensor], Tensor], x: Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.no_grad():
            fn(x)
    return step


def lengths(cfg: Any, patches: tuple[int, ...], batch: int, repeats: int, warmup: int) -> list[dict[str, Any]]:
    """Speed only: ToMe on ViTs of the same width and depth with smaller patches (longer sequences), untrained
    (time does not depend on the weights), r = (T − 1) // 8 tokens merged per block."""
    out = []
    for p in patches:
        torch.manual_seed(0)
        model = ViT(cfg.image_size, p, cfg.channels, 10, cfg.d_model, cfg.depth, cfg.n_heads, cfg.d_ff).eval()
        r = (model.n_tokens - 1) // 8
        x = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size)
        merged = _forward(model, "tome", r)
        t = time_interleaved({"vit": _timed(model, x), "tome": _timed(merged, x)}, repeats, warmup, aa_control="vit")
        sp, aa = ratio_spread(t["vit"], t["tome"]), ratio_spread(t["vit"], t[aa_name("vit")])
        with torch.no_grad():
            last = tome_forward(model, x[:1], r)[1].sizes[-1].shape[1]
        out.append({"patch": p, "tokens": model.n_tokens, "r": r, "tokens_last": last,
                    "flops_ratio": round(count_flops(_Wrapped(model, merged), x[:2]) / count_flops(model, x[:2]), 4),
                    **{k: round(v, 4) if isinstance(v, float) else v for k, v in sp.as_dict("speed_").items()},
                    **{k: round(v, 4) if isinstance(v, float) else v for k, v in aa.as_dict("aa_").items()},
                    "verdict": verdict(sp, aa)})
    return out


def run(preset: str = "cpu", folder: str | Path | None = None, batch: int = 64, repeats: int = 20, warmup: int = 2,
        r_values: tuple[int, ...] = R_VALUES, keep_rates: tuple[float, ...] = KEEP_RATES,
        command: str | None = None, patches: tuple[int, ...] = (7, 4, 2)) -> dict[str, Any]:
    """Accuracy (every seed) and speed (seed 0) of every setting; returns {"rows": [...], "aa": ..., "meta": ...}."""
    from ..datasets import load_cifar10, load_digits
    from ..experiments import backbones as bb
    from ..vision import as_images
    folder = Path(folder) if folder is not None else bb.committed_results(preset)
    cfg = bb.config_for(preset)
    if (folder / "summary.json").exists():
        cfg = bb._config_from(json.loads((folder / "summary.json").read_text())["config"])
    if not all((folder / f"ckpt_vit_s{s}.pt").exists() for s in cfg.seeds):  # train the ViTs first (resumable)
        bb.run(preset, folder, variants=["vit"], timing=False)
    models = {s: bb.load_checkpoint(folder, "vit", s, cfg) for s in cfg.seeds}
    test = (load_cifar10 if cfg.dataset == "cifar10" else load_digits)("test")
    XT, YT = as_images(test.images), test.labels
    contenders = settings(r_values, keep_rates)
    acc = {name: {s: _accuracy(_forward(m, *contenders[name]), XT, YT) for s, m in models.items()}
           for name in contenders}
    m0 = models[cfg.seeds[0]]
    torch.manual_seed(0)
    x = torch.rand(batch, cfg.channels, cfg.image_size, cfg.image_size)

    t = time_interleaved({n: _timed(_forward(m0, *contenders[n]), x) for n in contenders}, repeats, warmup,
                         aa_control="vit")
    aa = ratio_spread(t["vit"], t[aa_name("vit")])
    rows = []
    for name, (method, p) in contenders.items():
        diffs = [100 * (acc[name][s] - acc["vit"][s]) for s in cfg.seeds]
        sp = ratio_spread(t["vit"], t[name])
        a = [100 * acc[name][s] for s in cfg.seeds]
        rows.append({
            "setting": name, "method": method, "param": p, "tokens_last": _tokens(m0, method, p, XT[:2]),
            "flops": count_flops(_Wrapped(m0, _forward(m0, method, p)), XT[:2]),
            "acc_mean": round(sum(a) / len(a), 3), "acc_min": round(min(a), 3), "acc_max": round(max(a), 3),
            "diff_mean": round(sum(diffs) / len(diffs), 3), "diff_min": round(min(diffs), 3),
            "diff_max": round(max(diffs), 3),
            "images_per_s": round(batch / spread(t[name]).median, 1),
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in sp.as_dict("speed_").items()},
            "verdict": "reference" if name == "vit" else verdict(sp, aa)})
    if command is None:
        command = f"efftx_mini.bench.tokens.run(preset={preset!r}, batch={batch}, repeats={repeats})"
    meta = {"command": command, "commit": git_commit(), "hardware": hardware(), "device": "cpu", "dtype": "float32",
            "preset": preset, "batch": batch, "repeats": repeats, "seeds": list(cfg.seeds),
            "threads": torch.get_num_threads(), "checkpoints": repo_relative(folder), "mode": "forward, no_grad, eval"}
    return {"rows": rows, "aa": {k: round(v, 4) if isinstance(v, float) else v for k, v in aa.as_dict("aa_").items()},
            "lengths": lengths(cfg, patches, batch, repeats, warmup) if patches else [], "meta": meta}


def repo_relative(folder: str | Path) -> str:
    """``folder`` relative to the repository root when it lies inside it (results files name no machine's paths)."""
    root = Path(__file__).resolve().parents[2]
    try:
        return Path(folder).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(folder)


def committed_results(preset: str = "cpu") -> Path:
    """The results file shipped with the book: ``chapters/results/bench/tokens_<preset>.json``."""
    return results.root() / "bench" / f"tokens_{preset}.json"


def load_or_run(preset: str = "cpu", folder: str | Path | None = None) -> dict[str, Any]:
    """The committed results of ``preset``; without them, a short ``smoke`` run on the checkpoints in ``folder``."""
    path = committed_results(preset)
    if path.exists():
        return json.loads(path.read_text())
    return run("smoke", folder, batch=8, repeats=3, warmup=1, patches=(7, 4))


COLUMNS = ["setting", "tokens_last", "flops", "acc_mean", "acc_min", "acc_max", "diff_mean", "diff_min", "diff_max",
           "images_per_s", "speed_median", "speed_ci_lo", "speed_ci_hi", "verdict"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench tokens", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default="cpu")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--folder", default=None, help="the backbones results folder with the ViT checkpoints")
    p.add_argument("--out", default=None, help="also write the JSON to this file")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.preset, a.folder, a.batch, a.repeats, a.warmup,
              command=" ".join(["python -m efftx_mini.bench tokens", *argv]))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print_table(res["rows"], COLUMNS)
        aa = res["aa"]
        print(f"\nA/A control (ViT vs ViT): {aa['aa_median']:.3f} [{aa['aa_ci_lo']:.3f}–{aa['aa_ci_hi']:.3f}]; "
              f"{res['meta']['hardware']}; batch {a.batch}, fp32, {a.repeats} shuffled rounds\n")
        print_table(res["lengths"], ["patch", "tokens", "r", "tokens_last", "flops_ratio", "speed_median",
                                     "speed_ci_lo", "speed_ci_hi", "aa_ci_lo", "aa_ci_hi", "verdict"])
    return 0
