"""An offline Long Range Arena (Tay et al. 2021): every task × attention × seed, small enough for a CPU.

    python -m efftx_mini.experiments.lra --preset {smoke,cpu,gpu} [--out DIR] [--tasks a,b] [--attentions a,b]
    torchrun --nproc_per_node=2 -m efftx_mini.experiments.lra --preset cpu   (runs are shared out between ranks)

For one seed every attention starts from the same weights (they share the parameters of
:class:`~efftx_mini.attention.MultiHeadAttention`) and sees the same batches (fresh ones at every step where the
task can generate them), so differences to softmax are paired per seed. Writes ``DIR`` (default
``chapters/results/lra_<preset>``): one ``run_<task>_<attention>_<seed>.json`` per run, with its training curve
(resumable: finished runs are skipped, an interrupted run continues from its last checkpoint), then
``summary.csv`` / ``summary.json`` with the mean and range of test accuracy per task and attention, the chance
level and the paired difference to softmax, plus command, commit and hardware. Processes started by hand with
RANK and WORLD_SIZE set share the runs out the same way as under torchrun.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import device as _device
from .. import dryrun, pick, results, seed_everything
from ..datasets.lra import TASKS, LRATask, make_task
from ..datasets.lra.image import marker_distance_accuracy
from ..datasets.lra.listops import outer_operator_accuracy
from ..efficient.lra_model import LRA_ATTENTIONS, LRAClassifier, redraw_features
from ..footprint import Footprint, classifier_footprint
from .blocks import _write_csv, _write_json, provenance, read_csv

__all__ = ["Config", "CPU_STEPS", "CPU_BATCH", "CPU_LR", "POOL", "config_for", "train_one", "assign", "run",
           "summarize", "load_results", "committed_results", "main", "footprints"]


@dataclass(frozen=True)
class Config:
    d_model: int
    n_heads: int
    n_layers: int
    d_ff: int
    batch: int
    steps: int
    lr: float
    warmup: int
    window: int  # local attention: keys on each side (the whole window spans 2·window + 1 positions)
    seeds: int
    eval_every: int  # steps between points of the training curve (mean training loss, validation accuracy)
    redraw_every: int | None = None  # performer: redraw the random features every this many steps
    curve_examples: int = 256  # validation examples scored at each curve point (the final score uses all)
    pool: str = "mean"  # "mean" over the real tokens, or "cls": a CLS token (LRA's ListOps configuration)
    eval_batch: int = 100


#: Training steps per task in the ``cpu`` preset: the hard tasks get the most (see config_for). ListOps learns
#: only after a long plateau (about a thousand steps in the pilot), so it gets more, cheaper steps (batch 16).
CPU_STEPS = {"listops": 2500, "text": 300, "retrieval": 600, "image": 300, "pathfinder": 1500}
CPU_BATCH = {"listops": 16}
CPU_LR = {"listops": 2e-3}
#: Pooling per task: a CLS token where mean pooling could not find the cue within the budget (see the chapter).
POOL = {"listops": "cls"}


def config_for(preset: str, task: str | None = None) -> Config:
    """The model and training settings of ``preset`` for ``task`` (only the number of steps depends on the task).

    ``cpu``: 5 tasks × 5 attentions × 3 seeds in about 2 CPU-hours (single thread), split over processes.
    """
    steps = pick(smoke=4, cpu=CPU_STEPS.get(task or "", 300), gpu=5000, dry=2, preset=preset)
    return Config(
        d_model=pick(smoke=16, cpu=32, gpu=128, preset=preset),
        n_heads=pick(smoke=2, cpu=2, gpu=4, preset=preset),
        n_layers=pick(smoke=1, cpu=2, gpu=4, preset=preset),
        d_ff=pick(smoke=32, cpu=64, gpu=512, preset=preset),
        batch=pick(smoke=8, cpu=CPU_BATCH.get(task or "", 32), gpu=32, dry=1, preset=preset),
        steps=steps,
        lr=pick(smoke=2e-3, cpu=CPU_LR.get(task or "", 1e-3), gpu=5e-4, preset=preset),
        warmup=max(1, steps // 10),
        window=pick(smoke=4, cpu=32, gpu=128, preset=preset),
        seeds=pick(smoke=3, cpu=3, gpu=3, dry=1, preset=preset),
        eval_every=max(1, steps // 8),
        redraw_every=pick(smoke=2, cpu=100, gpu=1000, dry=1, preset=preset),
        pool=POOL.get(task or "", "mean"),
        eval_batch=pick(smoke=100, cpu=100, gpu=100, dry=2, preset=preset),
    )


def _trim(x: torch.Tensor) -> torch.Tensor:
    """Drop trailing all-PAD columns of a batch (a shorter batch costs less; results are unchanged)."""
    used = (x != 0).reshape(-1, x.shape[-1]).any(0).nonzero()
    return x[..., : int(used.max()) + 1] if used.numel() else x[..., :1]


@torch.no_grad()
def accuracy(model: LRAClassifier, task: LRATask, split: str, cfg: Config, dev: torch.device,
             limit: int | None = None) -> float:
    """Accuracy on ``split`` (its first ``limit`` examples, if given)."""
    model.eval()
    s = task.splits[split]
    n = len(s) if limit is None else min(limit, len(s))
    correct = 0
    for i in range(0, n, cfg.eval_batch):
        j = min(i + cfg.eval_batch, n)
        x = _trim(s.x[i:j]).to(dev)
        correct += int((model(x).argmax(-1).cpu() == s.y[i:j]).sum())
    model.train()
    return correct / n


def _batches(task: LRATask, seed: int, cfg: Config) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """step → (x, y): fresh examples from the task's sampler where it has one, else the fixed training split in
    seeded epochs. Depends only on (seed, step), so every attention sees the same batches and a resumed run the
    same ones it would have seen."""
    if task.sampler is not None:
        def fresh(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            b = task.sampler(seed * 1_000_003 + step, cfg.batch)
            return b.x, b.y
        return fresh
    train = task.splits["train"]
    g = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(len(train), generator=g)
                       for _ in range(-(-cfg.steps * cfg.batch // len(train)))])

    def fixed(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = order[step * cfg.batch:(step + 1) * cfg.batch]
        return train.x[idx], train.y[idx]
    return fixed


def train_one(task: LRATask, attention: str, seed: int, cfg: Config, dev: torch.device,
              checkpoint: Path | None = None, stop_after: int | None = None) -> dict[str, Any] | None:
    """Train one model and return its record (accuracies, training curve, seconds).

    With ``checkpoint``, the state is saved at every curve point and a run found there resumes exactly (the
    batches depend only on (seed, step)); the file is removed when the run ends. ``stop_after`` stops after that
    many steps and returns None (to test resuming).
    """
    seed_everything(seed)
    # local attention reading a CLS token: the CLS token is global (Longformer §3.1), else it sees only the first L·w
    opts: dict[str, Any] = {"window": cfg.window, "n_global": int(cfg.pool == "cls")} if attention == "local" else {}
    model = LRAClassifier(task.vocab_size, task.n_classes, task.max_len, attention, d_model=cfg.d_model,
                          n_heads=cfg.n_heads, n_layers=cfg.n_layers, d_ff=cfg.d_ff, dual=task.dual, pool=cfg.pool,
                          **opts).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        return 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    batch_at = _batches(task, seed, cfg)
    losses: list[float] = []
    curve: list[dict[str, float]] = []
    start, wall0, cpu0 = 0, 0.0, 0.0
    ck = torch.load(checkpoint, map_location=dev, weights_only=False) \
        if checkpoint is not None and checkpoint.exists() else None
    if ck is not None and ck.get("config") != asdict(cfg):
        ck = None  # written under other settings: start afresh rather than mix two configurations
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start, losses, curve, wall0, cpu0 = ck["step"], ck["losses"], ck["curve"], ck["wall_s"], ck["cpu_s"]
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(start, cfg.steps):
        if attention == "performer" and cfg.redraw_every and step > 0 and step % cfg.redraw_every == 0:
            redraw_features(model)  # Choromanski et al.: new random features every redraw_every steps
        x, y = batch_at(step)
        x, y = _trim(x).to(dev), y.to(dev)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            prev = curve[-1]["step"] if curve else 0
            curve.append({"step": done, "train_loss": round(sum(losses[int(prev):]) / (done - prev), 4),
                          "valid_acc": round(accuracy(model, task, "valid", cfg, dev, cfg.curve_examples), 4)})
            if checkpoint is not None and done < cfg.steps:
                tmp = checkpoint.with_name(checkpoint.name + ".tmp")
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                            "config": asdict(cfg), "step": done, "losses": losses, "curve": curve,
                            "wall_s": wall0 + time.perf_counter() - t0, "cpu_s": cpu0 + time.process_time() - c0},
                           tmp)
                os.replace(tmp, checkpoint)  # atomic: an interrupted save leaves the previous checkpoint
        if stop_after is not None and done >= stop_after and done < cfg.steps:
            return None
    k = max(1, cfg.steps // 10)
    rec = {"task": task.name, "attention": attention, "seed": seed,
           "train_loss_first": round(sum(losses[:k]) / k, 4), "train_loss_last": round(sum(losses[-k:]) / k, 4),
           "valid_acc": round(accuracy(model, task, "valid", cfg, dev), 4),
           "test_acc": round(accuracy(model, task, "test", cfg, dev), 4),
           "chance": round(task.chance, 4), "n_test": len(task.splits["test"]),
           "train_examples": cfg.steps * cfg.batch if task.sampler is not None else len(task.splits["train"]),
           "fresh_batches": task.sampler is not None, "attention_options": opts, "curve": curve,
           "wall_s": round(wall0 + time.perf_counter() - t0, 2), "cpu_s": round(cpu0 + time.process_time() - c0, 2)}
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return rec


SUMMARY_COLUMNS = ["task", "attention", "seeds", "test_acc_mean", "test_acc_min", "test_acc_max", "chance",
                   "above_chance", "vs_softmax_mean", "vs_softmax_min", "vs_softmax_max", "cpu_s_mean"]


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task and attention: mean and range of test accuracy, chance, and the paired difference to softmax.

    ``above_chance`` is 1 when every seed's test accuracy exceeds chance by more than two binomial standard
    errors of the test set (√(p(1−p)/n) at p = chance); otherwise 0.
    """
    rows = []
    by = {(r["task"], r["attention"], r["seed"]): r for r in records}
    for task in dict.fromkeys(r["task"] for r in records):
        for att in dict.fromkeys(r["attention"] for r in records if r["task"] == task):
            rs = [r for r in records if r["task"] == task and r["attention"] == att]
            accs = [r["test_acc"] for r in rs]
            chance = rs[0]["chance"]
            se = math.sqrt(chance * (1 - chance) / rs[0]["n_test"])
            diffs = [r["test_acc"] - by[(task, "softmax", r["seed"])]["test_acc"] for r in rs
                     if (task, "softmax", r["seed"]) in by]
            rows.append({"task": task, "attention": att, "seeds": len(rs),
                         "test_acc_mean": round(sum(accs) / len(accs), 4), "test_acc_min": min(accs),
                         "test_acc_max": max(accs), "chance": chance,
                         "above_chance": int(min(accs) > chance + 2 * se),
                         "vs_softmax_mean": round(sum(diffs) / len(diffs), 4) if diffs else None,
                         "vs_softmax_min": round(min(diffs), 4) if diffs else None,
                         "vs_softmax_max": round(max(diffs), 4) if diffs else None,
                         "cpu_s_mean": round(sum(r["cpu_s"] for r in rs) / len(rs), 1)})
    return rows


