"""Chapter 15's search: a weight-sharing supernet, AutoFormer's evolution under a FLOPs budget with three scorers,
the found architectures retrained, and one latency measurement of everything beside the hand designs of chapters 11
and 12.

    python -m efftx_mini.experiments.search_supernet --preset {smoke,cpu,gpu} [--out DIR]

Needs the finished ground truth of :mod:`efftx_mini.experiments.search_truth` in the same folder (default
``chapters/results/search_<preset>``). Stages, each resumable (a rerun skips what is on disk):

1. ``supernet.pt`` (not committed) and ``supernet.json``: the supernet trained with one uniformly sampled
   sub-network per step for ``supernet_factor`` × the standalone budget (same recipe otherwise). Needed only while
   stage 2 or 3 has files to write; when it has to be retrained (``supernet.pt`` missing), stages 2 and 3 are
   recomputed from the new weights.
2. ``inherited.json``: the valid and test accuracy of each ground-truth architecture with inherited weights.
3. ``search_<scorer>.json``: the evolution under FLOPs ≤ ``flops_budget`` scored by the supernet (valid accuracy
   with inherited weights), by the best training-free proxy of the ground truth (at initialisation), or at random;
   with its wall and CPU seconds.
4. ``retrain/<scorer>_s<seed>.json``: each found architecture trained from scratch with the ground truth's recipe.
5. ``latency.json``: seconds per forward pass (batch 1 and batch 64) of the ground-truth architectures, the found
   ones and the hand-designed models of :data:`HAND_DESIGNS`, all in the same randomised interleaved rounds
   (measured again whenever that set of models changes).

Then ``search.csv`` (found and hand-designed models: FLOPs, parameters, latency, test accuracy mean and range, and
for the finds the search's cost in process CPU-seconds and in wall-clock seconds, the supernet's training included)
and ``search_summary.json``, with command, commit and hardware. Run it with one thread (``OMP_NUM_THREADS=1``) as the
committed results were.

    torchrun --nproc_per_node=gpu -m efftx_mini.experiments.search_supernet --preset gpu

Under torchrun rank 0 trains the supernet and searches while the others wait for the searches' files; the
retraining runs (scorer × seed) are shared out over the ranks; rank 0 merges them and times the latency. Training
runs on :func:`efftx_mini.device`, the latency is the CPU's. ``EFFTX_DRY_RUN=1`` with ``--preset gpu``: the
``gpu`` space and supernet for a few steps and a one-generation search into a scratch folder
(:mod:`efftx_mini.dryrun`); :func:`footprints` gives the supernet's memory.
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

from .. import device as _device
from .. import distributed as D
from .. import dryrun, pick, seed_everything
from ..datasets import load_digits
from ..footprint import Footprint, classifier_footprint
from ..search.correlation import rank_correlation
from ..search.evolution import evolve
from ..search.proxies import PROXIES
from ..search.space import Arch, SearchSpace, arch_params, build, closed_form_flops, measure_latency
from ..search.supernet import SuperViT, UniformSampling, inherited_accuracy
from ..vision import as_images, count_flops, parameters, train_classifier
from . import backbones as ch12
from . import search_truth as truth
from . import vision as ch11
from .blocks import _write_csv, _write_json, provenance, read_csv

__all__ = ["Config", "config_for", "SCORERS", "HAND_DESIGNS", "best_proxy", "hand_models", "hand_results", "run",
           "load_results", "load_or_run", "main", "footprints"]

SCORERS = ("supernet", "proxy", "random")
#: the hand-designed models set beside the finds (name → chapter): chapter 11's (``experiments.vision``, results in
#: chapters/results/vision_<preset>) and chapter 12's backbones (``experiments.backbones``, results in
#: chapters/results/backbones_<preset>), all trained with chapter 11's recipe on the same 4,000 digits
#: (``tests/test_experiment_search.py`` checks that the recipes agree).
HAND_DESIGNS: dict[str, int] = {"cnn": 11, "vit": 11, "vit-narrow": 11, "pit": 11, "minivit": 11, "deit": 11,
                                "swin": 12, "mobilevit": 12, "efficientvit": 12}


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
        supernet_factor=pick(smoke=2, cpu=4, gpu=4, dry=1, preset=preset),
        flops_budget=pick(smoke=150_000, cpu=3_000_000, gpu=20_000_000, preset=preset),
        population=pick(smoke=6, cpu=20, gpu=50, dry=4, preset=preset),
        select=pick(smoke=2, cpu=5, gpu=10, dry=2, preset=preset),
        mutation=pick(smoke=2, cpu=8, gpu=25, dry=2, preset=preset),
        crossover=pick(smoke=2, cpu=8, gpu=25, dry=2, preset=preset),
        generations=pick(smoke=2, cpu=8, gpu=20, dry=1, preset=preset),
        search_seed=0,
        retrain_seeds=pick(smoke=(0,), cpu=(0, 1, 2), gpu=(0, 1, 2), dry=(0, 1), preset=preset),
        latency_repeats=pick(smoke=3, cpu=20, gpu=30, dry=2, preset=preset),
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
                   data: dict[str, Any]) -> tuple[SuperViT, dict[str, Any], bool]:
    """Train (or load) the supernet: uniform sampling, the standalone recipe, ``supernet_factor`` × its steps.
    Returns the supernet, its record and whether it was trained now."""
    path, info = out / "supernet.pt", out / "supernet.json"
    seed_everything(0)
    sup = SuperViT(space).to(_device())
    if path.exists() and info.exists():
        sup.load_state_dict(torch.load(path, map_location=_device(), weights_only=True))
        return sup, _check(info, cfg), False
    steps = cfg.supernet_factor * tcfg.steps
    t0, c0 = time.perf_counter(), time.process_time()
    r = train_classifier(UniformSampling(sup, seed=0), *data["train"], steps=steps, batch=tcfg.batch, lr=tcfg.lr,
                         seed=0, warmup=tcfg.warmup, shift=tcfg.shift, eval_every=max(1, steps // 8))
    rec = {"steps": steps, "train_s": r["seconds"], "wall_s": round(time.perf_counter() - t0, 2),
           "cpu_s": round(time.process_time() - c0, 2), "curve": r["curve"], "search_config": asdict(cfg), **meta}
    if dryrun.active():
        dryrun.check_finite(r["curve"], "search_supernet supernet.json")
    torch.save(sup.state_dict(), path)
    _write_json(info, rec)
    dryrun.saved()
    return sup, rec, True


def _search_done(path: Path, cfg: Config) -> bool:
    """A search record of this config that has its CPU seconds (older records have wall seconds only)."""
    return path.exists() and "search_cpu_s" in _check(path, cfg)


def _retrain(found: dict[str, dict[str, Any]], cfg: Config, tcfg: truth.Config, space: SearchSpace,
             data: dict[str, Any], out: Path, meta: dict[str, Any], dinfo: D.DistInfo, say: Any) -> None:
    """This rank's share of the retraining runs (scorer × seed) not on disk yet, each to its own file."""
    (out / "retrain").mkdir(exist_ok=True)
    for scorer, s in D.share([(sc, s) for sc in SCORERS for s in cfg.retrain_seeds], dinfo):
        path = out / "retrain" / f"{scorer}_s{s}.json"
        if path.exists() and json.loads(path.read_text())["arch"] == found[scorer]["best"]:
            continue
        rec = {**truth.train_run(Arch.from_key(found[scorer]["best"]), space, s, tcfg, data), "scorer": scorer,
               **meta}
        if dryrun.active():
            dryrun.check_finite({k: rec[k] for k in ("valid_acc", "test_acc", "train_loss")}, f"retrain {path.name}")
        _write_json(path, rec)
        dryrun.saved()
        say(f"retrain {scorer} seed {s}: test {rec['test_acc']:.3f}", flush=True)


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
    """Untrained copies of the hand designs of chapters 11 and 12 (for FLOPs, parameters and latency)."""
    c11, c12 = ch11.config_for(preset), ch12.config_for(preset)
    return {v: ch11.build_model(v, c11) if ch == 11 else ch12.build_model(v, c12) for v, ch in HAND_DESIGNS.items()}


