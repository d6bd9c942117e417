"""Efficient vision backbones on the shipped digits (chapter 12): the CNN baseline, ViT and PiT of chapter 11,
Swin (Liu et al. 2021), MobileViT (Mehta & Rastegari 2022) and EfficientViT (Liu et al. 2023) trained with the
same loop, data order and budget, ≥ 3 seeds; plus TinyViT's fast distillation (Wu et al. 2022): the ViT learns
from the CNN teacher online, and from stored top-k teacher probabilities with augmentation seeds.

    python -m efftx_mini.experiments.backbones --preset {smoke,cpu,gpu} [--out DIR] [--dataset auto|digits|cifar10]

Every run trains on chapter 11's fixed 4,000-image train split (CIFAR-10 instead when ``--dataset cifar10``, or
``auto`` with ``--preset gpu``, and ``$EFFTX_DATA`` holds a local copy: never downloaded), picks nothing on the
test split, and records test and valid accuracy, parameters, forward FLOPs per image (``torch.utils.flop_counter``)
and the training curve. Writes to DIR (default ``chapters/results/backbones_<preset>``): ``run_<variant>_s<seed>.json``
per run (resumable: a rerun skips finished runs), small checkpoints ``ckpt_<variant>_s<seed>.pt`` of the ViT, the
CNN (the teacher) and the seed-0 Swin, ``timing.json`` (``efftx_mini.bench.backbones``: images/s with bootstrap
intervals and an A/A control), ``runs.csv``, ``aggregate.csv`` (mean and range over seeds, paired differences
against the ViT) and ``summary.json``, each with command, commit and hardware. Single-threaded by default.

    torchrun --nproc_per_node=gpu -m efftx_mini.experiments.backbones --preset gpu   (seeds shared out over ranks)

Training runs on :func:`efftx_mini.device` (the GPU of the rank under torchrun); the timing stage times the CPU
(:mod:`efftx_mini.bench.backbones`). Under torchrun each rank runs every variant of its seeds (distillation needs
the CNN of the same seed) and rank 0 merges the files and times. ``EFFTX_DRY_RUN=1`` with ``--preset gpu``: the
``gpu`` models for two steps, two seeds, into a scratch folder (:mod:`efftx_mini.dryrun`); :func:`footprints`
gives each model's memory at the full batch.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import device as _device
from .. import distributed as D
from .. import dryrun, pick, results, seed_everything
from ..datasets import cifar10_root, load_cifar10, load_digits
from ..footprint import Footprint, classifier_footprint
from ..provenance import git_commit, hardware
from ..vision import (
    EfficientViT,
    MobileViT,
    Swin,
    accuracy,
    as_images,
    count_flops,
    distill_classifier,
    parameters,
    record_teacher,
    train_classifier,
)
from . import vision as ch11
from .blocks import _write_csv, _write_json, read_csv

__all__ = ["Config", "config_for", "MODELS", "VARIANTS", "build_model", "run", "load_results", "load_or_run",
           "committed_results", "load_checkpoint", "main", "footprints"]


@dataclass(frozen=True, kw_only=True)
class Config(ch11.BaseConfig):
    """Chapter 11's models, training recipe and data (:class:`efftx_mini.experiments.vision.BaseConfig`), this
    chapter's backbones, the distillation and the timing stage."""

    swin_patch: int
    swin_window: int
    swin_dims: tuple[int, ...]
    swin_depths: tuple[int, ...]
    swin_heads: tuple[int, ...]
    mvit_channels: tuple[int, ...]
    mvit_dims: tuple[int, ...]
    mvit_depths: tuple[int, ...]
    effvit_dims: tuple[int, ...]
    effvit_depths: tuple[int, ...]
    effvit_heads: tuple[int, ...]
    effvit_key_dim: int
    kd_topk: int
    bench_batch: int
    bench_repeats: int

    @property
    def pad(self) -> int:
        """Zero padding around a 28×28 digit so that Swin's and MobileViT's grids halve evenly (32×32)."""
        return 2 if self.image_size == 28 else 0