def _wait_for_runs(out: Path, jobs: list[tuple[int, str, str]], wait_s: float) -> list[dict[str, Any]] | None:
    """The records of all ``jobs`` once every ``run_*.json`` exists (None after ``wait_s`` seconds)."""
    paths = [out / f"run_{t}_{a}_{seed}.json" for seed, t, a in jobs]
    deadline = time.monotonic() + wait_s
    while not all(p.exists() for p in paths):
        if time.monotonic() > deadline:
            return None
        time.sleep(5)
    return [json.loads(p.read_text()) for p in paths]


def _cost(preset: str, task: str, attention: str) -> float:
    """A rough relative cost of one run (steps × tokens per example), to share the runs out between processes."""
    sizes = {"listops": 556, "text": 512, "retrieval": 512, "image": 784, "pathfinder": 256}
    cfg = config_for(preset, task)
    return cfg.steps * cfg.batch * sizes[task] * (1.5 if attention in ("softmax", "local") else 1.0)


def assign(jobs: list[tuple[int, str, str]], preset: str, world: int) -> list[int]:
    """The rank of each job: longest runs first, each to the least-loaded rank (deterministic, so every process
    computes the same split)."""
    load = [0.0] * world
    ranks = [0] * len(jobs)
    for i in sorted(range(len(jobs)), key=lambda i: (-_cost(preset, jobs[i][1], jobs[i][2]), i)):
        r = min(range(world), key=lambda r: (load[r], r))
        ranks[i] = r
        load[r] += _cost(preset, jobs[i][1], jobs[i][2])
    return ranks


