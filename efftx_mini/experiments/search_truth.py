"""Ground truth for chapter 15: train ≥ 48 architectures sampled from the search space × 2 seeds on the digits
for one fixed budget, then score every architecture with every training-free proxy at initialisation.

    python -m efftx_mini.experiments.search_truth --preset {smoke,cpu,gpu} [--out DIR] [--workers N]
    torchrun --nproc_per_node=N -m efftx_mini.experiments.search_truth --preset gpu   (runs split over ranks)

Stages, each resumable (a rerun skips what is on disk):

1. ``trained/a<idx>_s<seed>.json``: architecture ``idx`` of the seeded sample trained with seed ``seed`` (the
   chapter-11 recipe: AdamW, warm-up + cosine, random shifts, the fixed 4,000-image train split) — valid and
   test accuracy, seconds. ``--workers N`` trains N runs at once in a process pool (one thread each); under
   ``torchrun`` each rank takes every W-th run and rank 0 waits for the others' files.
2. ``proxies/a<idx>_i<init>.json``: every proxy of :mod:`efftx_mini.search.proxies` on the freshly initialised
   model (init seed ``init``), one fixed batch of training images, and the seconds each took.

Then ``archs.csv`` (one row per architecture: its shape, FLOPs, parameters, accuracy per seed and mean),
``proxies.csv`` (one row per architecture × init seed) and ``summary.json``, each with command, commit and hardware
(per stage: the commits that trained the runs are listed in ``summary.json``).

Training runs on :func:`efftx_mini.device`; the proxies score on the CPU (one fixed batch, small models).
``EFFTX_DRY_RUN=1`` with ``--preset gpu``: four architectures of the ``gpu`` space, two seeds, two steps, into a
scratch folder (:mod:`efftx_mini.dryrun`); :func:`footprints` gives the largest architecture's memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .. import device as _device
from .. import distributed as D
from .. import dryrun, pick, results, seed_everything
from ..datasets import load_digits
from ..footprint import Footprint, classifier_footprint
from ..search.space import Arch, SearchSpace, arch_params, build, closed_form_flops, space_for
from ..vision import accuracy, as_images, train_classifier
from .blocks import _write_csv, _write_json, provenance, read_csv

__all__ = ["Config", "config_for", "archs_for", "train_run", "proxy_batch", "run", "load_results", "committed_results",
           "main", "footprints"]


@dataclass(frozen=True)
class Config:
    """The sample (how many, which seed) and the training budget every architecture gets."""

    n_archs: int
    arch_seed: int
    seeds: tuple[int, ...]
    steps: int
    batch: int
    lr: float
    warmup: int
    shift: int
    proxy_batch: int
    proxy_inits: tuple[int, ...]


def config_for(preset: str) -> Config:
    """``cpu``: 48 architectures × 2 seeds × 900 steps of 64 images (chapter 11's recipe), ~1 single-thread CPU-hour."""
    return Config(
        n_archs=pick(smoke=6, cpu=48, gpu=200, dry=4, preset=preset),
        arch_seed=pick(smoke=0, cpu=0, gpu=0, preset=preset),
        seeds=pick(smoke=(0, 1), cpu=(0, 1), gpu=(0, 1), preset=preset),
        steps=pick(smoke=3, cpu=900, gpu=3000, dry=2, preset=preset),
        batch=pick(smoke=16, cpu=64, gpu=128, preset=preset),
        lr=pick(smoke=2e-3, cpu=2e-3, gpu=1e-3, preset=preset),
        warmup=pick(smoke=1, cpu=50, gpu=200, dry=1, preset=preset),
        shift=pick(smoke=2, cpu=2, gpu=2, preset=preset),
        proxy_batch=pick(smoke=8, cpu=64, gpu=128, preset=preset),
        proxy_inits=pick(smoke=(0,), cpu=(0, 1), gpu=(0, 1, 2), dry=(0,), preset=preset),
    )


def archs_for(preset: str, cfg: Config | None = None) -> tuple[SearchSpace, list[Arch]]:
    """The space and the seeded sample of architectures that ``preset`` trains."""
    cfg = cfg or config_for(preset)
    space = space_for(preset)
    return space, space.sample_many(cfg.n_archs, cfg.arch_seed)


def _data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {s: (as_images(d.images), d.labels) for s in ("train", "valid", "test") for d in [load_digits(s)]}


def train_run(arch: Arch, space: SearchSpace, seed: int, cfg: Config,
              data: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> dict[str, Any]:
    """Train one architecture from scratch with one seed; accuracy on the valid and test splits, seconds."""
    data = data or _data()
    t0, c0 = time.perf_counter(), time.process_time()
    seed_everything(seed)
    model = build(arch, space).to(_device())
    X, Y = data["train"]
    r = train_classifier(model, X, Y, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr, seed=seed, warmup=cfg.warmup,
                         shift=cfg.shift, eval_every=max(1, cfg.steps // 4))
    return {"arch": arch.key, "seed": seed, "valid_acc": round(accuracy(model, *data["valid"]), 5),
            "test_acc": round(accuracy(model, *data["test"]), 5), "train_loss": r["curve"][-1]["train_loss"],
            "curve": r["curve"], "train_s": r["seconds"], "wall_s": round(time.perf_counter() - t0, 2),
            "cpu_s": round(time.process_time() - c0, 2)}


def _run_path(out: Path, idx: int, seed: int) -> Path:
    return out / "trained" / f"a{idx:03d}_s{seed}.json"


#: the fields a training run depends on (a proxy file also depends on proxy_batch and proxy_inits)
TRAIN_FIELDS = ("n_archs", "arch_seed", "seeds", "steps", "batch", "lr", "warmup", "shift")


def _check_config(path: Path, rec: dict[str, Any], cfg: Config, fields: tuple[str, ...] = TRAIN_FIELDS) -> None:
    want = json.loads(json.dumps({k: v for k, v in asdict(cfg).items() if k in fields}))
    got = {k: v for k, v in rec.get("config", {}).items() if k in fields}
    if got != want:
        raise ValueError(f"{path} was written with config {got}, expected {want}; use another --out or delete it")


def _worker(job: tuple[int, int, str, str, Config, dict[str, Any], str]) -> str:
    """One run in a pool worker (single thread), written to its own file."""
    idx, seed, key, preset, cfg, meta, out = job
    torch.set_num_threads(1)
    path = _run_path(Path(out), idx, seed)
    rec = {**train_run(Arch.from_key(key), space_for(preset), seed, cfg), "idx": idx, "config": asdict(cfg),
           **meta}
    if dryrun.active():
        dryrun.check_finite({k: rec[k] for k in ("valid_acc", "test_acc", "train_loss")}, f"search {path.name}")
    _write_json(path, rec)
    dryrun.saved()
    return f"a{idx:03d} {key:28s} seed {seed}: test {rec['test_acc']:.3f} valid {rec['valid_acc']:.3f} " \
           f"({rec['cpu_s']:.0f} CPU-s)"


def train_stage(preset: str, cfg: Config, out: Path, meta: dict[str, Any], *, workers: int = 1,
                verbose: bool = False, wait_s: float = 86_400.0) -> bool:
    """Train every (architecture, seed) not on disk yet; True when all runs exist."""
    _, archs = archs_for(preset, cfg)
    (out / "trained").mkdir(parents=True, exist_ok=True)
    dinfo = D.info()
    jobs = [(i, s) for s in cfg.seeds for i in range(len(archs))]  # seed 0 of every architecture first
    todo = []
    mine = set(D.share(jobs, dinfo))
    for i, s in jobs:
        path = _run_path(out, i, s)
        if path.exists():
            _check_config(path, json.loads(path.read_text()), cfg)
        elif (i, s) in mine:
            todo.append((i, s, archs[i].key, preset, cfg, meta, str(out)))
    if workers > 1 and todo:
        import multiprocessing as mp
        with mp.get_context("spawn").Pool(workers) as pool:
            for line in pool.imap_unordered(_worker, todo):
                if verbose:
                    print(line, flush=True)
    else:
        for job in todo:
            line = _worker(job)
            if verbose:
                print(line, flush=True)
    # under torchrun: rank 0 waits for the other ranks' files (the others return at once)
    return D.wait_for([_run_path(out, i, s) for i, s in jobs], wait_s if dinfo.is_main else 0.0)


def _proxy_path(out: Path, idx: int, init: int) -> Path:
    return out / "proxies" / f"a{idx:03d}_i{init}.json"


def proxy_batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed minibatch every proxy sees: ``n`` training images of one seeded permutation (the same for every
    architecture and init)."""
    d = load_digits("train")
    idx = torch.randperm(len(d), generator=torch.Generator().manual_seed(4321))[:n]
    return as_images(d.images[idx]), d.labels[idx]


def proxy_stage(preset: str, cfg: Config, out: Path, meta: dict[str, Any], *, verbose: bool = False) -> None:
    """Score every architecture with every proxy at initialisation (one file per architecture × init seed)."""
    from ..search.proxies import score_all

    _, archs = archs_for(preset, cfg)
    space = space_for(preset)
    batch = proxy_batch(cfg.proxy_batch)
    (out / "proxies").mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(archs):
        for init in cfg.proxy_inits:
            path = _proxy_path(out, i, init)
            if path.exists():
                _check_config(path, json.loads(path.read_text()), cfg, (*TRAIN_FIELDS, "proxy_batch"))
                continue
            seed_everything(init)
            model = build(a, space)
            res = score_all(model, batch)
            _write_json(path, {"idx": i, "arch": a.key, "init": init, "scores": res, "config": asdict(cfg), **meta})
            if verbose:
                print(f"a{i:03d} {a.key:28s} init {init}: " + ", ".join(f"{k} {v['value']:.4g}"
                                                                        for k, v in res.items()), flush=True)


ARCH_COLUMNS = ["idx", "arch", "patch", "d_model", "depth", "heads", "mlp_ratios", "flops", "params",
                "test_acc_mean", "valid_acc_mean"]


def tables(preset: str, cfg: Config, out: Path
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], list[str]]:
    """archs rows (one per architecture) and proxies rows (one per architecture × init) from the stage files."""
    from ..search.proxies import PROXIES

    space, archs = archs_for(preset, cfg)
    rows, prows = [], []
    for i, a in enumerate(archs):
        runs = [json.loads(_run_path(out, i, s).read_text()) for s in cfg.seeds]
        row: dict[str, Any] = {"idx": i, "arch": a.key, "patch": a.patch, "d_model": a.d_model, "depth": a.depth,
                               "heads": ".".join(map(str, a.heads)), "mlp_ratios": ".".join(map(str, a.mlp_ratios)),
                               "flops": closed_form_flops(a, space), "params": arch_params(a, space)}
        for s, r in zip(cfg.seeds, runs, strict=True):
            row.update({f"test_acc_s{s}": r["test_acc"], f"valid_acc_s{s}": r["valid_acc"],
                        f"train_loss_s{s}": r["train_loss"], f"train_s_s{s}": r["train_s"]})
        row["test_acc_mean"] = round(sum(r["test_acc"] for r in runs) / len(runs), 5)
        row["valid_acc_mean"] = round(sum(r["valid_acc"] for r in runs) / len(runs), 5)
        rows.append(row)
        for init in cfg.proxy_inits:
            rec = json.loads(_proxy_path(out, i, init).read_text())
            prow: dict[str, Any] = {"idx": i, "arch": a.key, "init": init}
            prow.update({k: v["value"] for k, v in rec["scores"].items()})
            prow.update({f"s_{k}": round(v["seconds"], 4) for k, v in rec["scores"].items()})
            prows.append(prow)
    per_seed = [f"{m}_s{s}" for s in cfg.seeds for m in ("test_acc", "valid_acc", "train_loss", "train_s")]
    pcols = ["idx", "arch", "init", *PROXIES, *(f"s_{k}" for k in PROXIES)]
    return rows, prows, [*ARCH_COLUMNS, *per_seed], pcols


def run(preset: str, out: str | Path | None = None, *, workers: int = 1, argv: list[str] | None = None,
        verbose: bool = False, stages: tuple[str, ...] = ("train", "proxies")) -> dict[str, Any]:
    """Run (or resume) the stages and write the results folder; returns the summary (or ``{"partial": True}``)."""
    from ..search.correlation import rank_correlation

    cfg = config_for(preset)
    out = dryrun.results_dir("search", preset, out, f"chapters/results/search_{preset}")
    out.mkdir(parents=True, exist_ok=True)
    argv = argv if argv is not None else ["--preset", preset, "--out", str(out)]
    world = int(os.environ.get("WORLD_SIZE", 1))
    meta = provenance(preset, argv, world)
    meta["command"] = meta["command"].replace("efftx_mini.experiments.blocks", "efftx_mini.experiments.search_truth")
    if "train" in stages and not train_stage(preset, cfg, out, meta, workers=workers, verbose=verbose):
        return {"partial": True}
    if int(os.environ.get("RANK", 0)) != 0:
        return {"partial": True}
    if "proxies" in stages:
        proxy_stage(preset, cfg, out, meta, verbose=verbose)
    rows, prows, cols, pcols = tables(preset, cfg, out)
    s0, s1 = cfg.seeds[:2]
    seed_corr = rank_correlation([r[f"test_acc_s{s0}"] for r in rows], [r[f"test_acc_s{s1}"] for r in rows])
    runs = [json.loads(_run_path(out, r["idx"], s).read_text()) for r in rows for s in cfg.seeds]
    proxies = [json.loads(_proxy_path(out, r["idx"], i).read_text()) for r in rows for i in cfg.proxy_inits]
    result = {"config": asdict(cfg), "space": asdict(space_for(preset)), **meta, "n_archs": len(rows),
              "seed_corr": seed_corr.as_dict(), "seed_tau": round(seed_corr.tau, 4),
              "train_cpu_s_total": round(sum(r["cpu_s"] for r in runs), 1),
              "train_s_mean": round(sum(r["train_s"] for r in runs) / len(runs), 2),
              "trained_at_commits": sorted({r["commit"] for r in runs}),
              "proxies_at_commits": sorted({r["commit"] for r in proxies})}
    _write_csv(out / "archs.csv", rows, cols, meta)
    _write_csv(out / "proxies.csv", prows, pcols, meta)
    _write_json(out / "summary.json", result)
    return result


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of one training step of the sample's architecture with the most FLOPs, at the full batch (fp32 as the
    loop trains, AdamW), traced on fake tensors (:func:`efftx_mini.footprint.trace_step`)."""
    with dryrun.full_sizes():
        cfg = config_for(preset)
        space, archs = archs_for(preset, cfg)
    big = max(archs, key=lambda a: closed_form_flops(a, space))
    shape = (space.channels, space.image_size, space.image_size)
    return {f"largest of {len(archs)} sampled: {big.key} (batch {cfg.batch})": classifier_footprint(
        lambda: build(big, space), cfg.batch, shape, space.n_classes, amp_dtype=None)}


def committed_results(preset: str = "cpu") -> Path:
    """The results folder shipped with the book: ``chapters/results/search_<preset>``."""
    return results.root() / f"search_{preset}"


def load_results(folder: str | Path) -> dict[str, Any]:
    """archs and proxies (rows), their ``# key: value`` provenance and summary.json of a results folder."""
    folder = Path(folder)
    archs, meta = read_csv(folder / "archs.csv")
    return {"archs": archs, "proxies": read_csv(folder / "proxies.csv")[0], "meta": meta,
            "summary": json.loads((folder / "summary.json").read_text()), "folder": str(folder)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.search_truth",
                                description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None, help="sizes (default: $EFFTX_PRESET)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/search_<preset>)")
    p.add_argument("--workers", type=int, default=1, help="runs trained at once in a process pool (1 thread each)")
    p.add_argument("--stages", default="train,proxies", help="comma-separated subset of train,proxies")
    args = p.parse_args(argv)
    from ..presets import current_preset
    preset = args.preset or current_preset()
    res = run(preset, args.out, workers=args.workers, argv=argv, verbose=True, stages=tuple(args.stages.split(",")))
    print(json.dumps({k: v for k, v in res.items() if k in ("partial", "seed_tau", "n_archs")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
