"""Train Pre-LN, Parallel, Value-SkipInit, SAS and SAS-P decoder-only LMs on the stdlib code corpus with
identical budgets — a small-scale version of He & Hofmann 2024, §4 (CodeParrot, Figs. 3–6, Table 1).

    python -m efftx_mini.experiments.blocks --preset {smoke,cpu,gpu} [--out DIR] [--variants a,b] [--seeds 0,1,2]
    torchrun --nproc_per_node=gpu -m efftx_mini.experiments.blocks --preset gpu

Every variant runs with every seed; within one seed all variants share the initial-weight seed, the data order
(batch i depends only on (seed, i)), the steps and the optimiser, so differences between variants are *paired*
by seed. Validation uses the same fixed held-out windows (``EVAL_SEED``) for every run. Writes to DIR (default
``chapters/results/blocks_<preset>``): ``curves.csv`` (loss in bits per byte against step, tokens and training
seconds, per seed), ``gains.csv`` (per-head α, β, γ and the branch gains β_SA, β_FF during training, per seed),
``runs.csv`` (one row per variant and seed), ``summary.csv``/``summary.json`` (per variant: mean and min–max over
seeds of the final valid bits per byte and of its paired difference to Pre-LN, parameters, tokens/s),
``attention_<variant>.json`` (softmax maps at initialisation and after training, first seed) and
``variant_<variant>_seed<s>.json`` (everything of one run). Resumable: per-run checkpoints
``ckpt_<variant>_seed<s>.pt`` are written atomically; a rerun skips finished runs and resumes unfinished ones
exactly. Under torchrun only rank 0 writes. ``EFFTX_DRY_RUN=1`` with ``--preset gpu`` rehearses the lab run:
the ``gpu`` models for two steps of batch 2 with one seed, into a scratch folder (:mod:`efftx_mini.dryrun`);
:func:`footprints` gives each variant's memory at the full ``gpu`` batch.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io
import json
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import device as _device
from .. import distributed as D
from .. import dryrun, pick, results, seed_everything
from ..corpus import VOCAB_SIZE, CodeCorpus
from ..footprint import Footprint, lm_footprint
from ..lm import DecoderOnlyLM
from ..provenance import git_commit, hardware
from ..timing import synchronize

__all__ = ["VARIANTS", "Config", "config_for", "seeds_for", "run", "main", "read_csv", "build_model", "load_results",
           "load_or_run", "committed_results", "summarise", "band", "EVAL_SEED", "footprints"]

#: Seed of the fixed validation windows, the same for every variant and training seed.
EVAL_SEED = 10_007

#: variant name → (block name, block kwargs)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "pre-ln": ("pre-ln", {}),
    "parallel": ("parallel", {}),
    "value-skipinit": ("value-skipinit", {}),
    "sas": ("sas", {}),
    "sas-p": ("sas-p", {}),
}


STEPS_CPU, EVAL_EVERY_CPU = 480, 160


@dataclass(frozen=True)
class Config:
    d_model: int
    n_heads: int
    n_layers: int
    d_ff: int
    T: int
    batch: int  # global batch (sequences per step, over all ranks)
    steps: int
    lr: float
    warmup: int
    log_every: int
    eval_every: int
    eval_batches: int
    ckpt_every: int
    seed: int = 0
    map_T: int = 32
    weight_decay: float = 0.1
    gain_every: int = 50


def seeds_for(preset: str) -> tuple[int, ...]:
    """Training seeds per preset (at least 3, so every comparison has a range)."""
    return pick(smoke=(0, 1, 2), cpu=(0, 1, 2), gpu=(0, 1, 2), dry=(0,), preset=preset)


def config_for(preset: str) -> Config:
    """Sizes per preset; ``cpu`` keeps all five variants × 3 seeds within ~10 single-thread CPU-minutes."""
    kw = dict(
        d_model=pick(smoke=32, cpu=128, gpu=768, preset=preset),
        n_heads=pick(smoke=2, cpu=4, gpu=12, preset=preset),
        n_layers=pick(smoke=2, cpu=4, gpu=12, preset=preset),
        d_ff=pick(smoke=128, cpu=512, gpu=3072, preset=preset),
        T=pick(smoke=32, cpu=128, gpu=512, preset=preset),
        batch=pick(smoke=4, cpu=8, gpu=64, dry=2, preset=preset),
        steps=pick(smoke=6, cpu=STEPS_CPU, gpu=10_000, dry=2, preset=preset),
        lr=pick(smoke=2e-3, cpu=2e-3, gpu=6e-4, preset=preset),
        warmup=pick(smoke=2, cpu=30, gpu=500, dry=1, preset=preset),
        log_every=pick(smoke=1, cpu=10, gpu=50, dry=1, preset=preset),
        eval_every=pick(smoke=3, cpu=EVAL_EVERY_CPU, gpu=500, dry=2, preset=preset),
        eval_batches=pick(smoke=2, cpu=64, gpu=128, dry=1, preset=preset),
        ckpt_every=pick(smoke=3, cpu=100, gpu=1000, dry=1, preset=preset),
        map_T=pick(smoke=16, cpu=32, gpu=32, preset=preset),
        gain_every=pick(smoke=3, cpu=50, gpu=500, dry=1, preset=preset),
    )
    return Config(**kw)


def build_model(variant: str, cfg: Config) -> DecoderOnlyLM:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(VARIANTS)}")
    block, kw = VARIANTS[variant]
    return DecoderOnlyLM(block, VOCAB_SIZE, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, max_len=cfg.T,
                         block_kwargs=kw)


# ----------------------------------------------------------------------------- provenance and files

def provenance(preset: str, argv: list[str], world_size: int) -> dict[str, Any]:
    """Exact command, git commit (with a dirty flag), hardware, preset, date."""
    cmd = shlex.join(["python", "-m", "efftx_mini.experiments.blocks", *argv])
    if world_size > 1:
        cmd = f"torchrun --nproc_per_node={world_size} -m efftx_mini.experiments.blocks {shlex.join(argv)}"
    try:
        # dirty = the code that produced the results differs from the commit (results folders don't count)
        code = ["efftx_mini", "pyproject.toml", "requirements.txt"]
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *code],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        dirty = False
    return {"command": cmd, "commit": git_commit() + ("+dirty" if dirty else ""), "hardware": hardware(),
            "preset": preset, "world_size": world_size, "torch": torch.__version__,
            "python": sys.version.split()[0], "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _atomic_write(path, (json.dumps(obj, indent=1) + "\n").encode())


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str], meta: dict[str, Any]) -> None:
    buf = io.StringIO()
    for k in ("command", "commit", "hardware", "preset", "world_size", "date"):
        buf.write(f"# {k}: {meta[k]}\n")
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    _atomic_write(path, buf.getvalue().encode())


def read_csv(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows (numbers converted; empty cells → None) and the ``# key: value`` header of a results CSV."""
    meta, lines = {}, []
    for line in Path(path).read_text().splitlines():
        if line.startswith("# "):
            k, _, v = line[2:].partition(": ")
            meta[k] = v
        elif line:
            lines.append(line)

    def conv(v: str) -> Any:
        if v == "":
            return None
        for t in (int, float):
            try:
                return t(v)
            except ValueError:
                pass
        return v

    rows = [{k: conv(v) for k, v in r.items()} for r in csv.DictReader(lines)]
    return rows, meta