def run(preset: str, out: str | Path | None = None, tasks: list[str] | None = None,
        attentions: list[str] | None = None, *, argv: list[str] | None = None, verbose: bool = False,
        wait_s: float = 86_400.0) -> dict[str, Any]:
    """Run (or resume) all runs and write the results folder; returns the summary record.

    Under torchrun (or with RANK / WORLD_SIZE set) the runs are shared out between the processes; rank 0 then
    waits for the others' files and writes the summary. An interrupted run resumes from its checkpoint.
    """
    tasks = list(TASKS) if tasks is None else tasks
    attentions = list(LRA_ATTENTIONS) if attentions is None else attentions
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"unknown task {t!r}; expected some of {TASKS}")
    for a in attentions:
        if a not in LRA_ATTENTIONS:
            raise ValueError(f"unknown attention {a!r}; expected some of {LRA_ATTENTIONS}")
    cfgs = {t: config_for(preset, t) for t in tasks}
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    dev = _device()
    out = dryrun.results_dir("lra", preset, out, f"chapters/results/lra_{preset}")
    out.mkdir(parents=True, exist_ok=True)
    argv = argv if argv is not None else ["--preset", preset, "--out", str(out)]
    meta = provenance(preset, argv, world)
    meta["command"] = meta["command"].replace("efftx_mini.experiments.blocks", "efftx_mini.experiments.lra")
    built: dict[str, LRATask] = {}
    records, todo = [], 0
    seeds = max(c.seeds for c in cfgs.values())
    jobs = [(seed, t, a) for seed in range(seeds) for t in tasks for a in attentions]  # seed 0 of all first
    ranks = assign(jobs, preset, world)
    for i, (seed, t, a) in enumerate(jobs):
        path = out / f"run_{t}_{a}_{seed}.json"
        cfg = cfgs[t]
        if path.exists():
            rec = json.loads(path.read_text())
            if rec.get("config") != asdict(cfg):
                raise ValueError(f"{path} was written with config {rec.get('config')}, expected {asdict(cfg)}; "
                                 "use another --out or delete it")
            records.append(rec)
            continue
        if ranks[i] != rank:
            todo += 1
            continue
        if t not in built:
            built[t] = make_task(t, preset)
        res = train_one(built[t], a, seed, cfg, dev, checkpoint=out / f"ckpt_{t}_{a}_{seed}.pt")
        rec = {**res, "config": asdict(cfg), **meta}
        if dryrun.active(preset):
            dryrun.check_finite(rec, f"lra {path.name}")
        _write_json(path, rec)
        dryrun.saved()
        records.append(rec)
        if verbose:
            print(f"{t:10s} {a:9s} seed {seed}: test acc {rec['test_acc']:.3f} (chance {rec['chance']:.3f}), "
                  f"{rec['cpu_s']:.1f} CPU-s", flush=True)
    if rank != 0:
        return {"partial": True, "records": records}
    if todo:  # rank 0 collects the other ranks' runs as their files appear
        records = _wait_for_runs(out, jobs, wait_s)
        if records is None:
            return {"partial": True}
    rows = summarize(records)
    for t in tasks:
        if t not in built:
            built[t] = make_task(t, preset)
    result = {"config": {t: asdict(c) for t, c in cfgs.items()}, **meta, "summary": rows,
              "cpu_s_total": round(sum(r["cpu_s"] for r in records), 1),
              "wall_s_total": round(sum(r["wall_s"] for r in records), 1),
              "tasks": {t: {**built[t].info, "max_len": built[t].max_len, "train": len(built[t].splits["train"]),
                            "valid": len(built[t].splits["valid"]), "test": len(built[t].splits["test"]),
                            "fresh_batches": built[t].sampler is not None,
                            "train_examples": records_examples(records, t)} for t in tasks}}
    if "listops" in built:  # what the outermost operator alone gives (LRA's ListOps scores sit near it)
        result["tasks"]["listops"]["outer_operator_accuracy"] = round(outer_operator_accuracy(built["listops"]), 4)
    if "pathfinder" in built:  # what the distance between the two markers alone gives (a rule with no curve)
        pf = built["pathfinder"]
        result["tasks"]["pathfinder"]["marker_distance_accuracy"] = round(marker_distance_accuracy(pf), 4)
    _write_csv(out / "summary.csv", rows, SUMMARY_COLUMNS, meta)
    _write_json(out / "summary.json", result)
    return result


