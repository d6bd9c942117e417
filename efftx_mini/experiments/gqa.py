"""MHA vs grouped-query vs multi-query attention at equal training budget, and uptraining a mean-pooled MHA
checkpoint (Ainslie et al. 2023, §2.1 and Table 1, at small scale; Shazeer 2019 for MQA).

    python -m efftx_mini.experiments.gqa --preset {smoke,cpu,gpu} [--out DIR]

Byte-level decoder-only Pre-LN LMs on the Python standard library's source (:mod:`efftx_mini.corpus`). For
every seed, MHA, GQA and MQA share the data order (batch i depends only on (seed, i)) and the optimiser, so
their differences are paired. Then each seed's MHA checkpoint is mean-pooled to GQA and MQA
(:func:`efftx_mini.gqa.mean_pool_kv_heads`), evaluated as is, and uptrained for a fraction of the budget on
the batches that follow; the MHA checkpoint trained for the same extra steps is the control.

Writes to DIR (default ``chapters/results/gqa_<preset>``): ``run_<name>_s<seed>.json`` per run (a rerun
skips finished runs), ``runs.csv`` and ``summary.json`` (command, commit, hardware, config, per-run rows and
the mean and range over seeds).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import device as _device
from .. import pick, seed_everything
from ..corpus import VOCAB_SIZE, CodeCorpus
from ..generate import KVCache
from ..gqa import mean_pool_kv_heads
from ..lm import DecoderOnlyLM
from ..provenance import git_commit, hardware
from .blocks import _atomic_write, _write_csv, read_csv

__all__ = ["Config", "config_for", "build_model", "train_steps", "evaluate_bpb", "run", "main", "committed_results",
           "load_results", "load_or_run"]


@dataclass(frozen=True)
class Config:
    d_model: int
    n_heads: int
    n_layers: int
    d_ff: int
    T: int
    batch: int
    steps: int
    uptrain_steps: int
    lr: float
    warmup: int
    eval_batches: int
    seeds: tuple[int, ...]
    kv_heads: tuple[int, ...]  # MHA (= n_heads), GQA, MQA (= 1)
    weight_decay: float = 0.1


def config_for(preset: str) -> Config:
    """Sizes per preset; ``cpu`` fits all runs in about 5 minutes of one CPU core."""
    heads = pick(smoke=4, cpu=8, gpu=12, preset=preset)
    return Config(
        d_model=pick(smoke=32, cpu=128, gpu=768, preset=preset), n_heads=heads,
        n_layers=pick(smoke=1, cpu=2, gpu=12, preset=preset),
        d_ff=pick(smoke=64, cpu=512, gpu=3072, preset=preset),
        T=pick(smoke=32, cpu=128, gpu=512, preset=preset),
        batch=pick(smoke=4, cpu=8, gpu=64, preset=preset),
        steps=pick(smoke=4, cpu=500, gpu=10_000, preset=preset),
        uptrain_steps=pick(smoke=2, cpu=50, gpu=500, preset=preset),
        lr=pick(smoke=2e-3, cpu=3e-3, gpu=6e-4, preset=preset),
        warmup=pick(smoke=1, cpu=20, gpu=500, preset=preset),
        eval_batches=pick(smoke=1, cpu=8, gpu=32, preset=preset),
        seeds=pick(smoke=(0, 1, 2), cpu=(0, 1, 2), gpu=(0, 1, 2), preset=preset),
        kv_heads=(heads, pick(smoke=2, cpu=2, gpu=4, preset=preset), 1),
    )


def kind(n_kv: int, n_heads: int) -> str:
    return "MHA" if n_kv == n_heads else ("MQA" if n_kv == 1 else f"GQA-{n_kv}")


def build_model(cfg: Config, n_kv_heads: int) -> DecoderOnlyLM:
    return DecoderOnlyLM("pre-ln", VOCAB_SIZE, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, max_len=cfg.T,
                         n_kv_heads=n_kv_heads)


def _optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": other, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


def train_steps(model: DecoderOnlyLM, corpus: CodeCorpus, *, steps: int, batch: int, T: int, seed: int,
                lr: float, warmup: int, start: int = 0, weight_decay: float = 0.1) -> list[float]:
    """AdamW with linear warm-up and cosine decay to lr/10 over ``steps``, on batches start … start+steps−1 of
    seed ``seed``; returns the training loss (bits per byte) of every step."""
    dev = next(model.parameters()).device
    opt = _optimizer(model, lr, weight_decay)

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / warmup
        t = (i - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    model.train()
    losses = []
    for i in range(steps):
        x, y = corpus.batch("train", batch, T, seed, start + i)
        loss = model.loss(x.to(dev), y.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()) / math.log(2))
    model.eval()
    return losses


@torch.no_grad()
def evaluate_bpb(model: DecoderOnlyLM, corpus: CodeCorpus, *, batch: int, T: int, batches: int,
                 seed: int = 12345) -> float:
    """Validation cross-entropy in bits per byte on fixed windows (the same for every model)."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    total = 0.0
    for i in range(batches):
        x, y = corpus.batch("valid", batch, T, seed, i)
        logits = model(x.to(dev))
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.to(dev).reshape(-1)))
    model.train(was)
    return total / batches / math.log(2)