def hand_results(preset: str) -> dict[str, dict[str, Any]]:
    """The committed results of the hand designs (variant → aggregate row): chapter 11's on its full training set,
    chapter 12's backbones; a chapter whose results are missing contributes nothing."""
    out: dict[str, dict[str, Any]] = {}
    folder = ch11.committed_results(preset)
    if (folder / "aggregate.csv").exists():
        agg = ch11.load_results(folder)["aggregate"]
        n = max(r["n_train"] for r in agg)
        out.update({r["variant"]: r for r in agg if r["n_train"] == n and HAND_DESIGNS.get(r["variant"]) == 11})
    folder = ch12.committed_results(preset)
    if (folder / "aggregate.csv").exists():
        agg = read_csv(folder / "aggregate.csv")[0]
        out.update({r["variant"]: r for r in agg if HAND_DESIGNS.get(r["variant"]) == 12})
    return out


def run(preset: str, out: str | Path | None = None, *, argv: list[str] | None = None,
        verbose: bool = False, wait_s: float = 86_400.0) -> dict[str, Any]:
    """Run (or resume) every stage; returns the summary (under torchrun the ranks other than 0 return
    ``{"partial": True}`` after their share of the retraining)."""
    cfg, tcfg = config_for(preset), truth.config_for(preset)
    out = dryrun.results_dir("search", preset, out, truth.committed_results(preset))
    argv = argv if argv is not None else ["--preset", preset, "--out", str(out)]
    dinfo = D.info()
    meta = provenance(preset, argv, dinfo.world_size)
    meta["command"] = meta["command"].replace("efftx_mini.experiments.blocks", "efftx_mini.experiments.search_supernet")
    gt = truth.load_results(out)
    space, archs = truth.archs_for(preset, tcfg)
    data = _data()
    say = print if verbose else (lambda *a, **k: None)

    if not dinfo.is_main:  # the supernet and the searches are rank 0's; the retraining is shared
        if not D.wait_for([out / f"search_{s}.json" for s in SCORERS], wait_s):
            return {"partial": True}
        found = {s: _check(out / f"search_{s}.json", cfg) for s in SCORERS}
        _retrain(found, cfg, tcfg, space, data, out, meta, dinfo, say)
        return {"partial": True}

    inh_path = out / "inherited.json"
    need_sup = not inh_path.exists() or not all(_search_done(out / f"search_{s}.json", cfg) for s in SCORERS)
    sup, fresh = None, False
    if need_sup:
        sup, sup_rec, fresh = supernet_stage(space, tcfg, cfg, out, meta, data)
    else:
        sup_rec = _check(out / "supernet.json", cfg)
    say(f"supernet: {sup_rec['steps']} steps, {sup_rec['cpu_s']:.0f} CPU-s", flush=True)

    if inh_path.exists() and not fresh:
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
        if _search_done(path, cfg) and not fresh:
            found[scorer] = _check(path, cfg)
            continue
        res = evolve(space, _fitness(scorer, space, sup, proxy, tcfg, data, cfg.search_seed),
                     _legal(space, cfg.flops_budget), population=cfg.population, select=cfg.select,
                     mutation=cfg.mutation, crossover_n=cfg.crossover, generations=cfg.generations,
                     seed=cfg.search_seed)
        rec = {"scorer": scorer, "proxy": proxy if scorer == "proxy" else None, "best": res.best.key,
               "best_fitness": res.best_fitness, "evaluations": res.evaluations, "search_s": round(res.seconds, 2),
               "search_cpu_s": round(res.cpu_seconds, 2),
               "top_per_generation": res.generations, "scored": res.scored, "search_config": asdict(cfg), **meta}
        _write_json(path, rec)
        dryrun.saved()
        found[scorer] = rec
        say(f"search {scorer}: {res.best.key} ({res.evaluations} candidates, {res.cpu_seconds:.0f} CPU-s)",
            flush=True)

    _retrain(found, cfg, tcfg, space, data, out, meta, dinfo, say)
    if not D.wait_for([out / "retrain" / f"{sc}_s{s}.json" for sc in SCORERS for s in cfg.retrain_seeds], wait_s):
        return {"partial": True}
    retrained = {sc: [json.loads((out / "retrain" / f"{sc}_s{s}.json").read_text()) for s in cfg.retrain_seeds]
                 for sc in SCORERS}
    for sc in SCORERS:
        if any(r["arch"] != found[sc]["best"] for r in retrained[sc]):
            raise ValueError(f"{out / 'retrain'}: a {sc} run retrained another architecture than the search found")

    lat_path = out / "latency.json"
    models = {a.key: build(a, space) for a in archs}
    models.update({found[s]["best"]: build(Arch.from_key(found[s]["best"]), space) for s in SCORERS})
    models.update(hand_models(preset))
    latency = json.loads(lat_path.read_text()) if lat_path.exists() else {}
    if set(latency.get("batch1", {})) != set(models):  # missing, or another set of models: all again, together
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
        # the search's cost, the supernet's training included: process CPU-seconds and wall-clock seconds
        cpu = found[scorer]["search_cpu_s"] + (sup_rec["cpu_s"] if scorer == "supernet" else 0.0)
        wall = found[scorer]["search_s"] + (sup_rec["wall_s"] if scorer == "supernet" else 0.0)
        rows.append({"model": f"search:{scorer}", "arch": a.key, "flops": closed_form_flops(a, space),
                     "params": arch_params(a, space), "latency_ms": 1e3 * latency["batch1"][a.key]["median"],
                     "latency64_ms": 1e3 * latency["batch64"][a.key]["median"],
                     "test_acc_mean": sum(accs) / len(accs), "test_acc_min": min(accs), "test_acc_max": max(accs),
                     "seeds": len(accs), "search_cpu_s": round(cpu, 1), "search_wall_s": round(wall, 1),
                     "evaluations": found[scorer]["evaluations"]})
    for name, m in hand_models(preset).items():
        h = hand.get(name, {})
        rows.append({"model": name, "arch": "", "flops": count_flops(m, probe), "params": parameters(m),
                     "latency_ms": 1e3 * latency["batch1"][name]["median"],
                     "latency64_ms": 1e3 * latency["batch64"][name]["median"],
                     "test_acc_mean": h.get("test_acc_mean"), "test_acc_min": h.get("test_acc_min"),
                     "test_acc_max": h.get("test_acc_max"), "seeds": h.get("seeds"), "search_cpu_s": "",
                     "search_wall_s": "", "evaluations": ""})
    summary = {"config": asdict(cfg), **meta, "proxy": proxy, "proxy_tau": proxy_tau,
               "inherited_corr": inh_corr.as_dict(), "supernet_train_s": sup_rec["train_s"],
               "supernet_cpu_s": sup_rec["cpu_s"], "supernet_wall_s": sup_rec["wall_s"],
               "supernet_steps": sup_rec["steps"],
               "standalone_train_s_mean": gt["summary"]["train_s_mean"], "rows": rows}
    _write_csv(out / "search.csv", rows, SEARCH_COLUMNS, meta)
    _write_json(out / "search_summary.json", summary)
    return summary


def footprints(preset: str = "gpu") -> dict[str, Footprint]:
    """Memory of one supernet training step at the full batch (fp32 as the loop trains, AdamW), traced on fake
    tensors: the full supernet's weights and optimizer state, the activations of its largest sub-network (an
    upper bound for the uniformly sampled one)."""
    with dryrun.full_sizes():
        tcfg = truth.config_for(preset)
        space = truth.space_for(preset)
    shape = (space.channels, space.image_size, space.image_size)
    return {f"supernet, largest sub-network (batch {tcfg.batch})": classifier_footprint(
        lambda: UniformSampling(SuperViT(space)).eval(), tcfg.batch, shape, space.n_classes, amp_dtype=None)}


SEARCH_COLUMNS = ["model", "arch", "flops", "params", "latency_ms", "latency64_ms", "test_acc_mean", "test_acc_min",
                  "test_acc_max", "seeds", "search_cpu_s", "search_wall_s", "evaluations"]


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