def records_examples(records: list[dict[str, Any]], task: str) -> int | None:
    """Training examples one run of ``task`` saw (distinct examples: the fixed split, or steps × batch fresh)."""
    return next((r.get("train_examples") for r in records if r["task"] == task), None)


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of one training step of every task × attention at the preset's full batch and LRA length on one device
    (fp32, as :func:`train_one` trains; AdamW), traced on fake tensors (:func:`efftx_mini.footprint.trace_step`)."""
    with dryrun.full_sizes():
        cfg = config_for(preset)
    out = {}
    for t in TASKS:
        with dryrun.dry_sizes():  # vocabulary, classes and length of the gpu task, from a few examples
            task = make_task(t, preset)
        shape = (2, task.max_len) if task.dual else (task.max_len,)
        for a in LRA_ATTENTIONS:
            opts = {"window": cfg.window} if a == "local" else {}

            def build(task: LRATask = task, a: str = a, opts: dict[str, int] = opts) -> LRAClassifier:
                return LRAClassifier(task.vocab_size, task.n_classes, task.max_len, a, d_model=cfg.d_model,
                                     n_heads=cfg.n_heads, n_layers=cfg.n_layers, d_ff=cfg.d_ff, dual=task.dual,
                                     **opts)

            out[f"{t} {a} (batch {cfg.batch}×{task.max_len})"] = classifier_footprint(
                build, cfg.batch, shape, task.n_classes, amp_dtype=None, vocab=task.vocab_size)
    return out


def committed_results(preset: str = "cpu") -> Path:
    """The results folder shipped with the book: ``chapters/results/lra_<preset>``."""
    return results.root() / f"lra_{preset}"


def load_results(folder: str | Path) -> dict[str, Any]:
    """A finished results folder: summary rows, their metadata, and every run's record."""
    folder = Path(folder)
    rows, meta = read_csv(folder / "summary.csv")
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("run_*.json"))]
    return {"summary": rows, "meta": meta, "runs": runs, "json": json.loads((folder / "summary.json").read_text())}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.lra", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None, help="sizes (default: $EFFTX_PRESET)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/lra_<preset>)")
    p.add_argument("--tasks", default=None, help=f"comma-separated subset of {','.join(TASKS)}")
    p.add_argument("--attentions", default=None, help=f"comma-separated subset of {','.join(LRA_ATTENTIONS)}")
    args = p.parse_args(argv)
    from ..presets import current_preset
    preset = args.preset or current_preset()
    res = run(preset, args.out, args.tasks.split(",") if args.tasks else None,
              args.attentions.split(",") if args.attentions else None, argv=argv, verbose=True)
    if "summary" in res:
        from ..timing import print_table
        print_table(res["summary"], SUMMARY_COLUMNS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
