"""MHA vs grouped-query vs multi-query attention (and the LLaMA block) at equal training budget, and uptraining a
mean-pooled MHA checkpoint as Ainslie et al. 2023 do (§2.1, §3.1 and Fig. 5; Shazeer 2019 for MQA).

    python -m efftx_mini.experiments.gqa --preset {smoke,cpu,gpu} [--out DIR]

Byte-level decoder-only LMs on the Python standard library's source (:mod:`efftx_mini.corpus`).

- **One schedule, defined over the longest run.** Every run uses AdamW with linear warm-up and cosine decay over
  ``total = N·(1 + max α)`` global steps; the learning rate of step i is a function of i alone. So training N
  steps, saving (weights, AdamW state) and going on is the same run as not stopping, and "continuing" a
  checkpoint is well defined.
- **From scratch.** Pre-LN MHA, GQA-G and MQA, and the LLaMA block with GQA-G, for every seed on the same batches
  (batch i depends only on (seed, i)); evaluated at N and at every N·(1 + α). Paired differences at N.
- **Uptraining (Ainslie et al. §2.1).** At step N the MHA run is the "checkpoint". Its key/value heads are
  mean-pooled to G groups (:func:`efftx_mini.gqa.mean_pool_kv_heads`), and so are the AdamW moments of W^K and
  W^V; every other weight, moment and the step count are carried over. The pooled model then continues the
  same schedule on the batches N, N+1, … for a proportion α of N, α ∈ ``alphas``. The control is the MHA run
  itself continued over the same steps: same optimiser state, same schedule, same batches.

Writes to DIR (default ``chapters/results/gqa_<preset>``): ``run_<name>_s<seed>.json`` per run (a rerun skips
finished runs; an interrupted run restarts and, being deterministic, gives the same numbers), ``runs.csv``,
``summary.csv``, ``paired.csv`` and ``summary.json`` (command, commit, hardware, config, per-run rows, mean and
range over seeds, paired differences with min–max).

    torchrun --nproc_per_node=gpu -m efftx_mini.experiments.gqa --preset gpu   (seeds are shared out over the ranks)

Under torchrun each rank trains every run of its seeds (seed i on rank i mod W) and rank 0 merges the files. With
``EFFTX_DRY_RUN=1`` and ``--preset gpu`` the ``gpu`` models train for a few steps of batch 1 with two seeds into a
scratch folder (:mod:`efftx_mini.dryrun`); :func:`footprints` gives each variant's memory at the full batch.
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
from .. import distributed as D
from .. import dryrun, pick, results, seed_everything
from ..blocks import llama_d_ff
from ..corpus import VOCAB_SIZE, CodeCorpus
from ..footprint import Footprint, trace_step
from ..generate import KVCache
from ..gqa import mean_pool_kv_heads, pool_qkv_rows, qkv_layer
from ..lm import DecoderOnlyLM
from ..provenance import git_commit, hardware
from .blocks import _atomic_write, _autocast, _write_csv, read_csv

__all__ = ["Config", "config_for", "build_model", "make_optimizer", "lr_factor", "train_steps", "evaluate_bpb",
           "pool_optimizer", "run", "main", "committed_results", "load_results", "load_or_run", "kind", "VARIANTS",
           "footprints"]


@dataclass(frozen=True)
class Config:
    d_model: int
    n_heads: int
    n_layers: int
    d_ff: int
    T: int
    batch: int
    steps: int  # N: the "pre-training" steps of the MHA checkpoint
    alphas: tuple[float, ...]  # uptraining proportions α (of N)
    lr: float
    warmup: int
    eval_batches: int
    seeds: tuple[int, ...]
    kv_heads: tuple[int, ...]  # MHA (= n_heads), GQA-G, MQA (= 1)
    llama_d_ff: int  # SwiGLU width with the parameters of the 4d MLP (2/3 · d_ff, rounded up)
    weight_decay: float = 0.1

    @property
    def total(self) -> int:
        """Steps of the longest run, over which the one learning-rate schedule is defined."""
        return self.steps + self.uptrain(max(self.alphas))

    def uptrain(self, alpha: float) -> int:
        return round(alpha * self.steps)

    @property
    def eval_steps(self) -> list[int]:
        """N and N·(1 + α) for every α: where every run is evaluated."""
        return sorted({self.steps + self.uptrain(a) for a in self.alphas})


def config_for(preset: str) -> Config:
    """Sizes per preset; ``cpu`` fits all runs in about 15 minutes of one CPU core (3 seeds × 3,200 steps)."""
    heads = pick(smoke=4, cpu=8, gpu=12, preset=preset)
    d = pick(smoke=32, cpu=128, gpu=768, preset=preset)
    return Config(
        d_model=d, n_heads=heads, n_layers=pick(smoke=1, cpu=2, gpu=12, preset=preset), d_ff=4 * d,
        T=pick(smoke=32, cpu=128, gpu=512, preset=preset),
        batch=pick(smoke=4, cpu=8, gpu=64, dry=1, preset=preset),
        steps=pick(smoke=4, cpu=500, gpu=10_000, dry=2, preset=preset),
        alphas=pick(smoke=(0.0, 0.25, 0.5), cpu=(0.0, 0.05, 0.1, 0.2), gpu=(0.0, 0.05, 0.1, 0.2), dry=(0.0, 0.5),
                    preset=preset),
        lr=pick(smoke=2e-3, cpu=3e-3, gpu=6e-4, preset=preset),
        warmup=pick(smoke=1, cpu=20, gpu=500, dry=1, preset=preset),
        eval_batches=pick(smoke=1, cpu=8, gpu=32, dry=1, preset=preset),
        seeds=pick(smoke=(0, 1, 2), cpu=(0, 1, 2), gpu=(0, 1, 2), dry=(0, 1), preset=preset),
        kv_heads=(heads, pick(smoke=2, cpu=2, gpu=4, preset=preset), 1),
        llama_d_ff=llama_d_ff(d),
    )


def kind(n_kv: int, n_heads: int) -> str:
    return "MHA" if n_kv == n_heads else ("MQA" if n_kv == 1 else f"GQA-{n_kv}")


#: Variants trained from scratch. LLaMA uses the GQA head count, as Llama 2 70B does; "GQA+RoPE" is the Pre-LN
#: GQA model with rotary instead of learned positions, between GQA and LLaMA (it separates the positions from
#: RMSNorm + SwiGLU + no biases).
VARIANTS = ("MHA", "GQA", "MQA", "GQA+RoPE", "LLaMA")


def _variant(cfg: Config, name: str) -> tuple[str, int, str]:
    """(block name, n_kv_heads, positions) of a scratch variant."""
    return {"MHA": ("pre-ln", cfg.kv_heads[0], "learned"), "GQA": ("pre-ln", cfg.kv_heads[1], "learned"),
            "MQA": ("pre-ln", cfg.kv_heads[2], "learned"), "GQA+RoPE": ("pre-ln", cfg.kv_heads[1], "rotary"),
            "LLaMA": ("llama", cfg.kv_heads[1], "rotary")}[name]


def label(cfg: Config, name: str) -> str:
    block, n_kv, positions = _variant(cfg, name)
    if block == "llama":
        return f"LLaMA ({kind(n_kv, cfg.n_heads)})"
    return kind(n_kv, cfg.n_heads) + (" + RoPE" if positions == "rotary" else "")


def build_model(cfg: Config, n_kv_heads: int, block: str = "pre-ln", positions: str | None = None) -> DecoderOnlyLM:
    d_ff = cfg.llama_d_ff if block == "llama" else cfg.d_ff
    return DecoderOnlyLM(block, VOCAB_SIZE, cfg.d_model, cfg.n_heads, cfg.n_layers, d_ff, max_len=cfg.T,
                         n_kv_heads=n_kv_heads, positions=positions)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.1) -> torch.optim.AdamW:
    """AdamW (β = 0.9, 0.95); weight decay on matrices only. Parameter order: the model's, matrices first."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": other, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


