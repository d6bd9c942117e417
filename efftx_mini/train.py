"""Training the original transformer: label smoothing, the Noam schedule, Adam, AMP, logging, checkpoints.

Vaswani et al. 2017, §5: Adam with β = (0.9, 0.98), ε = 1e-9 (§5.3), lr = d^-0.5 · min(s^-0.5, s · w^-1.5)
(§5.3, Eq. 3), label smoothing ε_ls = 0.1 (§5.4). Run ``python -m efftx_mini.train --task numbers
--preset cpu --out runs/numbers``; rerunning the same command resumes from ``runs/numbers/checkpoint.pt``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import device as default_device
from . import dryrun
from ._checks import shape_str
from .checkpoint import get_rng_state, load_checkpoint, save_checkpoint, set_rng_state
from .data import BOS, EOS, PAD, Batch, BatchStream, CopyTask, NumbersTask, make_batch
from .decode import beam_search
from .metrics import corpus_bleu, exact_match
from .presets import pick
from .provenance import git_commit, hardware
from .transformer import Transformer

__all__ = [
    "LabelSmoothingLoss", "smoothed_targets", "noam_lr", "noam_lambda", "make_optimizer", "autocast_settings",
    "MetricsLogger", "TrainConfig", "Trainer", "main",
]

log = logging.getLogger(__name__)


# -- label smoothing (§5.4) ------------------------------------------------------------------------
def smoothed_targets(target: Tensor, vocab_size: int, smoothing: float, pad_id: int | None) -> Tensor:
    """target (N,) → q (N, V): 1−ε on the true class, ε/(V−2) on the others except <pad> (ε/(V−1) with no pad);
    rows whose target is <pad> are all zero."""
    others = vocab_size - (2 if pad_id is not None else 1)
    q = torch.full((target.shape[0], vocab_size), smoothing / others, device=target.device)
    if pad_id is not None:
        q[:, pad_id] = 0.0
    q.scatter_(1, target[:, None], 1.0 - smoothing)
    if pad_id is not None:
        q[target == pad_id] = 0.0
    return q


class LabelSmoothingLoss(nn.Module):
    """KL(q ‖ p) with the label-smoothed target q (Szegedy et al. 2016, §7; as in The Annotated Transformer).

    logits (..., V), target (...) → the SUM over non-pad positions (divide by the token count yourself).
    With ε = 0 it equals the cross-entropy; otherwise it is the cross-entropy minus the (constant) entropy of q.
    """

    def __init__(self, vocab_size: int, pad_id: int | None = PAD, smoothing: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be ≥ 3, got {vocab_size}")
        self.vocab_size, self.pad_id, self.smoothing = vocab_size, pad_id, smoothing

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.shape[-1] != self.vocab_size or logits.shape[:-1] != target.shape:
            raise ValueError(
                f"logits must have shape (..., V={self.vocab_size}) and target the leading shape, got logits "
                f"{shape_str(logits.shape)} and target {shape_str(target.shape)}"
            )
        logp = F.log_softmax(logits.reshape(-1, self.vocab_size).float(), dim=-1)
        q = smoothed_targets(target.reshape(-1), self.vocab_size, self.smoothing, self.pad_id)
        # Σ q (log q − log p), with 0 · log 0 = 0
        return (torch.xlogy(q, q) - q * logp).sum()


# -- the learning-rate schedule (§5.3) ------------------------------------------------------------
def noam_lr(step: int, d_model: int, warmup: int, factor: float = 1.0) -> float:
    """lr = factor · d^-0.5 · min(step^-0.5, step · warmup^-1.5); step 0 counts as 1. Peak at step = warmup."""
    step = max(step, 1)
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def noam_lambda(d_model: int, warmup: int, factor: float = 1.0) -> Callable[[int], float]:
    """For ``torch.optim.lr_scheduler.LambdaLR`` with base lr 1.0: the k-th optimizer step uses noam_lr(k)."""
    if warmup <= 0:
        raise ValueError(f"warmup must be positive, got {warmup}")

    def fn(epoch: int) -> float:
        return noam_lr(epoch + 1, d_model, warmup, factor)

    return fn


def make_optimizer(model: nn.Module, lr: float = 1.0) -> torch.optim.Adam:
    """Adam with β₁ = 0.9, β₂ = 0.98, ε = 10⁻⁹ (§5.3); lr 1.0 so that LambdaLR sets the actual rate."""
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)


def autocast_settings(dev: torch.device, amp: str = "auto") -> tuple[bool, torch.dtype, bool]:
    """(enabled, dtype, needs GradScaler): bf16 on CUDA when supported, else fp16 with a scaler; off on CPU."""
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"amp must be one of auto, bf16, fp16, off, got {amp!r}")
    if dev.type != "cuda" or amp == "off":
        return False, torch.float32, False
    if amp == "auto":
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return (True, torch.bfloat16, False) if amp == "bf16" else (True, torch.float16, True)


# -- logging --------------------------------------------------------------------------------------
class MetricsLogger:
    """Per-step metrics to ``metrics.jsonl``; TensorBoard if installed (``tensorboard`` None = when installed);
    Weights & Biases only when asked (``wandb=True``; offline mode works without a network)."""

    def __init__(self, out_dir: str | Path | None, tensorboard: bool | None = None, wandb: bool = False,
                 config: dict[str, Any] | None = None, wandb_mode: str = "offline") -> None:
        self.path = None if out_dir is None else Path(out_dir) / "metrics.jsonl"
        self.backends: list[str] = []
        self.notes: list[str] = []
        self._tb = self._wandb = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.backends.append("jsonl")
        if tensorboard is not False and out_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.notes.append("tensorboard not installed: skipped")
            else:
                self._tb = SummaryWriter(log_dir=str(Path(out_dir) / "tb"))
                self.backends.append("tensorboard")
        if wandb:
            try:
                wb = importlib.import_module("wandb")
            except ImportError:
                self.notes.append("wandb not installed: skipped")
            else:
                self._wandb = wb.init(project="efftx-mini", mode=wandb_mode, config=config or {},
                                      dir=None if out_dir is None else str(out_dir))
                self.backends.append("wandb")
        for n in self.notes:
            log.info(n)

    def truncate(self, step: int) -> None:
        """Drop records after ``step`` (a resumed run rewrites them)."""
        if self.path is None or not self.path.exists():
            return
        keep = [ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= step]
        self.path.write_text("".join(ln + "\n" for ln in keep))

    def log(self, record: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        step = int(record.get("step", 0))
        nums = {k: v for k, v in record.items() if k != "step" and isinstance(v, (int, float))}
        if self._tb is not None:
            for k, v in nums.items():
                self._tb.add_scalar(k, v, step)
        if self._wandb is not None:
            self._wandb.log(nums, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


# -- configuration --------------------------------------------------------------------------------
#: the ``gpu`` preset's rehearsal (``EFFTX_DRY_RUN=1``, :mod:`efftx_mini.dryrun`): the ``gpu`` model and batch for two
#: steps, validated after each
_DRY_TRAIN = dict(steps=2, warmup=1, eval_every=1, eval_size=20, target=None)


@dataclass
class TrainConfig:
    """Everything a run needs; :meth:`preset` gives the book's sizes for each task and preset."""

    task: str = "numbers"
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.1
    batch_size: int = 128
    steps: int = 3000
    warmup: int = 400
    lr_factor: float = 1.0
    smoothing: float = 0.1
    clip: float = 1.0
    seed: int = 0
    amp: str = "auto"
    ckpt_every: int = 0  # 0 = only at the end
    eval_every: int = 0  # 0 = never during training
    eval_size: int = 500  # validation examples used while training
    target: float | None = None  # stop once validation exact match ≥ target
    time_limit: float | None = None  # stop after this many seconds of training
    max_value: int = 1_000_000  # numbers task: 0 ≤ n < max_value
    n_symbols: int = 10  # copy task
    seq_len: int = 10  # copy task

    @classmethod
    def preset(cls, task: str, preset: str | None = None, **overrides: Any) -> TrainConfig:
        if task == "copy":
            base = pick(
                smoke=dict(d_model=32, n_heads=2, n_layers=1, d_ff=64, dropout=0.0, batch_size=32, steps=40,
                           warmup=20, lr_factor=0.5, eval_every=20, eval_size=100, target=1.0),
                cpu=dict(d_model=64, n_heads=4, n_layers=2, d_ff=128, dropout=0.0, batch_size=64, steps=2000,
                         warmup=100, lr_factor=0.25, eval_every=25, eval_size=100, target=1.0, time_limit=60.0),
                gpu=(gpu := dict(d_model=512, n_heads=8, n_layers=2, d_ff=2048, dropout=0.0, batch_size=256,
                                 steps=2000, warmup=400, eval_every=50, eval_size=100, target=1.0)),
                dry=gpu | _DRY_TRAIN,
                preset=preset,
            )
        elif task == "numbers":
            base = pick(
                smoke=dict(d_model=32, n_heads=2, n_layers=1, d_ff=64, batch_size=32, steps=40, warmup=20,
                           eval_every=20, eval_size=50),
                cpu=dict(d_model=128, n_heads=4, n_layers=2, d_ff=512, batch_size=128, steps=3000, warmup=400,
                         lr_factor=0.5, eval_every=100, eval_size=500, target=0.99, time_limit=180.0),
                gpu=(gpu := dict(d_model=256, n_heads=8, n_layers=3, d_ff=1024, batch_size=512, steps=6000,
                                 warmup=1000, eval_every=500, eval_size=1000, target=None)),
                dry=gpu | _DRY_TRAIN,
                preset=preset,
            )
        else:
            raise ValueError(f"task must be 'copy' or 'numbers', got {task!r}")
        return cls(task=task, **{**base, **overrides})


