"""Chapter 15's search: a weight-sharing supernet, AutoFormer's evolution under a FLOPs budget with three scorers,
the found architectures retrained, and one latency measurement of everything beside chapter 11's hand designs.

    python -m efftx_mini.experiments.search_supernet --preset {smoke,cpu,gpu} [--out DIR]

Needs the finished ground truth of :mod:`efftx_mini.experiments.search_truth` in the same folder (default
``chapters/results/search_<preset>``). Stages, each resumable (a rerun skips what is on disk):

1. ``supernet.pt`` (not committed) and ``supernet.json``: the supernet trained with one uniformly sampled
   sub-network per step for ``supernet_factor`` × the standalone budget (same recipe otherwise).
2. ``inherited.json``: the valid and test accuracy of each ground-truth architecture with inherited weights.
3. ``search_<scorer>.json``: the evolution under FLOPs ≤ ``flops_budget`` scored by the supernet (valid accuracy
   with inherited weights), by the best training-free proxy of the ground truth (at initialisation), or at random.
4. ``retrain/<scorer>_s<seed>.json``: each found architecture trained from scratch with the ground truth's recipe.
5. ``latency.json``: seconds per forward pass (batch 1 and batch 64) of the ground-truth architectures, the found
   ones and chapter 11's hand-designed models, all in the same randomised interleaved rounds.

Then ``search.csv`` (found and hand-designed models: FLOPs, parameters, latency, test accuracy mean and range) and
``search_summary.json``, with command, commit and hardware.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .. import pick, seed_everything
from ..datasets import load_digits
from ..search.correlation import rank_correlation
from ..search.evolution import evolve
from ..search.proxies import PROXIES
from ..search.space import Arch, SearchSpace, arch_params, build, closed_form_flops, measure_latency
from ..search.supernet import SuperViT, UniformSampling, inherited_accuracy
from ..vision import as_images, count_flops, parameters, train_classifier
from . import search_truth as truth
from . import vision as ch11
from .blocks import _write_csv, _write_json, provenance, read_csv

__all__ = ["Config", "config_for", "SCORERS", "HAND_DESIGNS", "best_proxy", "hand_models", "hand_results", "run",
           "load_results", "load_or_run", "main"]

SCORERS = ("supernet", "proxy", "random")
#: chapter 11's hand-designed models (trained with the same recipe, results in chapters/results/vision_<preset>).
#: Chapter 12's backbones join this list once their results are committed (name → builder of an untrained model).
HAND_DESIGNS = ("cnn", "vit", "vit-narrow", "pit", "minivit", "deit")


@dataclass(frozen=True)
class Config:
    supernet_factor: int  # supernet steps = factor × the standalone steps
    flops_budget: int
    population: int
    select: int
    mutation: int
    crossover: int
    generations: int
    search_seed: int
    retrain_seeds: tuple[int, ...]
    latency_repeats: int


def config_for(preset: str) -> Config:
    """``cpu``: a supernet for 4 standalone budgets, ~180 candidates per search, FLOPs ≤ 3.0 M (about chapter 11's
    PiT and narrow ViT), 3 retraining seeds."""
    return Config(
        supernet_factor=pick(smoke=2, cpu=4, gpu=4, preset=preset),
        flops_budget=pick(smoke=150_000, cpu=3_000_000, gpu=20_000_000, preset=preset),
        population=pick(smoke=6, cpu=20, gpu=50, preset=preset),
        select=pick(smoke=2, cpu=5, gpu=10, preset=preset),
        mutation=pick(smoke=2, cpu=8, gpu=25, preset=preset),
        crossover=pick(smoke=2, cpu=8, gpu=25, preset=preset),
        generations=pick(smoke=2, cpu=8, gpu=20, preset=preset),
        search_seed=0,
        retrain_seeds=pick(smoke=(0,), cpu=(0, 1, 2), gpu=(0, 1, 2), preset=preset),
        latency_repeats=pick(smoke=3, cpu=20, gpu=30, preset=preset),
    )


def best_proxy(truth_results: dict[str, Any]) -> tuple[str, float]:
    """The training-free proxy (not a baseline) with the highest signed τ against the mean test accuracy (init 0)."""
    acc = {r["arch"]: r["test_acc_mean"] for r in truth_results["archs"]}
    rows = [r for r in truth_results["proxies"] if r["init"] == min(p["init"] for p in truth_results["proxies"])]
    taus = {}
    for name in PROXIES:
        if name in ("params", "flops"):
            continue
        taus[name] = rank_correlation([r[name] for r in rows], [acc[r["arch"]] for r in rows], n_boot=1).tau
    name = max(taus, key=taus.__getitem__)
    return name, taus[name]


def _data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {s: (as_images(d.images), d.labels) for s in ("train", "valid", "test") for d in [load_digits(s)]}


def _check(path: Path, cfg: Config) -> dict[str, Any]:
    rec = json.loads(path.read_text())
    if rec.get("search_config") != json.loads(json.dumps(asdict(cfg))):
        raise ValueError(f"{path} was written with another config; use another --out or delete it")
    return rec


def supernet_stage(space: SearchSpace, tcfg: truth.Config, cfg: Config, out: Path, meta: dict[str, Any],
                   data: dict[str, Any]) -> tuple[SuperViT, dict[str, Any]]:
    """Train (or load) the supernet: uniform sampling, the standalone recipe, ``supernet_factor`` × its steps."""
    path, info = out / "supernet.pt", out / "supernet.json"
    seed_everything(0)
    sup = SuperViT(space)
    if path.exists() and info.exists():
        sup.load_state_dict(torch.load(path, weights_only=True))
        return sup, _check(info, cfg)
    steps = cfg.supernet_factor * tcfg.steps
    t0, c0 = time.perf_counter(), time.process_time()
    r = train_classifier(UniformSampling(sup, seed=0), *data["train"], steps=steps, batch=tcfg.batch, lr=tcfg.lr,
                         seed=0, warmup=tcfg.warmup, shift=tcfg.shift, eval_every=max(1, steps // 8))
    rec = {"steps": steps, "train_s": r["seconds"], "wall_s": round(time.perf_counter() - t0, 2),
           "cpu_s": round(time.process_time() - c0, 2), "curve": r["curve"], "search_config": asdict(cfg), **meta}
    torch.save(sup.state_dict(), path)
    _write_json(info, rec)
    return sup, rec


def _legal(space: SearchSpace, budget: int):  # noqa: ANN202
    return lambda a: closed_form_flops(a, space) <= budget


def _fitness(scorer: str, space: SearchSpace, sup: SuperViT, proxy: str, tcfg: truth.Config,
             data: dict[str, Any], seed: int):  # noqa: ANN202
    if scorer == "supernet":
        return lambda a: inherited_accuracy(sup, a, *data["valid"])
    if scorer == "proxy":
        batch = truth.proxy_batch(tcfg.proxy_batch)

        def f(a: Arch) -> float:
            seed_everything(min(tcfg.proxy_inits))
            return PROXIES[proxy](build(a, space), batch)
        return f
    if scorer == "random":  # a fixed pseudo-random number per architecture: evolution = random search
        return lambda a: zlib.crc32(f"{seed}:{a.key}".encode()) / 2**32
    raise ValueError(f"scorer must be one of {SCORERS}, got {scorer!r}")


def hand_models(preset: str) -> dict[str, torch.nn.Module]:
    """Untrained copies of chapter 11's hand designs (for FLOPs, parameters and latency)."""
    c = ch11.config_for(preset)
    return {v: ch11.build_model(v, c) for v in HAND_DESIGNS}