def config_for(preset: str) -> Config:
    """Sizes per preset (chapter 11's models and recipe: :func:`efftx_mini.experiments.vision.base_config_for`);
    ``cpu`` trains every model and seed in about an hour of one CPU thread."""
    return Config(
        **asdict(ch11.base_config_for(preset)),
        swin_patch=pick(smoke=4, cpu=4, gpu=2, preset=preset),
        swin_window=pick(smoke=4, cpu=4, gpu=4, preset=preset),
        swin_dims=pick(smoke=(8, 16), cpu=(32, 64), gpu=(96, 192), preset=preset),
        swin_depths=pick(smoke=(2, 2), cpu=(2, 2), gpu=(2, 6), preset=preset),
        swin_heads=pick(smoke=(2, 2), cpu=(2, 4), gpu=(3, 6), preset=preset),
        mvit_channels=pick(smoke=(4, 8, 16), cpu=(8, 16, 32), gpu=(16, 48, 64), preset=preset),
        mvit_dims=pick(smoke=(16, 16), cpu=(32, 32), gpu=(96, 120), preset=preset),
        mvit_depths=pick(smoke=(1, 0), cpu=(2, 0), gpu=(2, 4), preset=preset),
        effvit_dims=pick(smoke=(16, 32), cpu=(32, 64), gpu=(128, 256), preset=preset),
        effvit_depths=pick(smoke=(1, 1), cpu=(1, 1), gpu=(2, 3), preset=preset),
        effvit_heads=pick(smoke=(2, 2), cpu=(2, 4), gpu=(4, 4), preset=preset),
        effvit_key_dim=pick(smoke=4, cpu=8, gpu=16, preset=preset),
        kd_topk=pick(smoke=3, cpu=3, gpu=3, preset=preset),
        bench_batch=pick(smoke=4, cpu=64, gpu=256, dry=8, preset=preset),
        bench_repeats=pick(smoke=3, cpu=20, gpu=30, dry=2, preset=preset),
    )


#: model name → builder; the CNN, ViT and PiT are chapter 11's
MODELS: dict[str, Callable[[Config], nn.Module]] = {
    **ch11.BASE_MODELS,
    "swin": lambda c: Swin(c.image_size, c.swin_patch, c.channels, 10, c.swin_dims, c.swin_depths, c.swin_heads,
                           c.swin_window, pad=c.pad),
    "mobilevit": lambda c: MobileViT(c.image_size, c.channels, 10, pad=c.pad, channels=c.mvit_channels,
                                     dims=c.mvit_dims, depths=c.mvit_depths),
    "efficientvit": lambda c: EfficientViT(c.image_size, c.channels, 10, c.effvit_dims, c.effvit_key_dim,
                                           c.effvit_depths, c.effvit_heads),
}
#: runs: the models, then the ViT distilled from the CNN teacher online and from stored top-k logits
VARIANTS = (*MODELS, "kd-online", "kd-stored")
#: checkpoints kept (small): the ViT (for bench tokens), the CNN (the teacher), Swin seed 0 (the explorer)
CHECKPOINTS = {"vit": None, "cnn": None, "swin": (0,)}


def build_model(name: str, cfg: Config) -> nn.Module:
    if name in ("kd-online", "kd-stored"):
        name = "vit"
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {list(MODELS)}")
    return MODELS[name](cfg)