# ----------------------------------------------------------------------------- training

@torch.no_grad()
def _gain_rows(variant: str, seed: int, step: int, model: nn.Module) -> list[dict[str, Any]]:
    rows = []
    for layer, blk in enumerate(model.blocks):
        src = getattr(blk, "shaped", blk)
        if not hasattr(src, "alpha"):
            continue
        gamma = getattr(src, "gamma", None)
        beta_sa = getattr(blk, "beta_sa", None)
        for h in range(blk.n_heads):
            rows.append({"variant": variant, "seed": seed, "step": step, "layer": layer, "head": h,
                         "alpha": round(float(src.alpha[h]), 6), "beta": round(float(src.beta[h]), 6),
                         "gamma": None if gamma is None else round(float(gamma[h]), 6),
                         "beta_sa": None if beta_sa is None else round(float(beta_sa), 6),
                         "beta_ff": round(float(blk.beta_ff), 6)})
    return rows


@torch.no_grad()
def attention_snapshot(model: DecoderOnlyLM, tokens: Tensor) -> list[dict[str, Any]]:
    """Per-head α, β, γ and the unscaled softmax S (H, T, T) of the first and last block, for tokens (1, T)."""
    if not hasattr(model.blocks[0], "shaped"):
        return []
    inputs: dict[int, Tensor] = {}
    hooks = [b.register_forward_pre_hook(lambda m, a, i=i: inputs.__setitem__(i, a[0]))
             for i, b in enumerate(model.blocks)]
    try:
        was = model.training
        model.eval()
        model(tokens)
        model.train(was)
    finally:
        for h in hooks:
            h.remove()
    out = []
    for layer in sorted({0, len(model.blocks) - 1}):
        blk = model.blocks[layer]
        m = blk.attention_matrices(inputs[layer])
        out.append({"layer": layer, "alpha": blk.shaped.alpha.tolist(), "beta": blk.shaped.beta.tolist(),
                    "gamma": blk.shaped.gamma.tolist(),
                    "S": [[[round(float(v), 4) for v in row] for row in head] for head in m["S"][0].cpu()]})
    return out