def hand_results(preset: str) -> dict[str, dict[str, Any]]:
    """Chapter 11's committed results of the hand designs on the full training set (variant → aggregate row)."""
    folder = ch11.committed_results(preset)
    if not (folder / "aggregate.csv").exists():
        return {}
    agg = ch11.load_results(folder)["aggregate"]
    n = max(r["n_train"] for r in agg)
    return {r["variant"]: r for r in agg if r["n_train"] == n and r["variant"] in HAND_DESIGNS}


def run(preset: str, out: str | Path | None = None, *, argv: list[str] | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Run (or resume) every stage; returns the summary."""
    cfg, tcfg = config_for(preset), truth.config_for(preset)
    out = Path(out if out is not None else truth.committed_results(preset))
    argv = argv if argv is not None else ["--preset", preset, "--out", str(out)]
    meta = provenance(preset, argv, 1)
    meta["command"] = meta["command"].replace("efftx_mini.experiments.blocks", "efftx_mini.experiments.search_supernet")
    gt = truth.load_results(out)
    space, archs = truth.archs_for(preset, tcfg)
    data = _data()
    say = print if verbose else (lambda *a, **k: None)

    sup, sup_rec = supernet_stage(space, tcfg, cfg, out, meta, data)
    say(f"supernet: {sup_rec['steps']} steps, {sup_rec['cpu_s']:.0f} CPU-s", flush=True)

    inh_path = out / "inherited.json"
    if inh_path.exists():
        inherited = _check(inh_path, cfg)
    else:
        rows = [{"arch": a.key, "valid_acc": inherited_accuracy(sup, a, *data["valid"]),
                 "test_acc": inherited_accuracy(sup, a, *data["test"])} for a in archs]
        inherited = {"rows": rows, "search_config": asdict(cfg), **meta}
        _write_json(inh_path, inherited)
    standalone = {r["arch"]: r for r in gt["archs"]}
    inh_corr = rank_correlation([r["valid_acc"] for r in inherited["rows"]],
                                [standalone[r["arch"]]["test_acc_mean"] for r in inherited["rows"]])
    say(f"inherited vs standalone: {inh_corr}", flush=True)

    proxy, proxy_tau = best_proxy(gt)
    found: dict[str, dict[str, Any]] = {}
    for scorer in SCORERS:
        path = out / f"search_{scorer}.json"
        if path.exists():
            found[scorer] = _check(path, cfg)
            continue
        res = evolve(space, _fitness(scorer, space, sup, proxy, tcfg, data, cfg.search_seed),
                     _legal(space, cfg.flops_budget), population=cfg.population, select=cfg.select,
                     mutation=cfg.mutation, crossover_n=cfg.crossover, generations=cfg.generations,
                     seed=cfg.search_seed)
        rec = {"scorer": scorer, "proxy": proxy if scorer == "proxy" else None, "best": res.best.key,
               "best_fitness": res.best_fitness, "evaluations": res.evaluations, "search_s": round(res.seconds, 2),
               "top_per_generation": res.generations, "scored": res.scored, "search_config": asdict(cfg), **meta}
        _write_json(path, rec)
        found[scorer] = rec
        say(f"search {scorer}: {res.best.key} ({res.evaluations} candidates, {res.seconds:.0f} s)", flush=True)

    (out / "retrain").mkdir(exist_ok=True)
    retrained: dict[str, list[dict[str, Any]]] = {}
    for scorer in SCORERS:
        retrained[scorer] = []
        for s in cfg.retrain_seeds:
            path = out / "retrain" / f"{scorer}_s{s}.json"
            if path.exists() and json.loads(path.read_text())["arch"] == found[scorer]["best"]:
                retrained[scorer].append(json.loads(path.read_text()))
                continue
            rec = {**truth.train_run(Arch.from_key(found[scorer]["best"]), space, s, tcfg, data), "scorer": scorer,
                   **meta}
            _write_json(path, rec)
            retrained[scorer].append(rec)
            say(f"retrain {scorer} seed {s}: test {rec['test_acc']:.3f}", flush=True)

    lat_path = out / "latency.json"
    if lat_path.exists():
        latency = json.loads(lat_path.read_text())
    else:
        models = {a.key: build(a, space) for a in archs}
        models.update({found[s]["best"]: build(Arch.from_key(found[s]["best"]), space) for s in SCORERS})
        models.update(hand_models(preset))
        latency = {"search_config": asdict(cfg), **meta}
        for b in (1, 64):
            x = torch.rand(b, space.channels, space.image_size, space.image_size,
                           generator=torch.Generator().manual_seed(0))
            latency[f"batch{b}"] = measure_latency(models, x, repeats=cfg.latency_repeats)
        _write_json(lat_path, latency)

    hand = hand_results(preset)
    rows = []
    probe = torch.zeros(2, space.channels, space.image_size, space.image_size)
    for scorer in SCORERS:
        a = Arch.from_key(found[scorer]["best"])
        accs = [r["test_acc"] for r in retrained[scorer]]
        cost = found[scorer]["search_s"] + (sup_rec["train_s"] if scorer == "supernet" else 0.0)
        rows.append({"model": f"search:{scorer}", "arch": a.key, "flops": closed_form_flops(a, space),
                     "params": arch_params(a, space), "latency_ms": 1e3 * latency["batch1"][a.key]["median"],
                     "latency64_ms": 1e3 * latency["batch64"][a.key]["median"],
                     "test_acc_mean": sum(accs) / len(accs), "test_acc_min": min(accs), "test_acc_max": max(accs),
                     "seeds": len(accs), "search_s": round(cost, 1), "evaluations": found[scorer]["evaluations"]})
    for name, m in hand_models(preset).items():
        h = hand.get(name, {})
        rows.append({"model": name, "arch": "", "flops": count_flops(m, probe), "params": parameters(m),
                     "latency_ms": 1e3 * latency["batch1"][name]["median"],
                     "latency64_ms": 1e3 * latency["batch64"][name]["median"],
                     "test_acc_mean": h.get("test_acc_mean"), "test_acc_min": h.get("test_acc_min"),
                     "test_acc_max": h.get("test_acc_max"), "seeds": h.get("seeds"), "search_s": "",
                     "evaluations": ""})
    summary = {"config": asdict(cfg), **meta, "proxy": proxy, "proxy_tau": proxy_tau,
               "inherited_corr": inh_corr.as_dict(), "supernet_train_s": sup_rec["train_s"],
               "supernet_cpu_s": sup_rec["cpu_s"], "supernet_steps": sup_rec["steps"],
               "standalone_train_s_mean": gt["summary"]["train_s_mean"], "rows": rows}
    _write_csv(out / "search.csv", rows, SEARCH_COLUMNS, meta)
    _write_json(out / "search_summary.json", summary)
    return summary


SEARCH_COLUMNS = ["model", "arch", "flops", "params", "latency_ms", "latency64_ms", "test_acc_mean", "test_acc_min",
                  "test_acc_max", "seeds", "search_s", "evaluations"]


def load_results(folder: str | Path) -> dict[str, Any]:
    """search rows and provenance, the summary, the inherited accuracies, the latency and each search's record."""
    folder = Path(folder)
    rows, meta = read_csv(folder / "search.csv")
    return {"rows": rows, "meta": meta, "summary": json.loads((folder / "search_summary.json").read_text()),
            "inherited": json.loads((folder / "inherited.json").read_text())["rows"],
            "latency": json.loads((folder / "latency.json").read_text()),
            "supernet": json.loads((folder / "supernet.json").read_text()),
            "searches": {s: json.loads((folder / f"search_{s}.json").read_text()) for s in SCORERS}}


def load_or_run(preset: str = "cpu", scratch: str | Path | None = None) -> dict[str, Any]:
    """{"truth": ..., "search": ...}: the committed results of ``preset`` when complete; otherwise both experiments
    run at ``smoke`` size into ``scratch`` (a temporary folder by default) and are read from there."""
    folder = truth.committed_results(preset)
    if not (folder / "search_summary.json").exists():
        import tempfile
        folder = Path(scratch) if scratch is not None else Path(tempfile.mkdtemp(prefix="efftx_search_"))
        truth.run("smoke", folder)
        run("smoke", folder)
    return {"truth": truth.load_results(folder), "search": load_results(folder), "folder": str(folder)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.experiments.search_supernet",
                                description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None, help="sizes (default: $EFFTX_PRESET)")
    p.add_argument("--out", default=None, help="results folder (default chapters/results/search_<preset>)")
    args = p.parse_args(argv)
    from ..presets import current_preset
    preset = args.preset or current_preset()
    res = run(preset, args.out, argv=argv, verbose=True)
    from ..timing import print_table
    print_table(res["rows"], SEARCH_COLUMNS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
