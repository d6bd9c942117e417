"""Which heads of the chapter-5 translation model matter, and what pruning and distillation keep —
Michel et al. 2019 (arXiv 1905.10650, §4, Fig. 3) and Hinton et al. 2015 (§2) at small scale.

    python -m efftx_mini.experiments.compress --preset {smoke,cpu,gpu} [--out DIR]

For every seed: train the English number words → Korean numerals transformer of chapter 5 (the teacher);
score its heads by importance I_h = Σ |∂L/∂ξ_h| (once, and recomputed after every pruning step) and by
single-head ablation (§3.2), both with the plain cross-entropy and (for comparison only) with the label-smoothed
loss the teacher trained on; prune in four orders with the same per-layer floor of one head — importance computed
once, importance recomputed before every step ("iterative"), single-head ablation (the paper's Fig. 3 comparison)
and random — and measure held-out greedy exact match and teacher-forced loss at each level, and each curve's area
under the curve (exact match against fraction of heads removed, trapezoid rule); then train two
half-depth students on identical batches from the same initialisation: from scratch (hard labels) and
distilled from the teacher (soft targets at temperature τ mixed with hard labels).

Writes to DIR (default ``chapters/results/compress_<preset>``): ``seed_<s>.json`` per finished seed (the
resume unit: a rerun skips finished seeds; an unfinished teacher resumes from its checkpoint) and
``summary.json`` with provenance (command, commit, hardware). Under
``torchrun --nproc_per_node=N`` the seeds are shared out over the ranks. ``EFFTX_DRY_RUN=1`` with ``--preset gpu``
rehearses the lab run: the ``gpu`` models for two steps, two seeds, into a scratch folder
(:mod:`efftx_mini.dryrun`). Evaluation uses the test split (held out); importance and ablation use batches of
the *training* split drawn by a stream of their own (numbers the teacher
has almost surely not seen, from the training distribution).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import distributed as D
from .. import dryrun, pick, results, seed_everything
from ..compress import (
    ablation_scores,
    distillation_loss,
    head_importance,
    iterative_pruning,
    pruning_order,
    random_order,
    remove_heads,
    set_gates,
)
from ..data import BOS, EOS, PAD, Batch, BatchStream, NumbersTask, make_batch
from ..footprint import Footprint, trace_step
from ..metrics import exact_match
from ..provenance import git_commit, hardware
from ..train import LabelSmoothingLoss, TrainConfig, Trainer, make_optimizer, noam_lambda
from ..transformer import Transformer

__all__ = ["Config", "config_for", "curve_auc", "token_loss", "smoothed_token_loss", "normalize_per_layer", "run",
           "run_seed", "load_results", "load_or_run", "committed_results", "main", "footprints"]


@dataclass(frozen=True)
class Config:
    seeds: tuple[int, ...]
    d_model: int
    n_heads: int
    n_layers: int  # teacher depth; the students have n_layers // 2
    d_ff: int
    batch: int
    teacher_steps: int
    teacher_warmup: int  # Noam warmup of the teacher: about a third of its steps, so the learning rate peaks
    student_steps: int
    student_warmup: int
    temperature: float
    alpha: float
    score_batches: int  # training batches for importance and ablation
    n_eval: int  # test sentences for exact match and loss
    prune_step: int  # heads per pruning level


def config_for(preset: str) -> Config:
    """Sizes per preset; the teacher is chapter 5's ``numbers`` model of that preset's size."""
    return Config(
        seeds=pick(smoke=(0,), cpu=(0, 1, 2, 3, 4), gpu=(0, 1, 2, 3, 4), dry=(0, 1), preset=preset),
        d_model=pick(smoke=32, cpu=128, gpu=256, preset=preset),
        n_heads=pick(smoke=4, cpu=4, gpu=8, preset=preset),
        n_layers=2,
        d_ff=pick(smoke=64, cpu=512, gpu=1024, preset=preset),
        batch=pick(smoke=32, cpu=128, gpu=512, dry=64, preset=preset),
        teacher_steps=pick(smoke=12, cpu=300, gpu=3000, dry=2, preset=preset),
        teacher_warmup=pick(smoke=4, cpu=100, gpu=1000, dry=1, preset=preset),
        student_steps=pick(smoke=8, cpu=150, gpu=1500, dry=2, preset=preset),
        student_warmup=pick(smoke=4, cpu=100, gpu=500, dry=1, preset=preset),
        temperature=2.0,
        alpha=0.5,
        score_batches=pick(smoke=1, cpu=4, gpu=16, dry=1, preset=preset),
        n_eval=pick(smoke=40, cpu=500, gpu=1000, dry=16, preset=preset),
        prune_step=pick(smoke=2, cpu=2, gpu=6, preset=preset),
    )


# ----------------------------------------------------------------------------- pieces

def curve_auc(fractions: list[float], values: list[float]) -> float:
    """Area under a pruning curve by the trapezoid rule: ∫ value d(fraction removed) over the levels measured."""
    if len(fractions) != len(values) or len(fractions) < 2:
        raise ValueError(f"need two equally long lists of at least 2 points, got {len(fractions)} and {len(values)}")
    x = torch.tensor(fractions, dtype=torch.float64)
    if not bool((x[1:] > x[:-1]).all()):
        raise ValueError(f"fractions must increase strictly, got {fractions}")
    return float(torch.trapezoid(torch.tensor(values, dtype=torch.float64), x))


def token_loss(model: nn.Module, batch: Batch) -> Tensor:
    """Mean cross-entropy (nats per target token, no smoothing) of a teacher-forced batch (fp16/bf16 → fp32)."""
    logits = model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.tgt_out.reshape(-1), ignore_index=PAD)


def smoothed_token_loss(smoothing: float) -> Callable[[nn.Module, Batch], Tensor]:
    """The teacher's training loss per target token: KL to the label-smoothed target (ε = ``smoothing``)."""

    def loss(model: nn.Module, batch: Batch) -> Tensor:
        logits = model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)
        crit = LabelSmoothingLoss(logits.shape[-1], PAD, smoothing)
        return crit(logits.float(), batch.tgt_out) / max(batch.n_tokens, 1)

    return loss