def lr_factor(i: int, warmup: int, total: int) -> float:
    """Multiplier of the peak rate at global step i: linear warm-up, then cosine decay to 1/10 at ``total``."""
    if i < warmup:
        return (i + 1) / warmup
    t = (i - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train_steps(model: DecoderOnlyLM, corpus: CodeCorpus, *, steps: int, batch: int, T: int, seed: int,
                lr: float, warmup: int, start: int = 0, weight_decay: float = 0.1, total: int | None = None,
                optimizer: torch.optim.Optimizer | None = None, eval_at: dict[int, Any] | None = None,
                loss_log: list[float] | None = None) -> list[float]:
    """Global steps start … start+steps−1 on batches of the same indices of seed ``seed``: AdamW (``optimizer``, or
    a fresh one) at the rate ``lr · lr_factor(i, warmup, total)`` (total defaults to start + steps). After global
    step s (i.e. once s steps are done), ``eval_at[s](model)`` is called for every s in ``eval_at``. Returns the
    training loss (bits per byte) of every step, also appended to ``loss_log`` as training goes."""
    dev = next(model.parameters()).device
    total = start + steps if total is None else total
    opt = optimizer if optimizer is not None else make_optimizer(model, lr, weight_decay)
    model.train()
    losses = [] if loss_log is None else loss_log
    first = len(losses)
    for i in range(start, start + steps):
        for g in opt.param_groups:
            g["lr"] = lr * lr_factor(i, warmup, total)
        x, y = corpus.batch("train", batch, T, seed, i)
        with _autocast(dev):  # bf16 on CUDA, fp32 on the CPU
            loss = model.loss(x.to(dev), y.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()) / math.log(2))
        if eval_at and i + 1 in eval_at:
            model.eval()
            eval_at[i + 1](model)
            model.train()
    model.eval()
    return losses[first:]


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