def _lr_lambda(cfg: Config):
    def f(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return f


def _optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": other, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))


@torch.no_grad()
def evaluate(model: nn.Module, corpus: CodeCorpus, cfg: Config, dinfo: D.DistInfo, dev: torch.device) -> float:
    """Validation loss in bits per byte on fixed windows (``EVAL_SEED``, the same for every run), over ranks."""
    was = model.training
    model.eval()
    total = torch.zeros((), device=dev)
    for i in range(cfg.eval_batches):
        x, y = corpus.batch("valid", cfg.batch, cfg.T, EVAL_SEED, i)
        x, y = D.shard(x, dinfo).to(dev), D.shard(y, dinfo).to(dev)
        with _autocast(dev):
            logits = model(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
    model.train(was)
    return float(D.all_reduce_mean(total / cfg.eval_batches, dinfo)) / math.log(2)


def _autocast(dev: torch.device):
    """bf16 autocast on CUDA; fp32 on the CPU (CPU bf16 matmuls are emulated and slow): the only difference between
    the devices, as in :func:`efftx_mini.train.autocast_settings`."""
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def train_variant(variant: str, cfg: Config, corpus: CodeCorpus, out: Path, dinfo: D.DistInfo,
                  dev: torch.device, meta: dict[str, Any], *, keep_checkpoint: bool = False,
                  stop_after: int | None = None, progress: bool = True, write_maps: bool = True
                  ) -> dict[str, Any] | None:
    """Train one variant with seed ``cfg.seed`` (resuming from its checkpoint) and return its result record
    (None if stopped early)."""
    stem = f"{variant}_seed{cfg.seed}"
    done_path, ckpt_path = out / f"variant_{stem}.json", out / f"ckpt_{stem}.pt"
    if done_path.exists():
        rec = json.loads(done_path.read_text())
        if rec.get("config") != asdict(cfg):
            raise ValueError(f"{done_path} was written with config {rec.get('config')}, expected {asdict(cfg)}; "
                             "use another --out or delete it")
        return rec
    seed_everything(cfg.seed)
    model = build_model(variant, cfg).to(dev)
    opt = _optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    start, elapsed, curves, gains = 0, 0.0, [], []
    sample = corpus.tokens["valid"][: cfg.map_T].long()[None].to(dev)
    maps_init = attention_snapshot(model, sample)
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        if ck["config"] != asdict(cfg):
            raise ValueError(f"{ckpt_path} was written with config {ck['config']}, expected {asdict(cfg)}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start, elapsed, curves, gains, maps_init = ck["step"], ck["elapsed"], ck["curves"], ck["gains"], ck["maps_init"]
    if start == 0:
        gains += _gain_rows(variant, cfg.seed, 0, model)
    net: nn.Module = model
    if dinfo.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    tokens_per_step = cfg.batch * cfg.T
    run_loss, run_n = torch.zeros((), device=dev), 0
    bar = None
    if progress and dinfo.is_main:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.steps, initial=start, desc=stem, leave=False)
    net.train()
    for step in range(start, cfg.steps):
        x, y = corpus.batch("train", cfg.batch, cfg.T, cfg.seed, step)
        x, y = D.shard(x, dinfo).to(dev, non_blocking=True), D.shard(y, dinfo).to(dev, non_blocking=True)
        synchronize(dev)
        t0 = time.perf_counter()
        with _autocast(dev):
            logits = net(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        run_loss += loss.detach()
        run_n += 1
        synchronize(dev)
        elapsed += time.perf_counter() - t0
        n = step + 1
        if bar is not None:
            bar.update(1)
        if n % cfg.log_every == 0 or n == cfg.steps:
            train_bpb = float(D.all_reduce_mean(run_loss / run_n, dinfo)) / math.log(2)
            run_loss, run_n = torch.zeros((), device=dev), 0
            row = {"variant": variant, "seed": cfg.seed, "step": n, "tokens": n * tokens_per_step,
                   "seconds": round(elapsed, 4), "train_bpb": round(train_bpb, 5), "valid_bpb": None}
            if n % cfg.eval_every == 0 or n == cfg.steps:
                row["valid_bpb"] = round(evaluate(model, corpus, cfg, dinfo, dev), 5)
            curves.append(row)
        if n % cfg.gain_every == 0 or n == cfg.steps:
            gains += _gain_rows(variant, cfg.seed, n, model)
        if n % cfg.ckpt_every == 0 and n < cfg.steps:
            if dinfo.is_main:
                _atomic_save(ckpt_path, {"config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(),
                                         "sched": sched.state_dict(), "step": n, "elapsed": elapsed,
                                         "curves": curves, "gains": gains, "maps_init": maps_init})
            D.barrier(dinfo)
            dryrun.saved()
            if stop_after is not None and n >= stop_after:
                if bar is not None:
                    bar.close()
                return None
    if bar is not None:
        bar.close()
    last = curves[-1]
    summary = {"variant": variant, "seed": cfg.seed, "block": VARIANTS[variant][0],
               "params": sum(p.numel() for p in model.parameters()),
               "block_matrix_params": model.block_matrix_params(),
               "steps": cfg.steps, "tokens": cfg.steps * tokens_per_step,
               "final_train_bpb": last["train_bpb"], "final_valid_bpb": last["valid_bpb"],
               "tokens_per_s": round(cfg.steps * tokens_per_step / elapsed, 1), "wall_s": round(elapsed, 2)}
    rec = {"summary": summary, "curves": curves, "gains": gains, "config": asdict(cfg), **meta}
    if dryrun.active():
        dryrun.check_finite(summary, f"blocks {stem}")
    if dinfo.is_main:
        maps = {"init": maps_init, "final": attention_snapshot(model, sample)}
        if maps_init and write_maps:
            _write_json(out / f"attention_{variant}.json", {"variant": variant, "seed": cfg.seed, "T": cfg.map_T,
                                                             **maps, **meta})
        _write_json(done_path, rec)
        if ckpt_path.exists() and not keep_checkpoint:
            ckpt_path.unlink()
    D.barrier(dinfo)
    dryrun.saved()
    return rec


def _atomic_save(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


CURVE_COLUMNS = ["variant", "seed", "step", "tokens", "seconds", "train_bpb", "valid_bpb"]
GAIN_COLUMNS = ["variant", "seed", "step", "layer", "head", "alpha", "beta", "gamma", "beta_sa", "beta_ff"]
RUN_COLUMNS = ["variant", "seed", "block", "params", "block_matrix_params", "steps", "tokens", "final_train_bpb",
               "final_valid_bpb", "tokens_per_s", "wall_s"]
SUMMARY_COLUMNS = ["variant", "block", "seeds", "params", "block_matrix_params", "steps", "tokens",
                   "valid_bpb_mean", "valid_bpb_min", "valid_bpb_max", "dvalid_mean", "dvalid_min", "dvalid_max",
                   "train_bpb_mean", "tokens_per_s_mean", "tokens_per_s_min", "tokens_per_s_max", "wall_s"]


def summarise(runs: list[dict[str, Any]], reference: str = "pre-ln") -> list[dict[str, Any]]:
    """Per variant over seeds: mean and min–max of the final valid bpb and of its difference to ``reference``
    paired by seed (same initial-weight seed, data order and validation windows); None where unpaired."""
    by: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["variant"], {})[r["seed"]] = r
    ref = by.get(reference, {})
    out = []
    for v, seeds in by.items():
        rs = [seeds[s] for s in sorted(seeds)]
        valid = [r["final_valid_bpb"] for r in rs]
        paired = [seeds[s]["final_valid_bpb"] - ref[s]["final_valid_bpb"] for s in sorted(seeds) if s in ref]
        tps = [r["tokens_per_s"] for r in rs]
        row = {"variant": v, "block": rs[0]["block"], "seeds": len(rs), "params": rs[0]["params"],
               "block_matrix_params": rs[0]["block_matrix_params"], "steps": rs[0]["steps"],
               "tokens": rs[0]["tokens"],
               "valid_bpb_mean": round(sum(valid) / len(valid), 5), "valid_bpb_min": min(valid),
               "valid_bpb_max": max(valid),
               "dvalid_mean": round(sum(paired) / len(paired), 5) if paired else None,
               "dvalid_min": round(min(paired), 5) if paired else None,
               "dvalid_max": round(max(paired), 5) if paired else None,
               "train_bpb_mean": round(sum(r["final_train_bpb"] for r in rs) / len(rs), 5),
               "tokens_per_s_mean": round(sum(tps) / len(tps), 1), "tokens_per_s_min": min(tps),
               "tokens_per_s_max": max(tps), "wall_s": round(sum(r["wall_s"] for r in rs), 2)}
        out.append(row)
    return out


def run(preset: str, out: str | Path | None = None, variants: list[str] | None = None, *,
        seeds: list[int] | tuple[int, ...] | None = None, argv: list[str] | None = None,
        keep_checkpoints: bool = False, stop_after: int | None = None, progress: bool = True,
        corpus: CodeCorpus | None = None) -> dict[str, Any]:
    """Run (or resume) every variant with every seed and write the results files; returns the summary record."""
    base = config_for(preset)
    variants = list(VARIANTS) if variants is None else variants
    seeds = list(seeds_for(preset) if seeds is None else seeds)
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; expected some of {list(VARIANTS)}")
    if not seeds or len(set(seeds)) != len(seeds) or any(isinstance(s, bool) or not isinstance(s, int) or s < 0
                                                         for s in seeds):
        raise ValueError(f"seeds must be distinct non-negative ints, got {seeds!r}")
    dinfo = D.init()
    if base.batch % dinfo.world_size:
        raise ValueError(f"batch {base.batch} must be divisible by WORLD_SIZE={dinfo.world_size}")
    dev = _device()
    out = dryrun.results_dir("blocks", preset, out, f"chapters/results/blocks_{preset}")
    if dinfo.is_main:
        out.mkdir(parents=True, exist_ok=True)
    D.barrier(dinfo)
    argv = argv if argv is not None else ["--preset", preset, "--out", str(out)]
    meta = provenance(preset, argv, dinfo.world_size)
    corpus = corpus or CodeCorpus()
    t0 = time.perf_counter()
    records = []
    for seed in seeds:  # seed-major: an interrupted run has whole seeds of every variant first
        cfg = replace(base, seed=seed)
        for v in variants:
            rec = train_variant(v, cfg, corpus, out, dinfo, dev, meta, keep_checkpoint=keep_checkpoints,
                                stop_after=stop_after, progress=progress, write_maps=seed == seeds[0])
            if rec is None:
                return {"stopped": True}
            records.append(rec)
    runs = [r["summary"] for r in records]
    result = {"config": asdict(base), "seeds": seeds, "eval_seed": EVAL_SEED, "corpus": corpus.stats(), **meta,
              "summary": summarise(runs), "runs": runs,
              "experiment_wall_s": round(sum(r["wall_s"] for r in runs), 2),
              "this_invocation_s": round(time.perf_counter() - t0, 2)}
    if dinfo.is_main:
        order = {v: i for i, v in enumerate(variants)}
        records.sort(key=lambda r: (order[r["summary"]["variant"]], r["summary"]["seed"]))
        _write_csv(out / "curves.csv", [row for r in records for row in r["curves"]], CURVE_COLUMNS, meta)
        _write_csv(out / "gains.csv", [row for r in records for row in r["gains"]], GAIN_COLUMNS, meta)
        _write_csv(out / "runs.csv", sorted(runs, key=lambda r: (order[r["variant"]], r["seed"])), RUN_COLUMNS, meta)
        _write_csv(out / "summary.csv", result["summary"], SUMMARY_COLUMNS, meta)
        _write_json(out / "summary.json", result)
    D.cleanup(dinfo)
    return result


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of one training step of every variant at the preset's full batch on one device (bf16 autocast, as on
    CUDA; AdamW), traced on fake tensors (:func:`efftx_mini.footprint.trace_step`). Under torchrun each rank holds
    batch / WORLD_SIZE sequences: less activation memory."""
    with dryrun.full_sizes():
        cfg = config_for(preset)
    return {f"{v} (batch {cfg.batch}×{cfg.T})": lm_footprint(lambda v=v: build_model(v, cfg), cfg.batch, cfg.T,
                                                             VOCAB_SIZE) for v in VARIANTS}


def committed_results(preset: str = "cpu") -> Path:
    """The results folder shipped with the book: ``chapters/results/blocks_<preset>`` next to the package."""
    return results.root() / f"blocks_{preset}"


def load_results(folder: str | Path) -> dict[str, Any]:
    """Read a finished results folder: summary (JSON), curves and gains (rows), attention maps per variant."""
    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    curves, meta = read_csv(folder / "curves.csv")
    gains, _ = read_csv(folder / "gains.csv")
    maps = {p.stem.removeprefix("attention_"): json.loads(p.read_text())
            for p in sorted(folder.glob("attention_*.json"))}
    return {"summary": summary, "curves": curves, "gains": gains, "maps": maps, "meta": meta, "folder": str(folder)}


def band(curves: list[dict[str, Any]], variant: str, y: str = "valid_bpb", x: str = "step"
         ) -> dict[str, list[float]]:
    """Across seeds, at each x where every seed of ``variant`` has a ``y``: x, mean, min and max of y."""
    pts: dict[float, list[float]] = {}
    seeds = {r["seed"] for r in curves if r["variant"] == variant}
    for r in curves:
        if r["variant"] == variant and r[y] is not None:
            pts.setdefault(r[x], []).append(r[y])
    xs = [k for k in sorted(pts) if len(pts[k]) == len(seeds)]
    return {"x": xs, "mean": [sum(pts[k]) / len(pts[k]) for k in xs], "lo": [min(pts[k]) for k in xs],
            "hi": [max(pts[k]) for k in xs]}


def load_or_run(preset: str = "cpu", scratch: str | Path | None = None) -> dict[str, Any]:
    """The committed results of ``preset`` when the folder is complete; otherwise run the ``smoke`` preset into
    ``scratch`` (a temporary folder by default) and read that, so a chapter never fails on a fresh clone."""
    folder = committed_results(preset)
    if (folder / "summary.json").exists():
        return load_results(folder)
    import tempfile
    scratch = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="efftx_blocks_"))
    run("smoke", scratch, progress=False)
    return load_results(scratch)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.blocks", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None,
                   help="sizes (default: $EFFTX_PRESET or cpu)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/blocks_<preset>)")
    p.add_argument("--variants", default=None, help=f"comma-separated subset of {','.join(VARIANTS)}")
    p.add_argument("--seeds", default=None, help="comma-separated training seeds (default: the preset's, 0,1,2)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep ckpt_<variant>.pt after finishing")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from ..presets import current_preset
    preset = args.preset or current_preset()
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else None
    res = run(preset, args.out, args.variants.split(",") if args.variants else None, seeds=seeds, argv=argv,
              keep_checkpoints=args.keep_checkpoints, progress=not args.no_progress)
    if D.info().is_main and "summary" in res:
        from ..timing import print_table
        print_table(res["summary"], ["variant", "seeds", "params", "valid_bpb_mean", "valid_bpb_min", "valid_bpb_max",
                                     "dvalid_mean", "dvalid_min", "dvalid_max", "tokens_per_s_mean"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
