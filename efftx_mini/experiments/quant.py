"""Quality and size of quantized models: chapter 6's language model, chapter 11's ViT and chapter 13's translation
model under int8 dynamic, LLM.int8() and 4-bit weight-only RTN, GPTQ and AWQ (Dettmers et al. 2022; Frantar et
al. 2023; Lin et al. 2024), at small scale.

    python -m efftx_mini.experiments.quant --preset {smoke,cpu,gpu} [--out DIR]

For every seed each model is trained as its chapter's experiment trains it (the LM as ``experiments.gqa``'s MHA
run, the ViT as ``experiments.vision``'s ``vit`` run, the translation model as ``experiments.compress``'s
teacher), then quantized with every scheme; GPTQ and AWQ calibrate on training data drawn with that seed (so the
seeds vary the calibration data, and the trained model with it). Quality: validation bits per byte (LM), test
accuracy (ViT), held-out greedy exact match (translation), all on the same evaluation data for every scheme, so
differences are paired. Size: bytes the model keeps (:func:`efftx_mini.quant.model_bytes`). For the LM also: bits
2–8 for RTN, GPTQ and AWQ, an int8 KV cache against the float cache (bits per byte and greedy-token agreement),
and the per-dimension activation statistics behind LLM.int8's outliers.

Writes to DIR (default ``chapters/results/quant_<preset>``): ``<model>_s<seed>.json`` per finished (model, seed)
(the resume unit: a rerun skips finished units; the translation teacher resumes from its checkpoint) and
``summary.json`` with command, commit, hardware and the mean and range over seeds.

    torchrun --nproc_per_node=gpu -m efftx_mini.experiments.quant --preset gpu   (units shared out over ranks)

The LM and the ViT train, are quantized and evaluated on :func:`efftx_mini.device` (the quantizers compute on the
CPU and put the layers back on the weights' device); the translation model (a few hundred thousand parameters)
stays on the CPU on every machine. Under torchrun each rank runs its share of the (model, seed) units and rank 0
merges the files. ``EFFTX_DRY_RUN=1`` with ``--preset gpu``: the ``gpu`` models for a few steps of batch 1 (the
experiments' dry settings), two seeds, into a scratch folder (:mod:`efftx_mini.dryrun`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import device as _device
from .. import distributed as D
from .. import dryrun, pick, results, seed_everything
from ..corpus import CodeCorpus
from ..data import BatchStream
from ..datasets import cifar10_root, load_cifar10, load_digits
from ..footprint import Footprint
from ..generate import KVCache, generate
from ..provenance import git_commit, hardware
from ..quant import (
    Int8KVCache,
    LLMInt8Linear,
    WeightOnlyLinear,
    input_stats,
    model_bytes,
    outlier_features,
    parse_scheme,
    quantizable_linears,
    quantize_model,
    unfuse_attention,
)
from ..train import TrainConfig, Trainer
from ..vision import accuracy, as_images, train_classifier
from . import compress as nmt_exp
from . import gqa as lm_exp
from . import vision as vit_exp
from .blocks import _write_json

__all__ = ["Config", "config_for", "MODELS", "SCHEMES", "run", "run_unit", "load_results", "load_or_run",
           "committed_results", "main", "footprints"]

#: The schemes every model is quantized with (in table order).
SCHEMES = ("fp32", "int8-dynamic", "llm.int8", "w4-rtn-g128", "w4-gptq-g128", "w4-awq-g128", "w4-rtn-g32",
           "w4-gptq-g32", "w4-awq-g32")
MODELS = ("lm", "vit", "nmt")


@dataclass(frozen=True)
class Config:
    seeds: tuple[int, ...]
    schemes: tuple[str, ...]
    sweep_bits: tuple[int, ...]  # LM only: bits for RTN/GPTQ/AWQ at sweep_group
    sweep_group: int
    lm_calib_batches: int  # calibration windows of the LM: batches of (batch, T)
    lm_eval_batches: int
    vit_calib_images: int
    nmt_calib_batches: int
    kv_prompts: int
    kv_prompt_len: int
    kv_new_tokens: int
    threshold: float = 6.0


def config_for(preset: str) -> Config:
    """Sizes per preset; ``cpu`` trains and evaluates three seeds of all three models in about half an hour of one
    CPU core."""
    return Config(
        seeds=pick(smoke=(0,), cpu=(0, 1, 2), gpu=(0, 1, 2), dry=(0, 1), preset=preset),
        schemes=SCHEMES,
        sweep_bits=pick(smoke=(3,), cpu=(2, 3, 4, 8), gpu=(2, 3, 4, 8), dry=(3,), preset=preset),
        sweep_group=128,
        lm_calib_batches=pick(smoke=1, cpu=8, gpu=16, dry=1, preset=preset),
        lm_eval_batches=pick(smoke=1, cpu=16, gpu=32, dry=1, preset=preset),
        vit_calib_images=pick(smoke=32, cpu=256, gpu=512, dry=32, preset=preset),
        nmt_calib_batches=pick(smoke=1, cpu=4, gpu=4, dry=1, preset=preset),
        kv_prompts=pick(smoke=2, cpu=16, gpu=64, dry=2, preset=preset),
        kv_prompt_len=pick(smoke=8, cpu=32, gpu=64, preset=preset),
        kv_new_tokens=pick(smoke=8, cpu=64, gpu=256, dry=8, preset=preset),
    )


# ----------------------------------------------------------------------------------------------- pieces
def _llm_int8_outliers(model: nn.Module, run: Callable[[nn.Module], Any]) -> tuple[Any, float]:
    """Run ``run(model)`` and the mean fraction of input dimensions that LLM.int8 layers sent to floating point."""
    layers = [m for m in model.modules() if isinstance(m, LLMInt8Linear)]
    fracs: list[float] = []
    hooks = [m.register_forward_hook(lambda mod, _a, _o: fracs.append(mod.last_outliers / mod.in_features))
             for m in layers]
    try:
        out = run(model)
    finally:
        for h in hooks:
            h.remove()
    return out, (sum(fracs) / len(fracs) if fracs else 0.0)


def _held_inputs(model: nn.Module, heldout: Callable[[nn.Module], None]) -> dict[str, torch.Tensor]:
    """Inputs of every quantizable linear layer of the float model on held-out data (at most 4096 rows each)."""
    xs: dict[str, list[torch.Tensor]] = {}
    hooks = [lin.register_forward_pre_hook(lambda _m, a, n=name: xs.setdefault(n, []).append(
        a[0].detach().reshape(-1, a[0].shape[-1]).double())) for name, lin in quantizable_linears(model)]
    try:
        with torch.no_grad():
            heldout(model)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n, parts in xs.items():
        X = torch.cat(parts)
        out[n] = X[:: max(1, X.shape[0] // 4096)][:4096]
    return out


def _layer_error(model: nn.Module, q: nn.Module, held: dict[str, torch.Tensor]) -> float | None:
    """Mean over the weight-only layers of ‖X (Ŵ − W)^T‖² / ‖X W^T‖² on held-out inputs X of the float model."""
    errs = []
    for name, lin in quantizable_linears(model):
        ql = q.get_submodule(name)
        if not isinstance(ql, WeightOnlyLinear):
            return None
        X, W = held[name], lin.weight.detach().double()
        errs.append(float((X @ (ql.effective_weight().double() - W).t()).pow(2).sum() / (X @ W.t()).pow(2).sum()))
    return sum(errs) / len(errs)


def _quantized_rows(model: nn.Module, schemes: tuple[str, ...], calibrate: Callable[[nn.Module], None],
                    evaluate: Callable[[nn.Module], dict[str, float]], threshold: float,
                    held: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    rows = []
    n_linear = sum(m.weight.numel() for _, m in quantizable_linears(model))
    for name in schemes:
        sch = parse_scheme(name)
        t0 = time.perf_counter()
        q = quantize_model(model, sch, calibrate if sch.needs_calibration else None, threshold=threshold)
        t_quant = time.perf_counter() - t0
        quality, frac = _llm_int8_outliers(q, evaluate)
        lerr = _layer_error(model, q, held) if sch.kind in ("rtn", "gptq", "awq") else None
        rows.append({"scheme": name, "kind": sch.kind, "bits": sch.bits, "group": sch.group_size or 0,
                     **{k: round(v, 6) for k, v in quality.items()},
                     "layer_rel_err": None if lerr is None else round(lerr, 8),
                     "bytes": model_bytes(q), "linear_params": n_linear,
                     "outlier_dim_frac": round(frac, 6) if sch.kind == "llm.int8" else None,
                     "quantize_s": round(t_quant, 3)})
    return rows


# ----------------------------------------------------------------------------------------------- the three models
def _lm_unit(cfg: Config, preset: str, seed: int, out: Path, corpus: CodeCorpus | None = None) -> dict[str, Any]:
    c = lm_exp.config_for(preset)
    corpus = corpus or CodeCorpus()
    dev = _device()
    seed_everything(seed)
    model = lm_exp.build_model(c, c.n_heads).to(dev)  # multi-head attention, as chapter 6's MHA run
    t0 = time.perf_counter()
    lm_exp.train_steps(model, corpus, steps=c.steps, batch=c.batch, T=c.T, seed=seed, lr=c.lr, warmup=c.warmup,
                       weight_decay=c.weight_decay)
    train_s = time.perf_counter() - t0
    model.eval()
    calib = [corpus.batch("train", c.batch, c.T, 10_000 + seed, i)[0].to(dev) for i in range(cfg.lm_calib_batches)]

    def calibrate(m: nn.Module) -> None:
        for x in calib:
            m(x)

    def evaluate(m: nn.Module) -> dict[str, float]:
        return {"bpb": lm_exp.evaluate_bpb(m, corpus, batch=c.batch, T=c.T, batches=cfg.lm_eval_batches)}

    held = _held_inputs(model, lambda m: [m(corpus.batch("valid", c.batch, c.T, 12345, i)[0].to(dev))
                                          for i in range(2)])
    rows = _quantized_rows(model, cfg.schemes, calibrate, evaluate, cfg.threshold, held)
    sweep = _quantized_rows(model, tuple(f"w{b}-{k}-g{cfg.sweep_group}" for b in cfg.sweep_bits
                                         for k in ("rtn", "gptq", "awq")), calibrate, evaluate, cfg.threshold, held)
    # the int8 KV cache: bits per byte through a quantized cache, and greedy tokens against the float cache
    with torch.no_grad():
        total = 0.0
        for i in range(cfg.lm_eval_batches):
            x, y = corpus.batch("valid", c.batch, c.T, 12345, i)
            logits = model(x.to(dev), cache=Int8KVCache(model, x.shape[0], c.T))
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.to(dev).reshape(-1)))
    kv_bpb = total / cfg.lm_eval_batches / math.log(2)
    prompts = corpus.batch("valid", cfg.kv_prompts, cfg.kv_prompt_len, 777 + seed, 0)[0]
    ref = generate(model, prompts, cfg.kv_new_tokens, greedy=True, cache_cls=KVCache).tokens
    got = generate(model, prompts, cfg.kv_new_tokens, greedy=True, cache_cls=Int8KVCache).tokens
    same = [sum(a == b for a, b in zip(r, g, strict=True)) for r, g in zip(ref, got, strict=True)]
    prefix = [next((i for i, (a, b) in enumerate(zip(r, g, strict=True)) if a != b), len(r)) for r, g in
              zip(ref, got, strict=True)]
    kv = {"bpb_float_cache": rows[0]["bpb"], "bpb_int8_cache": round(kv_bpb, 6),
          "token_agreement": round(sum(same) / sum(len(r) for r in ref), 6),
          "identical_prefix_mean": round(sum(prefix) / len(prefix), 3), "new_tokens": cfg.kv_new_tokens,
          "prompts": cfg.kv_prompts, "bytes_per_token_per_layer_float": KVCache(model, 1, 1).bytes_per_token_per_layer,
          "bytes_per_token_per_layer_int8": Int8KVCache(model, 1, 1).bytes_per_token_per_layer}
    stats = input_stats(model, calibrate, cfg.threshold)
    hidden = [n for n in stats if n.endswith(".qkv") or n.endswith(".fc1")]  # the hidden state, after a LayerNorm
    tracked = [n for n in stats if n.endswith((".qkv", ".proj", ".fc1"))]  # the layers §4.1 of the paper tracks
    outliers = {"threshold": cfg.threshold, "hidden_layers": hidden, "tracked_layers": tracked,
                "absmax": {n: [round(float(v), 4) for v in stats[n]["absmax"]] for n in stats},
                "absmean": {n: [round(float(v), 5) for v in stats[n]["absmean"]] for n in stats},
                "frac_over": {n: [round(float(v), 5) for v in stats[n]["frac"]] for n in stats},
                "features": outlier_features(stats, tracked)}
    return {"model": "lm", "config_model": asdict(c), "train_s": round(train_s, 2),
            "params": sum(p.numel() for p in model.parameters()), "rows": rows, "sweep": sweep, "kv_cache": kv,
            "outliers": outliers}


def _vit_unit(cfg: Config, preset: str, seed: int, out: Path, corpus: CodeCorpus | None = None) -> dict[str, Any]:
    c = vit_exp.config_for(preset)
    if preset == "gpu" and cifar10_root() is not None:
        c = replace(c, dataset="cifar10", image_size=32, channels=3)
    load = load_cifar10 if c.dataset == "cifar10" else load_digits
    data = {s: (as_images(d.images), d.labels) for s in ("train", "valid", "test") for d in [load(s)]}
    X, Y = data["train"]
    dev = _device()
    seed_everything(seed)
    model = vit_exp.build_model("vit", c).to(dev)
    r = train_classifier(model, X, Y, steps=c.steps, batch=c.batch, lr=c.lr, seed=seed, warmup=c.warmup,
                                 shift=c.shift)
    model.eval()
    idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(20_000 + seed))[:cfg.vit_calib_images]
    calib = X[idx]

    def calibrate(m: nn.Module) -> None:
        for i in range(0, len(calib), 128):
            m(calib[i:i + 128].to(dev))

    def evaluate(m: nn.Module) -> dict[str, float]:
        return {"accuracy": accuracy(m, *data["test"])}

    held = _held_inputs(model, lambda m: m(data["valid"][0][:256].to(dev)))
    rows = _quantized_rows(model, cfg.schemes, calibrate, evaluate, cfg.threshold, held)
    return {"model": "vit", "config_model": asdict(c), "train_s": r["seconds"],
            "params": sum(p.numel() for p in model.parameters()), "rows": rows}


def _nmt_unit(cfg: Config, preset: str, seed: int, out: Path, corpus: CodeCorpus | None = None) -> dict[str, Any]:
    c = nmt_exp.config_for(preset)
    ckpt = out / f"ckpt_nmt_s{seed}"
    tcfg = TrainConfig.preset("numbers", "cpu", d_model=c.d_model, n_heads=c.n_heads, n_layers=c.n_layers,
                              d_ff=c.d_ff, batch_size=c.batch, steps=c.teacher_steps, seed=seed, target=None,
                              eval_every=0, time_limit=None, ckpt_every=50, amp="off")
    tr = Trainer(tcfg, ckpt, device=torch.device("cpu"), progress=False, tensorboard=False)
    tr.resume()  # the same teacher as chapter 13's experiment (same config and seed)
    if tr.step < tcfg.steps:
        tr.fit()
    task = tr.task
    model = unfuse_attention(tr.model.eval())  # Q, K, V as three nn.Linear, same numbers
    stream = BatchStream(task.batch, task.n_train, c.batch, seed=40_000 + seed)
    calib = [stream.batch(i) for i in range(cfg.nmt_calib_batches)]

    def calibrate(m: nn.Module) -> None:
        for b in calib:
            m(b.src, b.tgt_in, b.src_mask, b.tgt_mask)

    def evaluate(m: nn.Module) -> dict[str, float]:
        r = nmt_exp.evaluate(m, task, c.n_eval)
        return {"exact": r["exact"], "loss": r["loss"]}

    hb = BatchStream(task.batch, task.n_train, c.batch, seed=50_000 + seed).batch(0)
    held = _held_inputs(model, lambda m: m(hb.src, hb.tgt_in, hb.src_mask, hb.tgt_mask))
    rows = _quantized_rows(model, cfg.schemes, calibrate, evaluate, cfg.threshold, held)
    fused = nmt_exp.evaluate(tr.model, task, c.n_eval)
    return {"model": "nmt", "config_model": asdict(c), "train_s": round(tr.train_time, 2), "steps": tr.step,
            "params": sum(p.numel() for p in model.parameters()), "rows": rows,
            "fused_fp32": {"exact": fused["exact"], "loss": round(fused["loss"], 6)}}


UNITS = {"lm": _lm_unit, "vit": _vit_unit, "nmt": _nmt_unit}
QUALITY = {"lm": "bpb", "vit": "accuracy", "nmt": "exact"}


# ----------------------------------------------------------------------------------------------- files
def provenance(preset: str, argv: list[str], world_size: int = 1) -> dict[str, Any]:
    launcher = ["torchrun", f"--nproc_per_node={world_size}"] if world_size > 1 else ["python"]
    return {"command": shlex.join([*launcher, "-m", "efftx_mini.experiments.quant", *argv]), "commit": git_commit(),
            "hardware": hardware(), "preset": preset, "world_size": world_size, "torch": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def run_unit(cfg: Config, preset: str, model: str, seed: int, out: Path, meta: dict[str, Any],
             corpus: CodeCorpus | None = None) -> dict[str, Any]:
    """One (model, seed): train, quantize with every scheme, evaluate; cached in ``<model>_s<seed>.json``."""
    path = out / f"{model}_s{seed}.json"
    key = json.loads(json.dumps(asdict(cfg)))
    if path.exists():
        rec = json.loads(path.read_text())
        if rec.get("config") != key:
            raise ValueError(f"{path} was written with another config; use another --out or delete it")
        return rec
    t0 = time.perf_counter()
    rec = UNITS[model](cfg, preset, seed, out, corpus)
    rec.update(seed=seed, config=key, wall_s=round(time.perf_counter() - t0, 2), **meta)
    if dryrun.active():
        dryrun.check_finite(rec["rows"], f"quant {path.name}")
    _write_json(path, rec)
    dryrun.saved()
    shutil.rmtree(out / f"ckpt_{model}_s{seed}", ignore_errors=True)
    return rec


def aggregate(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, scheme): mean and range over seeds of the quality metric and of its paired difference to fp32
    (and, for GPTQ and AWQ, to RTN at the same bits and group), and the bytes."""
    out = []
    for model in MODELS:
        recs = [r for r in records if r["model"] == model]
        if not recs:
            continue
        metric = QUALITY[model]
        for block in ("rows", "sweep"):
            if block not in recs[0]:
                continue
            for name in [row["scheme"] for row in recs[0][block]]:
                vals, d_fp, d_rtn, lerr, d_lerr = [], [], [], [], []
                for r in recs:
                    by = {row["scheme"]: row for row in r["rows"] + r.get("sweep", [])}
                    v = by[name][metric]
                    vals.append(v)
                    d_fp.append(v - by["fp32"][metric])
                    sch = parse_scheme(name)
                    if by[name].get("layer_rel_err") is not None:
                        lerr.append(by[name]["layer_rel_err"])
                    if sch.kind in ("gptq", "awq"):
                        rtn = by[f"w{sch.bits}-rtn-g{sch.group_size or 0}"]
                        d_rtn.append(v - rtn[metric])
                        d_lerr.append(by[name]["layer_rel_err"] / rtn["layer_rel_err"])
                row0 = next(x for x in recs[0][block] if x["scheme"] == name)
                agg = {"model": model, "block": block, "scheme": name, "metric": metric, "seeds": len(vals),
                       "mean": round(sum(vals) / len(vals), 6), "min": min(vals), "max": max(vals),
                       "diff_fp32_mean": round(sum(d_fp) / len(d_fp), 6), "diff_fp32_min": round(min(d_fp), 6),
                       "diff_fp32_max": round(max(d_fp), 6), "bytes": row0["bytes"]}
                if lerr:
                    agg.update(layer_rel_err_mean=round(sum(lerr) / len(lerr), 8))
                if d_rtn:
                    agg.update(diff_rtn_mean=round(sum(d_rtn) / len(d_rtn), 6), diff_rtn_min=round(min(d_rtn), 6),
                               diff_rtn_max=round(max(d_rtn), 6),
                               layer_err_vs_rtn_min=round(min(d_lerr), 4), layer_err_vs_rtn_max=round(max(d_lerr), 4))
                out.append(agg)
    return out