def make_task(cfg: TrainConfig) -> CopyTask | NumbersTask:
    if cfg.task == "copy":
        return CopyTask(cfg.n_symbols, cfg.seq_len, seed=cfg.seed)
    if cfg.task == "numbers":
        return NumbersTask(cfg.max_value)
    raise ValueError(f"task must be 'copy' or 'numbers', got {cfg.task!r}")


# fields that may change when a run is resumed (they do not change the training trajectory)
_FREE = frozenset({"steps", "time_limit", "target", "eval_every", "eval_size", "ckpt_every"})


# -- the trainer ----------------------------------------------------------------------------------
class Trainer:
    """The training loop of §5, built from the pieces above; resumable and bit-exact on the CPU.

    ``Trainer(cfg, out_dir).fit()`` trains (the constructor seeds torch with ``cfg.seed``); with ``out_dir``
    it writes ``metrics.jsonl`` and atomic checkpoints (``checkpoint.pt``) every ``cfg.ckpt_every`` steps;
    ``resume()`` continues a run.
    """

    def __init__(self, cfg: TrainConfig, out_dir: str | Path | None = None, device: torch.device | None = None,
                 progress: bool = True, tensorboard: bool | None = None, wandb: bool = False) -> None:
        self.cfg, self.out_dir, self.progress = cfg, None if out_dir is None else Path(out_dir), progress
        self.device = device or default_device()
        torch.manual_seed(cfg.seed)
        self.task = make_task(cfg)
        if isinstance(self.task, CopyTask):
            V_src = V_tgt = self.task.vocab_size
            copy_task = self.task

            def sampler(g: torch.Generator) -> Batch:
                return make_batch(*copy_task.sample(cfg.batch_size, g))

            self.stream = BatchStream(None, None, cfg.batch_size, cfg.seed, sampler=sampler)
            self.max_len = cfg.seq_len + 2
        else:
            V_src, V_tgt = self.task.src_tok.vocab_size, self.task.tgt_tok.vocab_size
            self.stream = BatchStream(self.task.batch, self.task.n_train, cfg.batch_size, cfg.seed)
            self.max_len = 16
        self.model = Transformer(V_src, V_tgt, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, cfg.dropout,
                                 max_len=64, pad_id=PAD).to(self.device)
        self.criterion = LabelSmoothingLoss(V_tgt, PAD, cfg.smoothing)
        self.optimizer = make_optimizer(self.model)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, noam_lambda(cfg.d_model, cfg.warmup,
                                                                                        cfg.lr_factor))
        self.amp, self.amp_dtype, use_scaler = autocast_settings(self.device, cfg.amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.step = 0
        self.train_time = 0.0
        self.history: list[dict[str, Any]] = []
        self.evals: list[dict[str, Any]] = []
        self.reached: dict[str, Any] | None = None
        self.logger = MetricsLogger(self.out_dir, tensorboard, wandb, dataclasses.asdict(cfg))

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "checkpoint.pt"

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "config": dataclasses.asdict(self.cfg),
            "step": self.step,
            "data_position": self.stream.position(self.step),
            "train_time": self.train_time,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": get_rng_state(),
            "history": [[h["step"], h["loss"], h["lr"]] for h in self.history],
            "src_vocab": self.task.src_tok.state_dict(),
            "tgt_vocab": self.task.tgt_tok.state_dict(),
        }

    def save(self, path: str | Path | None = None) -> Path:
        path = path or self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: pass path or give the Trainer an out_dir")
        saved = save_checkpoint(self.state_dict(), path)
        dryrun.saved()  # the gpu dry run's kill-and-resume check may stop this process here
        return saved

    def load(self, path: str | Path) -> None:
        """Restore model, optimizer, scheduler, scaler, RNG states, step and data position."""
        state = load_checkpoint(path, map_location="cpu")  # RNG states must stay on the CPU
        ours, theirs = dataclasses.asdict(self.cfg), dict(state.get("config", {}))
        diff = {k: (theirs.get(k), v) for k, v in ours.items() if k not in _FREE and theirs.get(k) != v}
        if diff:
            raise ValueError(f"checkpoint {str(path)!r} was written with a different config "
                             f"(field: (checkpoint, this run)): {diff}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.step, self.train_time = int(state["step"]), float(state["train_time"])
        self.history = [{"step": int(s), "loss": float(lo), "lr": float(lr)} for s, lo, lr in state["history"]]
        self.logger.truncate(self.step)

    def resume(self) -> bool:
        """Load ``out_dir/checkpoint.pt`` if it exists (a broken one raises CheckpointError). True if loaded."""
        path = self.checkpoint_path
        if path is None or not path.exists():
            return False
        self.load(path)
        return True

    # -- training ---------------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> tuple[float, float]:
        """One optimizer step; returns (loss per non-pad token, learning rate used)."""
        self.model.train()
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            logits = self.model(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)
        loss = self.criterion(logits, batch.tgt_out) / max(batch.n_tokens, 1)
        self.scaler.scale(loss).backward()
        if self.cfg.clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach()), float(lr)

    def fit(self, stop_after: int | None = None) -> list[dict[str, Any]]:
        """Train until ``cfg.steps`` (or the target / time limit); ``stop_after`` steps simulates an interrupt."""
        cfg, end = self.cfg, self.cfg.steps
        if stop_after is not None:
            end = min(end, self.step + stop_after)
        # records after the current step are stale: a run restarted before its first checkpoint starts at
        # step 0 and must not append to the old log (a resumed run was already truncated by load()).
        self.logger.truncate(self.step)
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"{cfg.task}", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        try:
            while self.step < end:
                t0 = time.perf_counter()
                batch = self.stream.batch(self.step).to(self.device)
                loss, lr = self.train_step(batch)
                self.train_time += time.perf_counter() - t0
                self.step += 1
                rec = {"step": self.step, "loss": loss, "lr": lr, "tokens": batch.n_tokens,
                       "time": round(self.train_time, 4)}
                self.history.append({"step": self.step, "loss": loss, "lr": lr})
                self.logger.log(rec)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}", refresh=False)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at step {self.step}")
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self._eval_and_maybe_stop():
                    break
                if cfg.ckpt_every and self.step % cfg.ckpt_every == 0 and self.checkpoint_path is not None:
                    self.save()
                if cfg.time_limit is not None and self.train_time >= cfg.time_limit:
                    break
        finally:
            bar.close()
        if self.checkpoint_path is not None and stop_after is None:
            self.save()
        return self.history

    def _eval_and_maybe_stop(self) -> bool:
        split = "valid" if isinstance(self.task, NumbersTask) else "heldout"
        res = self.evaluate(split, n=self.cfg.eval_size, bleu=False)
        rec = {"step": self.step, "time": round(self.train_time, 4), "valid_exact": res["exact"]}
        self.evals.append(rec)
        self.logger.log(rec)
        if self.cfg.target is not None and res["exact"] >= self.cfg.target:
            if self.reached is None:
                self.reached = dict(rec)
            return True
        return False

    # -- evaluation -------------------------------------------------------------------------------
    def eval_data(self, split: str, n: int | None = None) -> tuple[Tensor, Tensor, list[str]]:
        """(src (B, S), tgt (B, T), reference texts) of a held-out split."""
        if isinstance(self.task, CopyTask):
            src, tgt = self.task.heldout(100 if n is None else n)
            return src, tgt, [self.task.tgt_tok.decode(t) for t in tgt]
        pairs = self.task.examples(split)[:n]
        src, tgt = self.task.encode_pairs(pairs)
        return src, tgt, [t for _, t in pairs]

    @torch.no_grad()
    def translate(self, src: Tensor, beam_size: int = 1, alpha: float = 0.6, chunk: int = 500) -> list[str]:
        """Decode src (B, S) greedily (beam_size 1) or with beam search; returns target texts."""
        self.model.eval()
        out: list[str] = []
        for i in range(0, src.shape[0], chunk):
            s = src[i : i + chunk].to(self.device)
            if beam_size == 1:
                ys = self.model.greedy_decode(s, self.max_len, BOS, EOS)
            else:
                ys = beam_search(self.model, s, beam_size, self.max_len, BOS, EOS, alpha)
            out += [self.task.tgt_tok.decode(y) for y in ys.cpu()]
        return out

    def evaluate(self, split: str = "test", n: int | None = None, beam_size: int = 1, alpha: float = 0.6,
                 bleu: bool = True) -> dict[str, Any]:
        """Exact match and corpus BLEU-4 (over target tokens) on a held-out split."""
        src, _, refs = self.eval_data(split, n)
        hyps = self.translate(src, beam_size, alpha)
        tok = self.task.tgt_tok
        res: dict[str, Any] = {"exact": exact_match(hyps, refs), "n": len(refs), "hyps": hyps, "refs": refs}
        if bleu:
            res["bleu"] = 100 * corpus_bleu([tok.tokenize(h) for h in hyps], [[tok.tokenize(r)] for r in refs])
        return res