def committed_results(preset: str = "cpu") -> Path:
    """The results folder shipped with the book: ``chapters/results/gqa_<preset>``."""
    return Path(__file__).resolve().parents[2] / "chapters" / "results" / f"gqa_{preset}"


def _meta(preset: str, argv: list[str]) -> dict[str, Any]:
    return {"command": shlex.join(["python", "-m", "efftx_mini.experiments.gqa", *argv]), "commit": git_commit(),
            "hardware": hardware(), "preset": preset, "world_size": 1, "torch": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _row(name: str, seed: int, model: DecoderOnlyLM, cfg: Config, corpus: CodeCorpus, steps: int, pretrain: int,
         uptrain: int, wall: float, train_bpb: float | None) -> dict[str, Any]:
    return {"name": name, "seed": seed, "n_kv_heads": model.blocks[0].n_kv_heads,
            "params": sum(p.numel() for p in model.parameters()),
            "cache_bytes_per_token_per_layer": KVCache(model, 1, 1).bytes_per_token_per_layer,
            "steps": steps, "pretrain_steps": pretrain, "uptrain_steps": uptrain,
            "train_bpb": None if train_bpb is None else round(train_bpb, 5),
            "valid_bpb": round(evaluate_bpb(model, corpus, batch=cfg.batch, T=cfg.T, batches=cfg.eval_batches), 5),
            "wall_s": round(wall, 2)}


RUN_COLUMNS = ["name", "seed", "n_kv_heads", "params", "cache_bytes_per_token_per_layer", "steps", "pretrain_steps",
               "uptrain_steps", "train_bpb", "valid_bpb", "wall_s"]


def _seed_runs(cfg: Config, seed: int, corpus: CodeCorpus, out: Path, dev: torch.device) -> list[dict[str, Any]]:
    """Scratch runs for every kv-head count, then pooled (0 and uptrain steps) and the continued-MHA control."""
    done = out / f"runs_s{seed}.json"
    if done.exists():
        rec = json.loads(done.read_text())
        if rec["config"] != json.loads(json.dumps(asdict(cfg))):
            raise ValueError(f"{done} was written with another config; use another --out or delete it")
        return rec["rows"]
    rows, mha_state = [], None
    H = cfg.n_heads
    for n_kv in cfg.kv_heads:
        seed_everything(seed)
        model = build_model(cfg, n_kv).to(dev)
        t0 = time.perf_counter()
        losses = train_steps(model, corpus, steps=cfg.steps, batch=cfg.batch, T=cfg.T, seed=seed, lr=cfg.lr,
                             warmup=cfg.warmup, weight_decay=cfg.weight_decay)
        rows.append(_row(f"{kind(n_kv, H)} scratch", seed, model, cfg, corpus, cfg.steps, cfg.steps, 0,
                         time.perf_counter() - t0, sum(losses[-10:]) / len(losses[-10:])))
        if n_kv == H:
            mha_state = {k: v.clone() for k, v in model.state_dict().items()}
    up = dict(steps=cfg.uptrain_steps, batch=cfg.batch, T=cfg.T, seed=seed, lr=cfg.lr / 2,
              warmup=max(1, cfg.uptrain_steps // 10), start=cfg.steps, weight_decay=cfg.weight_decay)
    for n_kv in cfg.kv_heads:
        seed_everything(seed + 1000)
        mha = build_model(cfg, H).to(dev)
        mha.load_state_dict(mha_state)
        model = mha if n_kv == H else mean_pool_kv_heads(mha, n_kv)
        label = "MHA continued" if n_kv == H else f"{kind(n_kv, H)} pooled"
        if n_kv != H:
            rows.append(_row(label, seed, model, cfg, corpus, cfg.steps, cfg.steps, 0, 0.0, None))
        t0 = time.perf_counter()
        losses = train_steps(model, corpus, **up)
        rows.append(_row(label, seed, model, cfg, corpus, cfg.steps + cfg.uptrain_steps, cfg.steps,
                         cfg.uptrain_steps, time.perf_counter() - t0, sum(losses[-10:]) / len(losses[-10:])))
    _atomic_write(done, (json.dumps({"config": asdict(cfg), "rows": rows}, indent=1) + "\n").encode())
    return rows


def _aggregate(rows: list[dict[str, Any]], H: int) -> list[dict[str, Any]]:
    """Mean and range over seeds of valid bits/byte per (name, steps), and of the paired difference to
    MHA at the same number of steps (MHA scratch at the budget, MHA continued after uptraining)."""
    ref = {(r["seed"], r["steps"]): r["valid_bpb"] for r in rows if r["name"] in ("MHA scratch", "MHA continued")}
    out = []
    for key in dict.fromkeys((r["name"], r["steps"]) for r in rows):
        group = [r for r in rows if (r["name"], r["steps"]) == key]
        vals = [r["valid_bpb"] for r in group]
        diffs = [r["valid_bpb"] - ref[(r["seed"], r["steps"])] for r in group]
        out.append({"name": key[0], "steps": key[1], "n_kv_heads": group[0]["n_kv_heads"],
                    "cache_vs_mha": group[0]["n_kv_heads"] / H, "params": group[0]["params"], "seeds": len(group),
                    "valid_bpb_mean": round(sum(vals) / len(vals), 4), "valid_bpb_min": min(vals),
                    "valid_bpb_max": max(vals), "diff_vs_mha_mean": round(sum(diffs) / len(diffs), 4),
                    "diff_vs_mha_min": round(min(diffs), 4), "diff_vs_mha_max": round(max(diffs), 4)})
    return out


SUMMARY_COLUMNS = ["name", "steps", "n_kv_heads", "cache_vs_mha", "params", "seeds", "valid_bpb_mean",
                   "valid_bpb_min", "valid_bpb_max", "diff_vs_mha_mean", "diff_vs_mha_min", "diff_vs_mha_max"]


def run(preset: str, out: str | Path | None = None, *, argv: list[str] | None = None,
        corpus: CodeCorpus | None = None) -> dict[str, Any]:
    """Run (or resume) every seed and write the results files; returns the summary record."""
    cfg = config_for(preset)
    dev = _device()
    out = Path(out if out is not None else committed_results(preset))
    out.mkdir(parents=True, exist_ok=True)
    meta = _meta(preset, argv if argv is not None else ["--preset", preset, "--out", str(out)])
    corpus = corpus or CodeCorpus()
    t0 = time.perf_counter()
    rows = [r for s in cfg.seeds for r in _seed_runs(cfg, s, corpus, out, dev)]
    result = {**meta, "config": asdict(cfg), "corpus": corpus.stats(), "runs": rows,
              "summary": _aggregate(rows, cfg.n_heads),
              "experiment_wall_s": round(sum(r["wall_s"] for r in rows), 2),
              "this_invocation_s": round(time.perf_counter() - t0, 2)}
    _write_csv(out / "runs.csv", rows, RUN_COLUMNS, meta)
    _write_csv(out / "summary.csv", result["summary"], SUMMARY_COLUMNS, meta)
    _atomic_write(out / "summary.json", (json.dumps(result, indent=1) + "\n").encode())
    return result


def load_results(folder: str | Path) -> dict[str, Any]:
    """The summary record of a finished results folder (``summary.json``) with its runs as CSV rows too."""
    folder = Path(folder)
    res = json.loads((folder / "summary.json").read_text())
    res["folder"] = str(folder)
    res["runs_csv"], _ = read_csv(folder / "runs.csv")
    return res


def load_or_run(preset: str = "cpu", scratch: str | Path | None = None) -> dict[str, Any]:
    """The committed results of ``preset`` if present; otherwise the ``smoke`` preset run into ``scratch``."""
    folder = committed_results(preset)
    if (folder / "summary.json").exists():
        return load_results(folder)
    import tempfile
    scratch = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="efftx_gqa_"))
    run("smoke", scratch)
    return load_results(scratch)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.gqa", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None,
                   help="sizes (default: $EFFTX_PRESET or cpu)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/gqa_<preset>)")
    args = p.parse_args(argv)
    from ..presets import current_preset
    preset = args.preset or current_preset()
    res = run(preset, args.out, argv=argv)
    from ..timing import print_table
    print_table(res["summary"], SUMMARY_COLUMNS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