def pool_optimizer(opt: torch.optim.Optimizer, mha: DecoderOnlyLM, pooled: DecoderOnlyLM, lr: float,
                   weight_decay: float = 0.1) -> torch.optim.AdamW:
    """An AdamW for ``pooled`` carrying ``opt``'s state (of ``mha``): the moments of each qkv layer's K and V rows
    are mean-pooled like the weights (:func:`efftx_mini.gqa.pool_qkv_rows`); all other moments and the step
    counts are copied."""
    new = make_optimizer(pooled, lr, weight_decay)
    blk = pooled.blocks[0]
    d, kv_old, n_kv, d_head = blk.d_model, mha.blocks[0].kv_dim, blk.n_kv_heads, blk.d_head
    qkv_params = {id(p) for b in mha.blocks for p in qkv_layer(b).parameters()}
    old_params = [p for g in opt.param_groups for p in g["params"]]
    new_params = [p for g in new.param_groups for p in g["params"]]
    for p_old, p_new in zip(old_params, new_params, strict=True):
        st = opt.state.get(p_old)
        if not st:
            continue
        copied = {}
        for k, v in st.items():
            if torch.is_tensor(v) and v.dim() >= 1 and id(p_old) in qkv_params:
                v = pool_qkv_rows(v, d, kv_old, n_kv, d_head)
            copied[k] = v.clone() if torch.is_tensor(v) else v
            if torch.is_tensor(v) and v.dim() >= 1 and v.shape != p_new.shape:
                raise ValueError(f"moment {k!r} of shape {tuple(v.shape)} does not fit {tuple(p_new.shape)}")
        new.state[p_new] = copied
    return new


def committed_results(preset: str = "cpu") -> Path:
    """The results folder shipped with the book: ``chapters/results/gqa_<preset>``."""
    return results.root() / f"gqa_{preset}"


