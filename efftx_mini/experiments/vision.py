"""Vision transformers on the shipped digits: ViT, PiT, MiniViT weight multiplexing and DeiT distillation
(hard and soft) against a small CNN, with identical data order and budgets, ≥ 3 seeds (Dosovitskiy et al. 2021;
Heo et al. 2021; Zhang et al. 2022; Touvron et al. 2021).

    python -m efftx_mini.experiments.vision --preset {smoke,cpu,gpu} [--out DIR] [--variants a,b]

Every run trains on the fixed 4,000-image train split (with ``--preset gpu`` and ``$EFFTX_DATA`` pointing at a
local CIFAR-10 copy in its Python format: on CIFAR-10 instead) (or a fixed subset of it, for the learning curve against
training-set size), picks nothing on the test split, and records test and valid accuracy, the final fit (loss
and accuracy on the un-augmented training images), parameters (blocks and total), forward FLOPs per image
(``torch.utils.flop_counter``, 2 per multiply-add), training images/s, CPU seconds and the curve. DeiT
(``deit``: hard labels, ``deit-soft``: soft) learns from the CNN of the same seed, which labels each augmented
batch; MiniViT (``minivit``) learns by weight distillation from the ViT of the same seed. ``vit-long`` and
``cnn-long`` are the ViT and the CNN trained ``LONG_FACTOR`` (3) times as many steps. The teachers' weights
are kept as ``teacher_<variant>_s<seed>.pt`` (not committed; retrained deterministically when missing). Writes
to DIR (default ``chapters/results/vision_<preset>``): ``run_<variant>_n<N>_s<seed>.json`` per run
(resumable: a rerun skips finished runs), ``runs.csv``, ``aggregate.csv`` (mean and range over seeds),
``curves.csv`` and ``summary.json``, each with command, commit and hardware. No GPU was used for the committed
``cpu`` results.

    torchrun --nproc_per_node=gpu -m efftx_mini.experiments.vision --preset gpu   (seeds are shared out over ranks)

Under torchrun each rank runs every variant of its seeds (a student needs its teacher of the same seed) and rank 0
merges the files. ``EFFTX_DRY_RUN=1`` with ``--preset gpu``: the ``gpu`` models for two steps, two seeds, into a
scratch folder (:mod:`efftx_mini.dryrun`); :func:`footprints` gives each model's memory at the full batch.
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
    DeiT,
    DistillationLoss,
    PiT,
    SharedViT,
    SmallCNN,
    ViT,
    WeightDistillationLoss,
    accuracy,
    as_images,
    block_parameters,
    count_flops,
    loss_and_accuracy,
    parameters,
    train_classifier,
)
from .blocks import _write_csv, _write_json, read_csv

__all__ = ["BaseConfig", "base_config_for", "BASE_MODELS", "Config", "config_for", "VARIANTS", "TEACHERS",
           "LONG_FACTOR", "build_model", "run", "load_results", "load_or_run", "committed_results", "main",
           "footprints"]


@dataclass(frozen=True, kw_only=True)
class BaseConfig:
    """This chapter's models (ViT, PiT, the CNN), training recipe and data; chapter 12's experiment
    (:mod:`efftx_mini.experiments.backbones`) extends it with its backbones."""

    patch: int
    d_model: int
    depth: int
    n_heads: int
    d_ff: int
    pit_dims: tuple[int, ...]
    pit_depths: tuple[int, ...]
    pit_heads: tuple[int, ...]
    cnn_width: int
    steps: int
    batch: int
    lr: float
    warmup: int
    shift: int
    eval_every: int
    seeds: tuple[int, ...]
    dataset: str = "digits"
    image_size: int = 28
    channels: int = 1


@dataclass(frozen=True, kw_only=True)
class Config(BaseConfig):
    """This experiment's: the base plus the learning curve, the narrow ViT, MiniViT and DeiT."""

    sizes: tuple[int, ...]  # training-set sizes for the learning curve (ViT and CNN only)
    small_d: int  # width of the narrower ViT that matches PiT's FLOPs
    repeated_times: int = 2  # MiniViT: consecutive layers per shared block (Mini-DeiT's value)
    distill_layers: tuple[int, ...] = (1, 3)  # MiniViT: layers whose Q, K, V and outputs are distilled
    deit_alpha: float = 0.5  # DeiT: weight λ of the distillation term (the authors' code default)
    deit_tau: float = 1.0  # DeiT soft distillation: temperature τ (the authors' code default)