def provenance(preset: str, argv: list[str], world_size: int = 1) -> dict[str, Any]:
    """Exact command, git commit (+dirty when the package differs from it), hardware, preset, date."""
    try:
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "efftx_mini"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        dirty = False
    launcher = ["torchrun", f"--nproc_per_node={world_size}"] if world_size > 1 else ["python"]
    return {"command": shlex.join([*launcher, "-m", "efftx_mini.experiments.backbones", *argv]),
            "commit": git_commit() + ("+dirty" if dirty else ""), "hardware": hardware(), "preset": preset,
            "world_size": world_size, "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def load_checkpoint(folder: str | Path, name: str, seed: int, cfg: Config | None = None) -> nn.Module:
    """The trained model ``name`` (vit, cnn, swin) of ``seed`` from a results folder, in eval mode."""
    folder = Path(folder)
    if cfg is None:
        cfg = _config_from(json.loads((folder / "summary.json").read_text())["config"]) \
            if (folder / "summary.json").exists() else None
        if cfg is None:
            raise FileNotFoundError(f"{folder}/summary.json is missing: pass cfg=")
    model = build_model(name, cfg)
    model.load_state_dict(torch.load(folder / f"ckpt_{name}_s{seed}.pt", map_location="cpu", weights_only=True))
    return model.eval()


def _config_from(d: dict[str, Any]) -> Config:
    return Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _teacher(out: Path, seed: int, cfg: Config) -> nn.Module:
    path = out / f"ckpt_cnn_s{seed}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the distillation runs need the CNN teacher of seed {seed}")
    return load_checkpoint(out, "cnn", seed, cfg).to(_device())


def _run_one(variant: str, seed: int, cfg: Config, data: dict[str, Any], out: Path, meta: dict[str, Any]) -> dict:
    path = out / f"run_{variant}_s{seed}.json"
    if path.exists():
        rec = json.loads(path.read_text())
        if rec["config"] == json.loads(json.dumps(asdict(cfg))):
            return rec
        raise ValueError(f"{path} was written with another config; use another --out or delete it")
    X, Y = data["train"]
    seed_everything(seed)
    model = build_model(variant, cfg).to(_device())
    kw = dict(steps=cfg.steps, batch=cfg.batch, lr=cfg.lr, seed=seed, warmup=cfg.warmup, shift=cfg.shift,
              valid=data["valid"], eval_every=cfg.eval_every)
    extra: dict[str, Any] = {}
    if variant == "kd-online":
        r = distill_classifier(model, X, teacher=_teacher(out, seed, cfg), **kw)
        extra["teacher_s"] = r["teacher_s"]
    elif variant == "kd-stored":
        teacher = _teacher(out, seed, cfg)
        t0 = time.perf_counter()
        stored = record_teacher(teacher, X, steps=cfg.steps, batch=cfg.batch, seed=seed, shift=cfg.shift,
                                k=cfg.kd_topk)
        extra.update(record_s=round(time.perf_counter() - t0, 3), topk=stored.k, stored_bytes=stored.nbytes(),
                     full_bytes=stored.full_nbytes(),
                     stored_top1_agreement=round(float((stored.classes[..., 0].long() == Y[stored.indices])
                                                       .float().mean()), 5))
        r = distill_classifier(model, X, stored=stored, **kw)
    else:
        r = train_classifier(model, X, Y, **kw)
    summary = {"variant": variant, "seed": seed, "params": parameters(model),
               "flops": count_flops(model, X[:2].to(_device())),
               "valid_acc": round(accuracy(model, *data["valid"]), 5),
               "test_acc": round(accuracy(model, *data["test"]), 5),
               "train_loss": r["curve"][-1]["train_loss"] if r["curve"] else None,
               "images_per_s": r["images_per_s"], "train_s": r["seconds"], **extra}
    rec = {"summary": summary, "curve": r["curve"], "config": asdict(cfg), **meta}
    if dryrun.active():
        dryrun.check_finite(summary, f"backbones {path.name}")
    keep = CHECKPOINTS.get(variant, ())
    if keep is None or seed in keep:
        torch.save(model.state_dict(), out / f"ckpt_{variant}_s{seed}.pt")
    _write_json(path, rec)
    dryrun.saved()
    return rec


RUN_COLUMNS = ["variant", "seed", "params", "flops", "valid_acc", "test_acc", "train_loss", "images_per_s", "train_s",
               "teacher_s", "record_s", "topk", "stored_bytes", "full_bytes"]