def normalize_per_layer(scores: dict[str, Tensor]) -> dict[str, Tensor]:
    """Each layer's scores divided by their ℓ2 norm (Michel et al. §4.1), as ``head_importance(normalize=True)``."""
    return {n: s / s.norm().clamp_min(1e-20) for n, s in scores.items()}


@torch.no_grad()
def evaluate(model: nn.Module, task: NumbersTask, n: int) -> dict[str, float]:
    """Greedy exact match and teacher-forced loss (nats/token) on the first n test numbers."""
    was = model.training
    model.eval()
    pairs = task.examples("test")[:n]
    src, tgt = task.encode_pairs(pairs)
    loss = float(token_loss(model, make_batch(src, tgt)))
    ys = model.greedy_decode(src, 16, BOS, EOS)
    hyps = [task.tgt_tok.decode(y) for y in ys]
    model.train(was)
    return {"exact": exact_match(hyps, [t for _, t in pairs]), "loss": loss}


def _student(cfg: Config, V_src: int, V_tgt: int, seed: int) -> Transformer:
    torch.manual_seed(10_000 + seed)
    return Transformer(V_src, V_tgt, cfg.d_model, cfg.n_heads, max(1, cfg.n_layers // 2), cfg.d_ff, 0.1,
                       max_len=64, pad_id=PAD)


def train_student(cfg: Config, task: NumbersTask, teacher: nn.Module | None, seed: int) -> dict[str, Any]:
    """Half-depth student, Adam + Noam schedule as chapter 5; distilled when a teacher is given (else α = 0)."""
    V_src, V_tgt = task.src_tok.vocab_size, task.tgt_tok.vocab_size
    model = _student(cfg, V_src, V_tgt, seed)
    opt = make_optimizer(model)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, noam_lambda(cfg.d_model, cfg.student_warmup, 1.0))
    stream = BatchStream(task.batch, task.n_train, cfg.batch, seed=20_000 + seed)
    alpha = cfg.alpha if teacher is not None else 0.0
    if teacher is not None:
        teacher.eval()
    elapsed = 0.0
    model.train()
    for step in range(cfg.student_steps):
        b = stream.batch(step)
        t0 = time.perf_counter()
        logits = model(b.src, b.tgt_in, b.src_mask, b.tgt_mask)
        if teacher is not None:
            with torch.no_grad():
                t_logits = teacher(b.src, b.tgt_in, b.src_mask, b.tgt_mask)
        else:
            t_logits = logits.detach()
        loss = distillation_loss(logits, t_logits, b.tgt_out, temperature=cfg.temperature, alpha=alpha,
                                 ignore_index=PAD)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        elapsed += time.perf_counter() - t0
    return {"params": sum(p.numel() for p in model.parameters()), "train_s": round(elapsed, 2),
            **evaluate(model, task, cfg.n_eval)}


def _teacher(cfg: Config, seed: int, ckpt_dir: Path) -> Trainer:
    tcfg = TrainConfig.preset("numbers", "cpu", d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers,
                              d_ff=cfg.d_ff, batch_size=cfg.batch, steps=cfg.teacher_steps,
                              warmup=cfg.teacher_warmup, seed=seed,
                              target=None, eval_every=0, time_limit=None, ckpt_every=50, amp="off")
    tr = Trainer(tcfg, ckpt_dir, device=torch.device("cpu"), progress=False, tensorboard=False)
    tr.resume()
    if tr.step < tcfg.steps:
        tr.fit()
    tr.model.eval()
    return tr