# -- command line ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.train", description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["copy", "numbers"], default="numbers")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None, help="default: $EFFTX_PRESET or cpu")
    p.add_argument("--out", default=None, help="run directory (checkpoint.pt, metrics.jsonl, results.json)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--ckpt-every", type=int, default=None)
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--beam", type=int, default=4, help="beam size for the beam-search evaluation (1 = skip)")
    p.add_argument("--alpha", type=float, default=0.6, help="GNMT length-penalty exponent")
    p.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run directory")
    p.add_argument("--tensorboard", action="store_true", default=None, help="log to TensorBoard (if installed)")
    p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline mode) if installed")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    over = {k: v for k, v in (("steps", args.steps), ("ckpt_every", args.ckpt_every),
                              ("time_limit", args.time_limit), ("seed", args.seed)) if v is not None}
    if "ckpt_every" not in over:
        over["ckpt_every"] = 250
    cfg = TrainConfig.preset(args.task, args.preset, **over)
    trainer = Trainer(cfg, args.out, progress=not args.no_progress, tensorboard=args.tensorboard, wandb=args.wandb)
    if trainer.checkpoint_path is not None and trainer.checkpoint_path.exists():
        if args.no_resume:
            print(f"{trainer.checkpoint_path} exists and --no-resume was given", file=sys.stderr)
            return 2
        try:
            trainer.resume()
        except ValueError as e:
            print(f"cannot resume: {e}", file=sys.stderr)
            return 2
        print(f"resumed from {trainer.checkpoint_path} at step {trainer.step}")
    t0 = time.perf_counter()
    trainer.fit()
    split = "heldout" if cfg.task == "copy" else "test"
    results: dict[str, Any] = {"config": dataclasses.asdict(cfg), "steps": trainer.step,
                               "train_time_s": trainer.train_time, "reached": trainer.reached}
    for k in sorted({1, args.beam}):
        r = trainer.evaluate(split, beam_size=k, alpha=args.alpha)
        results[f"beam{k}"] = {"exact": r["exact"], "bleu": r["bleu"], "n": r["n"]}
        print(f"{cfg.task} {split} beam={k}: exact match {100 * r['exact']:.2f}%  BLEU {r['bleu']:.2f}  (n={r['n']})")
    results["wall_s"] = time.perf_counter() - t0
    results["command"] = " ".join(["python -m efftx_mini.train", *(sys.argv[1:] if argv is None else argv)])
    results["commit"], results["hardware"] = git_commit(), hardware()
    if args.out is not None:
        (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    trainer.logger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