AGG_COLUMNS = ["variant", "seeds", "params", "flops", "test_acc_mean", "test_acc_min", "test_acc_max",
               "diff_vs_vit_mean", "diff_vs_vit_min", "diff_vs_vit_max", "train_loss_mean", "train_s_mean"]


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and range over seeds per variant, and the per-seed (paired) test-accuracy difference to the ViT."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["variant"], []).append(r)
    vit = {r["seed"]: r["test_acc"] for r in groups.get("vit", [])}
    out = []
    for v, rs in groups.items():
        acc = [r["test_acc"] for r in rs]
        diff = [r["test_acc"] - vit[r["seed"]] for r in rs if r["seed"] in vit]
        losses = [r["train_loss"] for r in rs if r["train_loss"] is not None]
        out.append({"variant": v, "seeds": len(rs), "params": rs[0]["params"], "flops": rs[0]["flops"],
                    "test_acc_mean": round(sum(acc) / len(acc), 5), "test_acc_min": min(acc),
                    "test_acc_max": max(acc),
                    "diff_vs_vit_mean": round(sum(diff) / len(diff), 5) if diff else None,
                    "diff_vs_vit_min": round(min(diff), 5) if diff else None,
                    "diff_vs_vit_max": round(max(diff), 5) if diff else None,
                    "train_loss_mean": round(sum(losses) / len(losses), 5) if losses else None,
                    "train_s_mean": round(sum(r["train_s"] for r in rs) / len(rs), 1)})
    return out


def _data(cfg: Config) -> dict[str, Any]:
    load = load_cifar10 if cfg.dataset == "cifar10" else load_digits
    return {s: (as_images(d.images), d.labels) for s in ("train", "valid", "test") for d in [load(s)]}