def run_seed(cfg: Config, seed: int, out: Path) -> dict[str, Any]:
    """Everything for one seed (teacher, scores, four pruning curves, two students); returns its record."""
    t_start = time.perf_counter()
    ckpt_dir = out / f"teacher_seed{seed}"
    tr = _teacher(cfg, seed, ckpt_dir)
    teacher, task = tr.model, tr.task
    score_stream = BatchStream(task.batch, task.n_train, cfg.batch, seed=30_000 + seed)
    score_batches = [score_stream.batch(i) for i in range(cfg.score_batches)]
    raw = head_importance(teacher, score_batches, token_loss, normalize=False)
    importance = normalize_per_layer(raw)
    ablation = ablation_scores(teacher, score_batches, token_loss)
    ls_loss = smoothed_token_loss(tr.cfg.smoothing)  # the loss the teacher was trained on; not used for pruning
    raw_ls = head_importance(teacher, score_batches, ls_loss, normalize=False)
    ablation_ls = ablation_scores(teacher, score_batches, ls_loss)
    names = list(importance)
    n_heads = sum(s.numel() for s in importance.values())
    orders = {"importance": pruning_order(importance), "ablation": pruning_order(ablation),
              "random": random_order(importance, seed=seed)}
    n_max = len(orders["importance"])
    levels = list(range(0, n_max + 1, cfg.prune_step))
    if levels[-1] != n_max:
        levels.append(n_max)
    orders["iterative"] = iterative_pruning(
        teacher, lambda m: head_importance(m, score_batches, token_loss), n_max, cfg.prune_step)
    curves = []
    for name, order in orders.items():
        for k in levels:
            set_gates(teacher, order[:k])
            curves.append({"order": name, "removed": k, "fraction": round(k / n_heads, 4),
                           **evaluate(teacher, task, cfg.n_eval)})
    set_gates(teacher)
    auc = {name: round(curve_auc([r["fraction"] for r in curves if r["order"] == name],
                                 [r["exact"] for r in curves if r["order"] == name]), 6) for name in orders}
    base = next(r for r in curves if r["removed"] == 0 and r["order"] == "importance")
    # the most heads removable (importance order) at ≤ 1 point of exact match lost, and the shrunk size
    ok = [r["removed"] for r in curves if r["order"] == "importance" and r["exact"] >= base["exact"] - 0.01]
    k_ok = max(ok)
    params_full = sum(p.numel() for p in teacher.parameters())
    shrunk = {n: [h for m, h in orders["importance"][:k_ok] if m == n] for n in names}
    remove_heads(teacher, shrunk)
    after = evaluate(teacher, task, cfg.n_eval)
    params_shrunk = sum(p.numel() for p in teacher.parameters())
    students = {"scratch": train_student(cfg, task, None, seed)}
    tr2 = _teacher(cfg, seed, ckpt_dir)  # the unpruned teacher again, from its checkpoint
    students["distilled"] = train_student(cfg, task, tr2.model, seed)
    return {
        "seed": seed, "teacher": {"steps": tr.step, "train_s": round(tr.train_time, 2), "params": params_full,
                                  **{k: v for k, v in base.items() if k in ("exact", "loss")}},
        "heads": [{"layer": n, "head": h, "importance": round(float(importance[n][h]), 6),
                   "importance_raw": float(raw[n][h]), "ablation": float(ablation[n][h]),
                   "importance_raw_smoothed": float(raw_ls[n][h]), "ablation_smoothed": float(ablation_ls[n][h])}
                  for n in names for h in range(importance[n].numel())],
        "smoothing": tr.cfg.smoothing,
        "orders": {k: [[n, h] for n, h in v] for k, v in orders.items()},
        "curves": curves, "auc_exact": auc, "n_heads": n_heads,
        "prunable_within_1pt": {"removed": k_ok, "fraction": round(k_ok / n_heads, 4), "params_full": params_full,
                                "params_shrunk": params_shrunk, "shrunk_exact": after["exact"],
                                "shrunk_loss": after["loss"]},
        "students": students, "wall_s": round(time.perf_counter() - t_start, 2),
    }


# ----------------------------------------------------------------------------- files