def base_config_for(preset: str) -> BaseConfig:
    """The models' sizes and the training recipe per preset (shared with chapter 12's experiment)."""
    return BaseConfig(
        patch=pick(smoke=7, cpu=7, gpu=4, preset=preset),
        d_model=pick(smoke=16, cpu=64, gpu=192, preset=preset),
        depth=pick(smoke=2, cpu=4, gpu=6, preset=preset),
        n_heads=pick(smoke=2, cpu=4, gpu=6, preset=preset),
        d_ff=pick(smoke=32, cpu=128, gpu=384, preset=preset),
        pit_dims=pick(smoke=(16, 32), cpu=(48, 96), gpu=(128, 256), preset=preset),
        pit_depths=pick(smoke=(1, 1), cpu=(2, 2), gpu=(3, 3), preset=preset),
        pit_heads=pick(smoke=(2, 4), cpu=(4, 8), gpu=(4, 8), preset=preset),
        cnn_width=pick(smoke=4, cpu=8, gpu=32, preset=preset),
        steps=pick(smoke=4, cpu=900, gpu=6000, dry=2, preset=preset),
        batch=pick(smoke=16, cpu=64, gpu=128, preset=preset),
        lr=pick(smoke=2e-3, cpu=2e-3, gpu=1e-3, preset=preset),
        warmup=pick(smoke=1, cpu=50, gpu=300, dry=1, preset=preset),
        shift=pick(smoke=2, cpu=2, gpu=2, preset=preset),
        eval_every=pick(smoke=2, cpu=100, gpu=500, dry=2, preset=preset),
        seeds=pick(smoke=(0, 1, 2), cpu=(0, 1, 2), gpu=(0, 1, 2), dry=(0, 1), preset=preset),
    )


def config_for(preset: str) -> Config:
    """Sizes per preset; ``cpu`` runs every variant and seed within ~8 single-thread CPU-minutes."""
    return Config(
        **asdict(base_config_for(preset)),
        sizes=pick(smoke=(64,), cpu=(500, 1500), gpu=(500, 1500), dry=(500,), preset=preset),
        small_d=pick(smoke=8, cpu=48, gpu=128, preset=preset),
        distill_layers=pick(smoke=(1,), cpu=(1, 3), gpu=(1, 3, 5), preset=preset),
    )


def _vit(cfg: BaseConfig, **kw: Any) -> ViT:
    return ViT(cfg.image_size, cfg.patch, cfg.channels, 10, cfg.d_model, cfg.depth, cfg.n_heads, cfg.d_ff, **kw)


#: the base config's models by name (chapter 12's experiment trains them too)
BASE_MODELS: dict[str, Callable[[BaseConfig], nn.Module]] = {
    "cnn": lambda c: SmallCNN(c.image_size, c.channels, 10, width=c.cnn_width),
    "vit": _vit,
    "pit": lambda c: PiT(c.image_size, c.patch, c.channels, 10, c.pit_dims, c.pit_depths, c.pit_heads, mlp_ratio=2),
}
#: variant name → model builder. "vit-narrow" is the plain way to cut FLOPs: a narrower ViT (about PiT's FLOPs).
VARIANTS: dict[str, Callable[[Config], nn.Module]] = {
    "cnn": BASE_MODELS["cnn"],
    # the same CNN trained LONG_FACTOR times as many steps: vit-long's even-handed counterpart
    "cnn-long": BASE_MODELS["cnn"],
    "vit": _vit,
    "vit-long": _vit,  # the same ViT trained LONG_FACTOR times as many steps: is the ViT short of training?
    "vit-narrow": lambda c: ViT(c.image_size, c.patch, c.channels, 10, c.small_d, c.depth, c.n_heads, 2 * c.small_d),
    "pit": BASE_MODELS["pit"],
    "minivit": lambda c: SharedViT(c.image_size, c.patch, c.channels, 10, c.d_model, c.depth, c.n_heads, c.d_ff,
                                   repeated_times=c.repeated_times),
    "deit": lambda c: DeiT(c.image_size, c.patch, c.channels, 10, c.d_model, c.depth, c.n_heads, c.d_ff),
    "deit-soft": lambda c: DeiT(c.image_size, c.patch, c.channels, 10, c.d_model, c.depth, c.n_heads, c.d_ff),
}
#: variant → how many times the preset's steps it trains for (the others: once)
LONG_FACTOR = {"vit-long": 3, "cnn-long": 3}
#: student variant → the variant of the same seed that teaches it
TEACHERS = {"minivit": "vit", "deit": "cnn", "deit-soft": "cnn"}
#: variants that also run on smaller training sets (the learning curve)
CURVE_VARIANTS = ("cnn", "vit")