def run(preset: str, out: str | Path | None = None, *, argv: list[str] | None = None,
        models: tuple[str, ...] = MODELS, corpus: CodeCorpus | None = None, wait_s: float = 86_400.0
        ) -> dict[str, Any]:
    """Run (or resume) every (model, seed) and write ``summary.json``; returns it (``corpus``: the LM's data, by
    default the whole standard library). Under torchrun: this rank's units; rank 0 merges, the others return
    ``{"partial": True}``."""
    cfg = config_for(preset)
    out = dryrun.results_dir("quant", preset, out, committed_results(preset))
    out.mkdir(parents=True, exist_ok=True)
    dinfo = D.info()
    meta = provenance(preset, argv if argv is not None else ["--preset", preset, "--out", str(out)],
                      dinfo.world_size)
    t0 = time.perf_counter()
    units = [(m, s) for s in cfg.seeds for m in models]
    for m, s in D.share(units, dinfo):
        run_unit(cfg, preset, m, s, out, meta, corpus)
    if not dinfo.is_main:
        return {"partial": True}
    if not D.wait_for([out / f"{m}_s{s}.json" for m, s in units], wait_s):
        return {"partial": True}
    records = [run_unit(cfg, preset, m, s, out, meta, corpus) for m, s in units]  # read back from the files
    summary = {"config": asdict(cfg), **meta, "aggregate": aggregate(records),
               "units": [{k: r[k] for k in ("model", "seed", "wall_s", "train_s", "commit")} for r in records],
               "experiment_wall_s": round(sum(r["wall_s"] for r in records), 2),
               "this_invocation_s": round(time.perf_counter() - t0, 2)}
    _write_json(out / "summary.json", summary)
    return summary


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of the training step of each model this experiment trains, at the full batch: the LM and the ViT are
    ``experiments.gqa``'s MHA and ``experiments.vision``'s ``vit`` (see their ``footprints``), the translation
    model ``experiments.compress``'s teacher (on the CPU). Quantization itself holds one layer's Hessian at a
    time, far below a training step."""
    out = {f"lm: {k}": v for k, v in lm_exp.footprints(preset).items() if k.startswith("MHA ")}
    out.update({f"vit: {k}": v for k, v in vit_exp.footprints(preset).items() if k.startswith("vit ")})
    return out


def committed_results(preset: str = "cpu") -> Path:
    """``chapters/results/quant_<preset>`` next to the package."""
    return results.root() / f"quant_{preset}"


def load_results(folder: str | Path) -> dict[str, Any]:
    """``summary.json`` plus every unit record (``units_full``: model → list over seeds)."""
    folder = Path(folder)
    res = json.loads((folder / "summary.json").read_text())
    res["records"] = {m: [json.loads((folder / f"{m}_s{s}.json").read_text()) for s in res["config"]["seeds"]
                          if (folder / f"{m}_s{s}.json").exists()] for m in MODELS}
    res["folder"] = str(folder)
    return res


def load_or_run(preset: str = "cpu", scratch: str | Path | None = None) -> dict[str, Any]:
    """The committed results of ``preset`` if present; otherwise the ``smoke`` run in ``scratch`` (a temp dir)."""
    folder = committed_results(preset)
    if (folder / "summary.json").exists():
        return load_results(folder)
    import tempfile
    scratch = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="efftx_quant_"))
    run("smoke", scratch)
    return load_results(scratch)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.quant", description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None, help="sizes (default: $EFFTX_PRESET)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/quant_<preset>)")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    args = p.parse_args(argv)
    from ..presets import current_preset
    from ..timing import print_table
    models = tuple(m for m in args.models.split(",") if m)
    bad = [m for m in models if m not in MODELS]
    if bad:
        p.error(f"unknown model(s) {bad}; expected some of {list(MODELS)}")
    res = run(args.preset or current_preset(), args.out, argv=argv, models=models)
    if "aggregate" not in res:
        return 0
    print_table(res["aggregate"], ["model", "scheme", "metric", "seeds", "mean", "min", "max", "diff_fp32_mean",
                                   "diff_rtn_mean", "bytes"])
    print(f"experiment wall {res['experiment_wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