def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def provenance(preset: str, argv: list[str]) -> dict[str, Any]:
    return {"command": shlex.join(["python", "-m", "efftx_mini.experiments.compress", *argv]),
            "commit": git_commit(), "hardware": hardware(), "preset": preset, "torch": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def run(preset: str, out: str | Path | None = None, *, argv: list[str] | None = None,
        keep_checkpoints: bool = False, wait_s: float = 86_400.0) -> dict[str, Any]:
    """Run (or resume) every seed and write ``summary.json``; returns it. Under torchrun each rank runs its share of
    the seeds (seed i on rank i mod W) and rank 0 merges them; the other ranks return ``{"partial": True}``."""
    cfg = config_for(preset)
    dinfo = D.info()
    out = dryrun.results_dir("compress", preset, out, f"chapters/results/compress_{preset}")
    out.mkdir(parents=True, exist_ok=True)
    meta = provenance(preset, argv if argv is not None else ["--preset", preset, "--out", str(out)])
    t0 = time.perf_counter()
    want = asdict(cfg) | {"seeds": list(cfg.seeds)}

    def read(path: Path) -> dict[str, Any]:
        rec = json.loads(path.read_text())
        if rec.get("config") != want:
            raise ValueError(f"{path} was written with another config; use another --out or delete it")
        return rec

    for seed in D.share(list(cfg.seeds), dinfo):
        path = out / f"seed_{seed}.json"
        if path.exists():
            read(path)
            continue
        seed_everything(seed)
        rec = run_seed(cfg, seed, out) | {"config": want, **meta}
        if dryrun.active(preset):
            dryrun.check_finite(rec, f"compress {path.name}")
        _write_json(path, rec)
        dryrun.saved()
        if not keep_checkpoints:
            shutil.rmtree(out / f"teacher_seed{seed}", ignore_errors=True)
    paths = [out / f"seed_{seed}.json" for seed in cfg.seeds]
    if not dinfo.is_main or not D.wait_for(paths, wait_s):
        return {"partial": True}
    records = [read(p) for p in paths]
    summary = {"config": want, **meta, "seeds": records,
               "experiment_wall_s": round(sum(r["wall_s"] for r in records), 2),
               "this_invocation_s": round(time.perf_counter() - t0, 2)}
    _write_json(out / "summary.json", summary)
    return summary


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of one training step of the teacher at the preset's full batch on one device (fp32 as it trains;
    Adam), traced on fake tensors (:func:`efftx_mini.footprint.trace_step`); the students are half as deep."""
    with dryrun.full_sizes():
        cfg = config_for(preset)
    task = NumbersTask()
    V_src, V_tgt = task.src_tok.vocab_size, task.tgt_tok.vocab_size
    with dryrun.full_sizes():
        real = BatchStream(task.batch, task.n_train, cfg.batch, seed=0).batch(0)

    def build() -> Transformer:
        return Transformer(V_src, V_tgt, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, 0.1, max_len=64,
                           pad_id=PAD)

    def data() -> tuple[Tensor, ...]:  # the real batch's shapes, as fresh tensors
        return (torch.randint(3, V_src, tuple(real.src.shape)), torch.randint(3, V_tgt, tuple(real.tgt_in.shape)),
                torch.randint(3, V_tgt, tuple(real.tgt_out.shape)))

    def loss(m: nn.Module, b: tuple[Tensor, ...]) -> Tensor:
        return F.cross_entropy(m(b[0], b[1]).reshape(-1, V_tgt), b[2].reshape(-1))

    return {f"teacher d {cfg.d_model}, {cfg.n_layers}+{cfg.n_layers} layers (batch {cfg.batch})":
            trace_step(build, data, loss, amp_dtype=None)}


def committed_results(preset: str = "cpu") -> Path:
    """``chapters/results/compress_<preset>`` next to the package."""
    return results.root() / f"compress_{preset}"


def load_results(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "summary.json").read_text())


def load_or_run(preset: str = "cpu", scratch: str | Path | None = None) -> dict[str, Any]:
    """The committed results of ``preset`` if complete; otherwise the ``smoke`` run in ``scratch`` (a temp dir)."""
    folder = committed_results(preset)
    if (folder / "summary.json").exists():
        return load_results(folder)
    import tempfile
    scratch = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="efftx_compress_"))
    return run("smoke", scratch)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.compress", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None, help="sizes (default: $EFFTX_PRESET)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/compress_<preset>)")
    p.add_argument("--keep-checkpoints", action="store_true")
    args = p.parse_args(argv)
    from ..presets import current_preset
    res = run(args.preset or current_preset(), args.out, argv=argv, keep_checkpoints=args.keep_checkpoints)
    if "seeds" not in res:  # a torchrun rank other than 0
        return 0
    for r in res["seeds"]:
        pw = r["prunable_within_1pt"]
        s = r["students"]
        print(f"seed {r['seed']}: teacher exact {r['teacher']['exact']:.3f}; {pw['removed']}/{r['n_heads']} heads "
              f"removable within 1 pt; AUC {r['auc_exact']}; student exact scratch {s['scratch']['exact']:.3f} "
              f"distilled {s['distilled']['exact']:.3f}; loss {s['scratch']['loss']:.3f} vs "
              f"{s['distilled']['loss']:.3f}")
    print(f"experiment wall {res['experiment_wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