def run(preset: str, out: str | Path | None = None, variants: list[str] | None = None, *,
        argv: list[str] | None = None, dataset: str = "auto", timing: bool = True,
        wait_s: float = 86_400.0) -> dict[str, Any]:
    """Run (or resume) every (variant, seed), then time the backbones (``timing.json``, skipped when present).
    Under torchrun: this rank's seeds; rank 0 then merges and times, the others return ``{"partial": True}``."""
    cfg = config_for(preset)
    if dataset not in ("auto", "digits", "cifar10"):
        raise ValueError(f"dataset must be auto, digits or cifar10, got {dataset!r}")
    use_cifar = dataset == "cifar10" or (dataset == "auto" and preset == "gpu" and cifar10_root() is not None)
    if use_cifar:
        if cifar10_root() is None:
            raise FileNotFoundError("no local CIFAR-10 copy: set EFFTX_DATA to a folder holding cifar-10-batches-py/")
        cfg = replace(cfg, dataset="cifar10", image_size=32, channels=3)
    variants = list(VARIANTS) if variants is None else variants
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; expected some of {list(VARIANTS)}")
    if any(v.startswith("kd-") for v in variants) and "cnn" not in variants:
        raise ValueError("the distillation runs learn from the CNN teacher of the same seed; include 'cnn'")
    suffix = "_cifar10" if use_cifar else ""
    out = dryrun.results_dir("backbones", preset, out, f"chapters/results/backbones_{preset}{suffix}")
    out.mkdir(parents=True, exist_ok=True)
    argv = argv if argv is not None else ["--preset", preset, "--out", str(out)]
    dinfo = D.info()
    meta = provenance(preset, argv, dinfo.world_size)
    data = _data(cfg)
    t0 = time.perf_counter()
    for s in D.share(list(cfg.seeds), dinfo):
        for v in variants:
            _run_one(v, s, cfg, data, out, meta)
    if not dinfo.is_main:
        return {"partial": True}
    if not D.wait_for([out / f"run_{v}_s{s}.json" for v in variants for s in cfg.seeds], wait_s):
        return {"partial": True}
    records = [_run_one(v, s, cfg, data, out, meta) for v in variants for s in cfg.seeds]  # read from the files
    rows = [r["summary"] for r in records]
    agg = aggregate(rows)
    if timing and not (out / "timing.json").exists():
        from ..bench.backbones import run as bench_run
        names = [v for v in variants if v in MODELS]
        _write_json(out / "timing.json", bench_run(preset, cfg.bench_batch, cfg.bench_repeats, names=names,
                                                   command=meta["command"] + "  (timing stage)",
                                                   latency_repeats=cfg.bench_repeats
                                                   if preset == "smoke" or dryrun.active() else 200,
                                                   breakdown_repeats=1 if preset == "smoke" or dryrun.active() else 15))
    result = {"config": asdict(cfg), **meta, "aggregate": agg,
              "trained_at_commits": sorted({r["commit"] for r in records}),
              "experiment_train_s": round(sum(r["train_s"] for r in rows), 1),
              "this_invocation_s": round(time.perf_counter() - t0, 1)}
    _write_csv(out / "runs.csv", rows, RUN_COLUMNS, meta)
    _write_csv(out / "aggregate.csv", agg, AGG_COLUMNS, meta)
    _write_csv(out / "curves.csv", [{"variant": r["summary"]["variant"], "seed": r["summary"]["seed"], **c}
                                    for r in records for c in r["curve"]],
               ["variant", "seed", "step", "images", "seconds", "train_loss", "valid_acc"], meta)
    _write_json(out / "summary.json", result)
    return result


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of one training step of every backbone at the preset's full batch on one device, traced on fake
    tensors (:func:`efftx_mini.footprint.trace_step`): fp32 as the loop trains, AdamW, on CIFAR-10's 32×32×3 images
    (the lab server's data). The distilled ViT is the ViT's step plus a teacher forward pass without gradient."""
    with dryrun.full_sizes():
        cfg = replace(config_for(preset), dataset="cifar10", image_size=32, channels=3)
    return {f"{m} (batch {cfg.batch}, 32×32×3)": classifier_footprint(lambda m=m: build_model(m, cfg), cfg.batch,
                                                                      (3, 32, 32), 10, amp_dtype=None)
            for m in MODELS}


def committed_results(preset: str = "cpu") -> Path:
    """The results folder shipped with the book: ``chapters/results/backbones_<preset>``."""
    return results.root() / f"backbones_{preset}"


def load_results(folder: str | Path) -> dict[str, Any]:
    """summary, config (a :class:`Config`), runs, aggregate, curves, timing and the provenance of a results folder."""
    folder = Path(folder)
    runs, meta = read_csv(folder / "runs.csv")
    timing = folder / "timing.json"
    summary = json.loads((folder / "summary.json").read_text())
    return {"summary": summary, "config": _config_from(summary["config"]), "runs": runs,
            "aggregate": read_csv(folder / "aggregate.csv")[0], "curves": read_csv(folder / "curves.csv")[0],
            "timing": json.loads(timing.read_text()) if timing.exists() else None, "meta": meta,
            "folder": str(folder)}


def load_or_run(preset: str = "cpu", scratch: str | Path | None = None) -> dict[str, Any]:
    """The committed results of ``preset`` when complete; otherwise run ``smoke`` into ``scratch`` and read that."""
    folder = committed_results(preset)
    if (folder / "summary.json").exists():
        return load_results(folder)
    import tempfile
    scratch = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="efftx_backbones_"))
    run("smoke", scratch)
    return load_results(scratch)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.backbones", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None,
                   help="sizes (default: $EFFTX_PRESET or cpu)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/backbones_<preset>)")
    p.add_argument("--variants", default=None, help=f"comma-separated subset of {','.join(VARIANTS)}")
    p.add_argument("--dataset", choices=["auto", "digits", "cifar10"], default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--no-timing", action="store_true", help="skip the timing stage")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ..presets import current_preset
    preset = args.preset or current_preset()
    res = run(preset, args.out, args.variants.split(",") if args.variants else None, argv=argv,
              dataset=args.dataset, timing=not args.no_timing)
    if "aggregate" not in res:
        return 0
    from ..timing import print_table
    print_table(res["aggregate"], AGG_COLUMNS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