def build_model(variant: str, cfg: Config) -> nn.Module:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(VARIANTS)}")
    return VARIANTS[variant](cfg)


def provenance(preset: str, argv: list[str], world_size: int = 1) -> dict[str, Any]:
    """Exact command, git commit (+dirty when the package differs from it), hardware, preset, date."""
    try:
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "efftx_mini"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        dirty = False
    launcher = ["torchrun", f"--nproc_per_node={world_size}"] if world_size > 1 else ["python"]
    return {"command": shlex.join([*launcher, "-m", "efftx_mini.experiments.vision", *argv]),
            "commit": git_commit() + ("+dirty" if dirty else ""), "hardware": hardware(), "preset": preset,
            "world_size": world_size, "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _subset(n: int, total: int) -> torch.Tensor:
    """The first n of one fixed permutation of the training images (the same for every seed)."""
    return torch.randperm(total, generator=torch.Generator().manual_seed(1234))[:n].sort().values


def _train(variant: str, seed: int, n_train: int, cfg: Config, data: dict[str, Any], out: Path,
           dev: torch.device) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Build and train one model; returns (model, train_classifier's record, extra summary fields)."""
    X, Y = data["train"]
    idx = _subset(n_train, len(X)) if n_train < len(X) else torch.arange(len(X))
    extra: dict[str, Any] = {}
    loss_fn = None
    if variant in TEACHERS:
        teacher = _teacher(TEACHERS[variant], seed, n_train, cfg, data, out, dev)
        extra["teacher_test_acc"] = round(accuracy(teacher, *data["test"]), 5)
        if variant == "minivit":
            loss_fn = WeightDistillationLoss(teacher, cfg.distill_layers)
        else:
            loss_fn = DistillationLoss(teacher, "soft" if variant == "deit-soft" else "hard", cfg.deit_alpha,
                                       cfg.deit_tau)
    seed_everything(seed)
    model = build_model(variant, cfg).to(dev)
    cpu0 = time.process_time()
    steps = cfg.steps * LONG_FACTOR.get(variant, 1)
    extra["steps"] = steps
    r = train_classifier(model, X[idx], Y[idx], steps=steps, batch=min(cfg.batch, n_train), lr=cfg.lr,
                         seed=seed, warmup=cfg.warmup, shift=cfg.shift, valid=data["valid"],
                         eval_every=cfg.eval_every, loss_fn=loss_fn)
    extra["cpu_s"] = round(time.process_time() - cpu0, 1)  # CPU seconds of the training loop (all threads)
    if variant in ("deit", "deit-soft"):
        extra["teacher_agreement"] = round(float((loss_fn.teacher(X[idx].to(dev)).argmax(-1).cpu()
                                                  == Y[idx]).float().mean()), 5)
    return model, r, extra


def _teacher(variant: str, seed: int, n_train: int, cfg: Config, data: dict[str, Any], out: Path,
             dev: torch.device) -> nn.Module:
    """The trained ``variant`` model of this seed: its saved weights, or (missing) trained again, same seed."""
    path = out / f"teacher_{variant}_s{seed}.pt"
    model = build_model(variant, cfg).to(dev)
    if path.exists():
        model.load_state_dict(torch.load(path, map_location=dev, weights_only=True))
    else:
        model, _, _ = _train(variant, seed, n_train, cfg, data, out, dev)
        _atomic_save(path, model.state_dict())
        dryrun.saved()
    return model.eval()


def _atomic_save(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _run_one(variant: str, seed: int, n_train: int, cfg: Config, data: dict[str, Any], out: Path,
             meta: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    path = out / f"run_{variant}_n{n_train}_s{seed}.json"
    if path.exists():
        rec = json.loads(path.read_text())
        if rec["config"] == json.loads(json.dumps(asdict(cfg))):
            rec["summary"].setdefault("steps", cfg.steps * LONG_FACTOR.get(variant, 1))  # runs written before
            return rec
        raise ValueError(f"{path} was written with another config; use another --out or delete it")
    X, Y = data["train"]
    idx = _subset(n_train, len(X)) if n_train < len(X) else torch.arange(len(X))
    model, r, extra = _train(variant, seed, n_train, cfg, data, out, dev)
    train_loss, train_acc = loss_and_accuracy(model, X[idx], Y[idx])
    summary = {"variant": variant, "seed": seed, "n_train": n_train, "params": parameters(model),
               "block_params": 0 if isinstance(model, SmallCNN) else block_parameters(model),
               "flops": count_flops(model, X[:2].to(dev)),
               "valid_acc": round(accuracy(model, *data["valid"]), 5),
               "test_acc": round(accuracy(model, *data["test"]), 5),
               "train_loss": round(train_loss, 5), "train_acc": round(train_acc, 5),
               "images_per_s": r["images_per_s"], "train_s": r["seconds"], **extra}
    rec = {"summary": summary, "curve": r["curve"], "config": asdict(cfg), **meta}
    if dryrun.active():
        dryrun.check_finite(summary, f"vision {path.name}")
    if variant in TEACHERS.values() and n_train == len(X):
        _atomic_save(out / f"teacher_{variant}_s{seed}.pt", model.state_dict())
    _write_json(path, rec)
    dryrun.saved()
    return rec


RUN_COLUMNS = ["variant", "n_train", "seed", "steps", "params", "block_params", "flops", "valid_acc", "test_acc",
               "train_loss", "train_acc", "images_per_s", "train_s", "cpu_s", "teacher_agreement", "teacher_test_acc"]
AGG_COLUMNS = ["variant", "n_train", "seeds", "steps", "params", "block_params", "flops", "test_acc_mean",
               "test_acc_min", "test_acc_max", "valid_acc_mean", "train_loss_mean", "train_loss_min", "train_loss_max",
               "train_acc_mean", "images_per_s_mean", "images_per_s_min", "images_per_s_max", "cpu_s_mean"]


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and range over seeds per (variant, n_train)."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["n_train"]), []).append(r)
    out = []
    for (v, n), rs in groups.items():
        acc, ips, tl = [r["test_acc"] for r in rs], [r["images_per_s"] for r in rs], [r["train_loss"] for r in rs]
        out.append({"variant": v, "n_train": n, "seeds": len(rs), "steps": rs[0]["steps"], "params": rs[0]["params"],
                    "block_params": rs[0]["block_params"], "flops": rs[0]["flops"],
                    "test_acc_mean": round(sum(acc) / len(acc), 5), "test_acc_min": min(acc), "test_acc_max": max(acc),
                    "valid_acc_mean": round(sum(r["valid_acc"] for r in rs) / len(rs), 5),
                    "train_loss_mean": round(sum(tl) / len(tl), 5), "train_loss_min": min(tl),
                    "train_loss_max": max(tl),
                    "train_acc_mean": round(sum(r["train_acc"] for r in rs) / len(rs), 5),
                    "images_per_s_mean": round(sum(ips) / len(ips), 1), "images_per_s_min": min(ips),
                    "images_per_s_max": max(ips), "cpu_s_mean": round(sum(r["cpu_s"] for r in rs) / len(rs), 1)})
    return out


def run(preset: str, out: str | Path | None = None, variants: list[str] | None = None, *,
        argv: list[str] | None = None, curve: bool = True, wait_s: float = 86_400.0) -> dict[str, Any]:
    """Run (or resume) every (variant, seed) on the full training set and (``curve``) the smaller sizes (under
    torchrun: this rank's seeds; rank 0 then merges every file, the others return ``{"partial": True}``)."""
    cfg = config_for(preset)
    variants = list(VARIANTS) if variants is None else variants
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; expected some of {list(VARIANTS)}")
    for student, teacher in TEACHERS.items():
        if student in variants and teacher not in variants:
            raise ValueError(f"{student} learns from the {teacher} of the same seed; include '{teacher}' in the "
                             "variants")
    out = dryrun.results_dir("vision", preset, out, f"chapters/results/vision_{preset}")
    out.mkdir(parents=True, exist_ok=True)
    argv = argv if argv is not None else ["--preset", preset, "--out", str(out)]
    dinfo = D.info()
    meta = provenance(preset, argv, dinfo.world_size)
    if preset == "gpu" and cifar10_root() is not None:  # a local CIFAR-10 copy on the lab server
        cfg = replace(cfg, dataset="cifar10", image_size=32, channels=3)
    load = load_cifar10 if cfg.dataset == "cifar10" else load_digits
    data = {s: (as_images(d.images), d.labels) for s in ("train", "valid", "test") for d in [load(s)]}
    n_full = len(data["train"][0])
    dev = _device()
    t0 = time.perf_counter()
    variants = sorted(variants, key=list(VARIANTS).index)  # teachers first
    jobs = [(v, s, n_full) for v in variants for s in cfg.seeds]
    if curve:
        jobs += [(v, s, n) for n in cfg.sizes for v in variants if v in CURVE_VARIANTS for s in cfg.seeds]
    mine = D.share(list(cfg.seeds), dinfo)
    for v, s, n in jobs:
        if s in mine:
            _run_one(v, s, n, cfg, data, out, meta, dev)
    if not dinfo.is_main:
        return {"partial": True}
    if not D.wait_for([out / f"run_{v}_n{n}_s{s}.json" for v, s, n in jobs], wait_s):
        return {"partial": True}
    records = [_run_one(v, s, n, cfg, data, out, meta, dev) for v, s, n in jobs]  # read back from the files
    rows = [r["summary"] for r in records]
    agg = aggregate(rows)
    result = {"config": asdict(cfg), **meta, "aggregate": agg,
              "trained_at_commits": sorted({r["commit"] for r in records}),
              "experiment_train_s": round(sum(r["train_s"] for r in rows), 1),
              "experiment_cpu_s": round(sum(r["cpu_s"] for r in rows), 1),
              "this_invocation_s": round(time.perf_counter() - t0, 1)}
    _write_csv(out / "runs.csv", rows, RUN_COLUMNS, meta)
    _write_csv(out / "aggregate.csv", agg, AGG_COLUMNS, meta)
    _write_csv(out / "curves.csv", [{"variant": r["summary"]["variant"], "n_train": r["summary"]["n_train"],
                                     "seed": r["summary"]["seed"], **c} for r in records for c in r["curve"]],
               ["variant", "n_train", "seed", "step", "images", "seconds", "train_loss", "valid_acc"], meta)
    _write_json(out / "summary.json", result)
    return result


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of one training step of every model at the preset's full batch on one device, traced on fake tensors
    (:func:`efftx_mini.footprint.trace_step`): fp32 as the loop trains (no autocast), AdamW, on CIFAR-10's 32×32×3
    images (the lab server's data; the digits are smaller). A distilled student's teacher (no gradient) adds its
    weights and one forward pass, far below the student's step."""
    with dryrun.full_sizes():
        cfg = replace(config_for(preset), dataset="cifar10", image_size=32, channels=3)
    models = [v for v in VARIANTS if v not in ("vit-long", "deit-soft")]  # the same models as vit and deit
    return {f"{v} (batch {cfg.batch}, 32×32×3)": classifier_footprint(lambda v=v: build_model(v, cfg), cfg.batch,
                                                                      (3, 32, 32), 10, amp_dtype=None)
            for v in models}


def committed_results(preset: str = "cpu") -> Path:
    """The results folder shipped with the book: ``chapters/results/vision_<preset>``."""
    return results.root() / f"vision_{preset}"


def load_results(folder: str | Path) -> dict[str, Any]:
    """summary (JSON), runs, aggregate and curves (rows) and the ``# key: value`` provenance of a results folder."""
    folder = Path(folder)
    runs, meta = read_csv(folder / "runs.csv")
    return {"summary": json.loads((folder / "summary.json").read_text()), "runs": runs,
            "aggregate": read_csv(folder / "aggregate.csv")[0], "curves": read_csv(folder / "curves.csv")[0],
            "meta": meta, "folder": str(folder)}


def load_or_run(preset: str = "cpu", scratch: str | Path | None = None) -> dict[str, Any]:
    """The committed results of ``preset`` when complete; otherwise run ``smoke`` into ``scratch`` and read that."""
    folder = committed_results(preset)
    if (folder / "summary.json").exists():
        return load_results(folder)
    import tempfile
    scratch = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="efftx_vision_"))
    run("smoke", scratch)
    return load_results(scratch)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.vision", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None,
                   help="sizes (default: $EFFTX_PRESET or cpu)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/vision_<preset>)")
    p.add_argument("--variants", default=None, help=f"comma-separated subset of {','.join(VARIANTS)}")
    p.add_argument("--no-curve", action="store_true", help="skip the runs on smaller training sets")
    args = p.parse_args(argv)
    from ..presets import current_preset
    preset = args.preset or current_preset()
    res = run(preset, args.out, args.variants.split(",") if args.variants else None, argv=argv,
              curve=not args.no_curve)
    if "aggregate" not in res:
        return 0
    from ..timing import print_table
    print_table(res["aggregate"], AGG_COLUMNS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