def _meta(preset: str, argv: list[str], world_size: int = 1) -> dict[str, Any]:
    launcher = ["torchrun", f"--nproc_per_node={world_size}"] if world_size > 1 else ["python"]
    return {"command": shlex.join([*launcher, "-m", "efftx_mini.experiments.gqa", *argv]), "commit": git_commit(),
            "hardware": hardware(), "preset": preset, "world_size": world_size, "torch": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


RUN_COLUMNS = ["name", "seed", "block", "positions", "n_kv_heads", "params", "cache_bytes_per_token_per_layer",
               "steps", "alpha", "uptrain_steps", "train_bpb", "valid_bpb", "wall_s"]


def _evaluator(rows: list[dict[str, Any]], name: str, seed: int, cfg: Config, corpus: CodeCorpus, block: str,
               uptrained: bool, t0: list[float], losses: list[float]):
    def at(step: int):
        def record(model: DecoderOnlyLM) -> None:
            up = step - cfg.steps if uptrained else 0
            recent = losses[-10:]
            rows.append({
                "name": name, "seed": seed, "block": block, "positions": model.positions,
                "n_kv_heads": model.blocks[0].n_kv_heads,
                "params": sum(p.numel() for p in model.parameters()),
                "cache_bytes_per_token_per_layer": KVCache(model, 1, 1).bytes_per_token_per_layer,
                "steps": step, "alpha": round(up / cfg.steps, 4) if uptrained else None, "uptrain_steps": up,
                "train_bpb": round(sum(recent) / len(recent), 5) if recent else None,
                "valid_bpb": round(evaluate_bpb(model, corpus, batch=cfg.batch, T=cfg.T, batches=cfg.eval_batches),
                                   5),
                "wall_s": round(time.perf_counter() - t0[0], 2)})
        return record
    return at


def _run_file(out: Path, name: str, seed: int) -> Path:
    slug = "".join(c if c.isalnum() or c == "-" else "_" for c in name).strip("_")
    while "__" in slug:
        slug = slug.replace("__", "_")
    return out / f"run_{slug}_s{seed}.json"


def _read_run(path: Path, cfg: Config) -> list[dict[str, Any]] | None:
    if not path.exists():
        return None
    rec = json.loads(path.read_text())
    if rec["config"] != json.loads(json.dumps(asdict(cfg))):
        raise ValueError(f"{path} was written with another config; use another --out or delete it")
    return rec["rows"]


def _write_run(path: Path, cfg: Config, rows: list[dict[str, Any]]) -> None:
    if dryrun.active():
        dryrun.check_finite(rows, f"gqa {path.name}")
    _atomic_write(path, (json.dumps({"config": asdict(cfg), "rows": rows}, indent=1) + "\n").encode())
    dryrun.saved()


def _run_names(cfg: Config) -> list[str]:
    """The name of every run of one seed (its file: :func:`_run_file`)."""
    return ([f"{label(cfg, n)} scratch" for n in VARIANTS]
            + [f"{kind(n, cfg.n_heads)} uptrained" for n in cfg.kv_heads if n != cfg.n_heads])


def _scratch(cfg: Config, name: str, seed: int, corpus: CodeCorpus, dev: torch.device,
             keep_checkpoint: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One from-scratch run to ``cfg.total`` with evaluations at every eval step; for MHA also the (model,
    optimiser) state at N, the checkpoint that uptraining starts from."""
    block, n_kv, positions = _variant(cfg, name)
    seed_everything(seed)
    model = build_model(cfg, n_kv, block, positions).to(dev)
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
    rows: list[dict[str, Any]] = []
    losses: list[float] = []
    t0 = [time.perf_counter()]
    at = _evaluator(rows, f"{label(cfg, name)} scratch", seed, cfg, corpus, block, False, t0, losses)
    ckpt: dict[str, Any] = {}
    common = dict(batch=cfg.batch, T=cfg.T, seed=seed, lr=cfg.lr, warmup=cfg.warmup, total=cfg.total,
                  optimizer=opt)
    first = {s: at(s) for s in cfg.eval_steps if s <= cfg.steps}
    train_steps(model, corpus, steps=cfg.steps, start=0, eval_at=first, loss_log=losses, **common)
    if keep_checkpoint:
        ckpt = {"model": {k: v.clone() for k, v in model.state_dict().items()},
                "optimizer": _clone_state(opt.state_dict())}
    rest = {s: at(s) for s in cfg.eval_steps if s > cfg.steps}
    if cfg.total > cfg.steps:
        train_steps(model, corpus, steps=cfg.total - cfg.steps, start=cfg.steps, eval_at=rest, loss_log=losses,
                    **common)
    return rows, (ckpt or None)


def _clone_state(state: Any) -> Any:
    if torch.is_tensor(state):
        return state.clone()
    if isinstance(state, dict):
        return {k: _clone_state(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_clone_state(v) for v in state]
    return state


def _uptrain(cfg: Config, n_kv: int, seed: int, corpus: CodeCorpus, dev: torch.device,
             ckpt: dict[str, Any]) -> list[dict[str, Any]]:
    """Pool the MHA checkpoint (weights and AdamW moments) to n_kv groups, evaluate it (α = 0), and continue the
    same schedule to ``cfg.total`` with evaluations at N·(1 + α)."""
    seed_everything(seed + 1000)
    mha = build_model(cfg, cfg.n_heads).to(dev)
    mha.load_state_dict(ckpt["model"])
    opt = make_optimizer(mha, cfg.lr, cfg.weight_decay)
    opt.load_state_dict(_clone_state(ckpt["optimizer"]))
    model = mean_pool_kv_heads(mha, n_kv)
    opt = pool_optimizer(opt, mha, model, cfg.lr, cfg.weight_decay)
    rows: list[dict[str, Any]] = []
    losses: list[float] = []
    t0 = [time.perf_counter()]
    at = _evaluator(rows, f"{kind(n_kv, cfg.n_heads)} uptrained", seed, cfg, corpus, "pre-ln", True, t0, losses)
    at(cfg.steps)(model)  # α = 0: pooled, not trained
    later = {s: at(s) for s in cfg.eval_steps if s > cfg.steps}
    if cfg.total > cfg.steps:
        train_steps(model, corpus, steps=cfg.total - cfg.steps, start=cfg.steps, batch=cfg.batch, T=cfg.T,
                    seed=seed, lr=cfg.lr, warmup=cfg.warmup, total=cfg.total, optimizer=opt, eval_at=later,
                    loss_log=losses)
    return rows


def _seed_runs(cfg: Config, seed: int, corpus: CodeCorpus, out: Path, dev: torch.device) -> list[dict[str, Any]]:
    """Every run of one seed; finished runs are read back from their files."""
    rows: list[dict[str, Any]] = []
    ckpt = None
    pooled = [n for n in cfg.kv_heads if n != cfg.n_heads]
    up_names = [f"{kind(n, cfg.n_heads)} uptrained" for n in pooled]
    need_ckpt = any(_read_run(_run_file(out, n, seed), cfg) is None for n in up_names)
    for name in VARIANTS:
        path = _run_file(out, f"{label(cfg, name)} scratch", seed)
        done = _read_run(path, cfg)
        if done is None or (name == "MHA" and need_ckpt):
            done, got = _scratch(cfg, name, seed, corpus, dev, keep_checkpoint=name == "MHA")
            ckpt = got if name == "MHA" else ckpt
            _write_run(path, cfg, done)
        rows += done
    for n_kv, name in zip(pooled, up_names, strict=True):
        path = _run_file(out, name, seed)
        done = _read_run(path, cfg)
        if done is None:
            done = _uptrain(cfg, n_kv, seed, corpus, dev, ckpt)
            _write_run(path, cfg, done)
        rows += done
    return rows


def _spread(vals: list[float]) -> dict[str, float]:
    return {"mean": round(sum(vals) / len(vals), 4), "min": round(min(vals), 4), "max": round(max(vals), 4)}


def _aggregate(rows: list[dict[str, Any]], cfg: Config) -> list[dict[str, Any]]:
    """Mean and range over seeds of valid bits/byte per (name, steps)."""
    out = []
    for key in dict.fromkeys((r["name"], r["steps"]) for r in rows):
        group = [r for r in rows if (r["name"], r["steps"]) == key]
        s = _spread([r["valid_bpb"] for r in group])
        out.append({"name": key[0], "steps": key[1], "alpha": group[0]["alpha"], "block": group[0]["block"],
                    "positions": group[0]["positions"],
                    "n_kv_heads": group[0]["n_kv_heads"], "cache_vs_mha": group[0]["n_kv_heads"] / cfg.n_heads,
                    "params": group[0]["params"], "seeds": len(group), "valid_bpb_mean": s["mean"],
                    "valid_bpb_min": s["min"], "valid_bpb_max": s["max"]})
    return out


def _paired_rows(rows: list[dict[str, Any]], cfg: Config) -> list[dict[str, Any]]:
    """Paired differences a − b of valid bits/byte (same seed, same batches), mean and min–max over seeds, and
    whether the range excludes 0 ("better" or "worse": a relative to b) or not ("indistinguishable")."""
    val = {(r["name"], r["steps"], r["seed"]): r["valid_bpb"] for r in rows}
    H, N = cfg.n_heads, cfg.steps
    mha = f"{kind(H, H)} scratch"
    pairs: list[tuple[str, str, int, int, str]] = []
    for name in VARIANTS[1:]:
        pairs.append((f"{label(cfg, name)} scratch", mha, N, N, "from scratch"))
    pairs.append((f"{label(cfg, 'GQA+RoPE')} scratch", f"{label(cfg, 'GQA')} scratch", N, N, "from scratch"))
    pairs.append((f"{label(cfg, 'LLaMA')} scratch", f"{label(cfg, 'GQA')} scratch", N, N, "from scratch"))
    pairs.append((f"{label(cfg, 'LLaMA')} scratch", f"{label(cfg, 'GQA+RoPE')} scratch", N, N, "from scratch"))
    for n_kv in cfg.kv_heads[1:]:
        up = f"{kind(n_kv, H)} uptrained"
        for s in cfg.eval_steps:
            pairs.append((up, mha, s, s, "uptrained vs MHA continued (control)"))
            pairs.append((up, f"{kind(n_kv, H)} scratch", s, s, "uptrained vs scratch, same steps"))
    out = []
    for a, b, sa, sb, what in pairs:
        diffs = [val[(a, sa, s)] - val[(b, sb, s)] for s in cfg.seeds if (a, sa, s) in val and (b, sb, s) in val]
        if not diffs:
            continue
        sp = _spread(diffs)
        verdict = ("indistinguishable" if sp["min"] <= 0 <= sp["max"] else
                   "better" if sp["max"] < 0 else "worse")  # a relative to b (lower bits/byte is better)
        out.append({"comparison": what, "a": a, "b": b, "steps": sa, "alpha": round((sa - N) / N, 4),
                    "seeds": len(diffs), "diff_mean": sp["mean"], "diff_min": sp["min"], "diff_max": sp["max"],
                    "verdict": verdict})
    return out


SUMMARY_COLUMNS = ["name", "steps", "alpha", "block", "positions", "n_kv_heads", "cache_vs_mha", "params", "seeds",
                   "valid_bpb_mean", "valid_bpb_min", "valid_bpb_max"]
PAIRED_COLUMNS = ["comparison", "a", "b", "steps", "alpha", "seeds", "diff_mean", "diff_min", "diff_max", "verdict"]


def run(preset: str, out: str | Path | None = None, *, argv: list[str] | None = None,
        corpus: CodeCorpus | None = None, wait_s: float = 86_400.0) -> dict[str, Any]:
    """Run (or resume) every seed and write the results files; returns the summary record (under torchrun: this
    rank's seeds, and rank 0 merges every seed's files; the other ranks return ``{"partial": True}``)."""
    cfg = config_for(preset)
    dev = _device()
    dinfo = D.info()
    out = dryrun.results_dir("gqa", preset, out, committed_results(preset))
    out.mkdir(parents=True, exist_ok=True)
    meta = _meta(preset, argv if argv is not None else ["--preset", preset, "--out", str(out)], dinfo.world_size)
    corpus = corpus or CodeCorpus()
    t0 = time.perf_counter()
    for s in D.share(list(cfg.seeds), dinfo):
        _seed_runs(cfg, s, corpus, out, dev)
    if not dinfo.is_main:
        return {"partial": True}
    if not D.wait_for([_run_file(out, n, s) for s in cfg.seeds for n in _run_names(cfg)], wait_s):
        return {"partial": True}
    rows = [r for s in cfg.seeds for r in _seed_runs(cfg, s, corpus, out, dev)]  # read back from the files
    result = {**meta, "config": {**asdict(cfg), "total": cfg.total, "eval_steps": cfg.eval_steps},
              "corpus": corpus.stats(), "runs": rows, "summary": _aggregate(rows, cfg),
              "paired": _paired_rows(rows, cfg),
              "experiment_wall_s": round(sum(max(r["wall_s"] for r in rows if (r["name"], r["seed"]) == key)
                                             for key in {(r["name"], r["seed"]) for r in rows}), 2),
              "this_invocation_s": round(time.perf_counter() - t0, 2)}
    _write_csv(out / "runs.csv", rows, RUN_COLUMNS, meta)
    _write_csv(out / "summary.csv", result["summary"], SUMMARY_COLUMNS, meta)
    _write_csv(out / "paired.csv", result["paired"], PAIRED_COLUMNS, meta)
    _atomic_write(out / "summary.json", (json.dumps(result, indent=1) + "\n").encode())
    return result


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of one training step of every from-scratch variant at the preset's full batch on one device (bf16
    autocast as on CUDA, AdamW), traced on fake tensors (:func:`efftx_mini.footprint.trace_step`)."""
    with dryrun.full_sizes():
        cfg = config_for(preset)
    out = {}
    for name in VARIANTS:
        block, n_kv, positions = _variant(cfg, name)
        out[f"{label(cfg, name)} (batch {cfg.batch}×{cfg.T})"] = trace_step(
            lambda block=block, n_kv=n_kv, positions=positions: build_model(cfg, n_kv, block, positions),
            lambda: torch.randint(0, VOCAB_SIZE, (cfg.batch, cfg.T + 1)),
            lambda m, xy: m.loss(xy[:, :-1], xy[:, 1:]))
    return out


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
    if "summary" not in res:
        return 0
    from ..timing import print_table
    print_table(res["summary"], SUMMARY_COLUMNS)
    print_table(res["paired"], PAIRED_COLUMNS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
