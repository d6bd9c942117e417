"""Train Pre-LN, Parallel, Value-SkipInit, SAS and SAS-P decoder-only LMs on the stdlib code corpus with
identical budgets — a small-scale version of He & Hofmann 2024, §4 (CodeParrot, Figs. 3–6, Table 1).

    python -m efftx_mini.experiments.blocks --preset {smoke,cpu,gpu} [--out DIR] [--variants a,b]
    torchrun --nproc_per_node=gpu -m efftx_mini.experiments.blocks --preset gpu

Same seed, same initial-weight seed, same data order (batch i depends only on (seed, i)), same steps and
optimiser for every variant. Writes to DIR (default ``chapters/results/blocks_<preset>``):
``curves.csv`` (loss in bits per byte against step, tokens and training seconds), ``gains.csv``
(per-head α, β, γ of the shaped/Value-SkipInit attention during training), ``summary.csv``/``summary.json``
(parameters, final train/valid bits per byte, tokens/s, wall time), ``attention_<variant>.json``
(softmax maps at initialisation and after training) and ``variant_<variant>.json`` (everything of one
variant). Resumable: per-variant checkpoints ``ckpt_<variant>.pt`` are written atomically; a rerun skips
finished variants and resumes unfinished ones. Under torchrun only rank 0 writes.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import device as _device
from .. import distributed as D
from .. import pick, seed_everything
from ..corpus import VOCAB_SIZE, CodeCorpus
from ..lm import DecoderOnlyLM
from ..provenance import git_commit, hardware
from ..timing import synchronize

__all__ = ["VARIANTS", "Config", "config_for", "run", "main", "read_csv", "build_model", "load_results",
           "load_or_run", "committed_results"]

#: variant name → (block name, block kwargs)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "pre-ln": ("pre-ln", {}),
    "parallel": ("parallel", {}),
    "value-skipinit": ("value-skipinit", {}),
    "sas": ("sas", {}),
    "sas-p": ("sas-p", {}),
}


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


def config_for(preset: str) -> Config:
    """Sizes per preset; ``cpu`` keeps all five variants together within ~10 minutes on 2 CPU cores."""
    kw = dict(
        d_model=pick(smoke=32, cpu=128, gpu=768, preset=preset),
        n_heads=pick(smoke=2, cpu=4, gpu=12, preset=preset),
        n_layers=pick(smoke=2, cpu=4, gpu=12, preset=preset),
        d_ff=pick(smoke=128, cpu=512, gpu=3072, preset=preset),
        T=pick(smoke=32, cpu=128, gpu=512, preset=preset),
        batch=pick(smoke=4, cpu=8, gpu=64, preset=preset),
        steps=pick(smoke=6, cpu=600, gpu=10_000, preset=preset),
        lr=pick(smoke=2e-3, cpu=2e-3, gpu=6e-4, preset=preset),
        warmup=pick(smoke=2, cpu=30, gpu=500, preset=preset),
        log_every=pick(smoke=1, cpu=10, gpu=50, preset=preset),
        eval_every=pick(smoke=3, cpu=100, gpu=500, preset=preset),
        eval_batches=pick(smoke=1, cpu=4, gpu=32, preset=preset),
        ckpt_every=pick(smoke=3, cpu=200, gpu=1000, preset=preset),
        map_T=pick(smoke=16, cpu=32, gpu=32, preset=preset),
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
def _gain_rows(variant: str, step: int, model: nn.Module) -> list[dict[str, Any]]:
    rows = []
    for layer, blk in enumerate(model.blocks):
        src = getattr(blk, "shaped", blk)
        if not hasattr(src, "alpha"):
            continue
        gamma = getattr(src, "gamma", None)
        for h in range(blk.n_heads):
            rows.append({"variant": variant, "step": step, "layer": layer, "head": h,
                         "alpha": round(float(src.alpha[h]), 6), "beta": round(float(src.beta[h]), 6),
                         "gamma": None if gamma is None else round(float(gamma[h]), 6),
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
    """Validation loss in bits per byte on fixed windows (seed cfg.seed + 1), averaged over ranks."""
    was = model.training
    model.eval()
    total = torch.zeros((), device=dev)
    for i in range(cfg.eval_batches):
        x, y = corpus.batch("valid", cfg.batch, cfg.T, cfg.seed + 1, i)
        x, y = D.shard(x, dinfo).to(dev), D.shard(y, dinfo).to(dev)
        with _autocast(dev):
            logits = model(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
    model.train(was)
    return float(D.all_reduce_mean(total / cfg.eval_batches, dinfo)) / math.log(2)


def _autocast(dev: torch.device):
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def train_variant(variant: str, cfg: Config, corpus: CodeCorpus, out: Path, dinfo: D.DistInfo,
                  dev: torch.device, meta: dict[str, Any], *, keep_checkpoint: bool = False,
                  stop_after: int | None = None, progress: bool = True) -> dict[str, Any] | None:
    """Train one variant (resuming from its checkpoint) and return its result record (None if stopped early)."""
    done_path, ckpt_path = out / f"variant_{variant}.json", out / f"ckpt_{variant}.pt"
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
        gains += _gain_rows(variant, 0, model)
    net: nn.Module = model
    if dinfo.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    tokens_per_step = cfg.batch * cfg.T
    run_loss, run_n = torch.zeros((), device=dev), 0
    bar = None
    if progress and dinfo.is_main:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.steps, initial=start, desc=variant, leave=False)
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
            row = {"variant": variant, "step": n, "tokens": n * tokens_per_step, "seconds": round(elapsed, 4),
                   "train_bpb": round(train_bpb, 5), "valid_bpb": None}
            if n % cfg.eval_every == 0 or n == cfg.steps:
                row["valid_bpb"] = round(evaluate(model, corpus, cfg, dinfo, dev), 5)
            curves.append(row)
            gains += _gain_rows(variant, n, model)
        if n % cfg.ckpt_every == 0 and n < cfg.steps:
            if dinfo.is_main:
                _atomic_save(ckpt_path, {"config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(),
                                         "sched": sched.state_dict(), "step": n, "elapsed": elapsed,
                                         "curves": curves, "gains": gains, "maps_init": maps_init})
            D.barrier(dinfo)
            if stop_after is not None and n >= stop_after:
                if bar is not None:
                    bar.close()
                return None
    if bar is not None:
        bar.close()
    last = curves[-1]
    summary = {"variant": variant, "block": VARIANTS[variant][0],
               "params": sum(p.numel() for p in model.parameters()),
               "block_matrix_params": model.block_matrix_params(),
               "steps": cfg.steps, "tokens": cfg.steps * tokens_per_step,
               "final_train_bpb": last["train_bpb"], "final_valid_bpb": last["valid_bpb"],
               "tokens_per_s": round(cfg.steps * tokens_per_step / elapsed, 1), "wall_s": round(elapsed, 2)}
    rec = {"summary": summary, "curves": curves, "gains": gains, "config": asdict(cfg), **meta}
    if dinfo.is_main:
        maps = {"init": maps_init, "final": attention_snapshot(model, sample)}
        if maps_init:
            _write_json(out / f"attention_{variant}.json", {"variant": variant, "T": cfg.map_T, **maps, **meta})
        _write_json(done_path, rec)
        if ckpt_path.exists() and not keep_checkpoint:
            ckpt_path.unlink()
    D.barrier(dinfo)
    return rec


def _atomic_save(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


CURVE_COLUMNS = ["variant", "step", "tokens", "seconds", "train_bpb", "valid_bpb"]
GAIN_COLUMNS = ["variant", "step", "layer", "head", "alpha", "beta", "gamma", "beta_ff"]
SUMMARY_COLUMNS = ["variant", "block", "params", "block_matrix_params", "steps", "tokens", "final_train_bpb",
                   "final_valid_bpb", "tokens_per_s", "wall_s"]


def run(preset: str, out: str | Path | None = None, variants: list[str] | None = None, *,
        argv: list[str] | None = None, keep_checkpoints: bool = False, stop_after: int | None = None,
        progress: bool = True, corpus: CodeCorpus | None = None) -> dict[str, Any]:
    """Run (or resume) the experiment and write the results files; returns the summary record."""
    cfg = config_for(preset)
    variants = list(VARIANTS) if variants is None else variants
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; expected some of {list(VARIANTS)}")
    dinfo = D.init()
    if cfg.batch % dinfo.world_size:
        raise ValueError(f"batch {cfg.batch} must be divisible by WORLD_SIZE={dinfo.world_size}")
    dev = _device()
    out = Path(out if out is not None else f"chapters/results/blocks_{preset}")
    if dinfo.is_main:
        out.mkdir(parents=True, exist_ok=True)
    D.barrier(dinfo)
    argv = argv if argv is not None else ["--preset", preset, "--out", str(out)]
    meta = provenance(preset, argv, dinfo.world_size)
    corpus = corpus or CodeCorpus()
    t0 = time.perf_counter()
    records = []
    for v in variants:
        rec = train_variant(v, cfg, corpus, out, dinfo, dev, meta, keep_checkpoint=keep_checkpoints,
                            stop_after=stop_after, progress=progress)
        if rec is None:
            return {"stopped": True}
        records.append(rec)
    result = {"config": asdict(cfg), "corpus": corpus.stats(), **meta,
              "summary": [r["summary"] for r in records],
              "experiment_wall_s": round(sum(r["summary"]["wall_s"] for r in records), 2),
              "this_invocation_s": round(time.perf_counter() - t0, 2)}
    if dinfo.is_main:
        _write_csv(out / "curves.csv", [row for r in records for row in r["curves"]], CURVE_COLUMNS, meta)
        _write_csv(out / "gains.csv", [row for r in records for row in r["gains"]], GAIN_COLUMNS, meta)
        _write_csv(out / "summary.csv", result["summary"], SUMMARY_COLUMNS, meta)
        _write_json(out / "summary.json", result)
    D.cleanup(dinfo)
    return result


def committed_results(preset: str = "cpu") -> Path:
    """The results folder shipped with the book: ``chapters/results/blocks_<preset>`` next to the package."""
    return Path(__file__).resolve().parents[2] / "chapters" / "results" / f"blocks_{preset}"


def load_results(folder: str | Path) -> dict[str, Any]:
    """Read a finished results folder: summary (JSON), curves and gains (rows), attention maps per variant."""
    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    curves, meta = read_csv(folder / "curves.csv")
    gains, _ = read_csv(folder / "gains.csv")
    maps = {p.stem.removeprefix("attention_"): json.loads(p.read_text())
            for p in sorted(folder.glob("attention_*.json"))}
    return {"summary": summary, "curves": curves, "gains": gains, "maps": maps, "meta": meta, "folder": str(folder)}


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
    p.add_argument("--keep-checkpoints", action="store_true", help="keep ckpt_<variant>.pt after finishing")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from ..presets import current_preset
    preset = args.preset or current_preset()
    res = run(preset, args.out, args.variants.split(",") if args.variants else None, argv=argv,
              keep_checkpoints=args.keep_checkpoints, progress=not args.no_progress)
    if D.info().is_main and "summary" in res:
        from ..timing import print_table
        print_table(res["summary"], SUMMARY_COLUMNS[:1] + SUMMARY_COLUMNS[2:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
