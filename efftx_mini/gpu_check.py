"""``make gpu-check``: the lab server's ``gpu`` preset rehearsed on this machine, with or without a GPU.

    python -m efftx_mini.gpu_check [--chapters 01,06] [--experiments blocks,gqa] [--no-torchrun] [--no-footprints]

For every chapter (the English edition: the Korean one runs the same code cells) and every experiment:

1. **Dry run** (``EFFTX_PRESET=gpu EFFTX_DRY_RUN=1``, :mod:`efftx_mini.dryrun`): models and data at the ``gpu``
   sizes, a step or two (the ``dry=`` values of :func:`efftx_mini.pick`); every optimizer step is counted and its
   weights checked finite; a chapter cell that writes to stderr fails it, as it would fail the book's build.
2. **Resume and distribution** (experiments): run once into a scratch folder; run again and check that nothing
   is retrained (0 optimizer steps: every finished run is read back); then ``torchrun --nproc_per_node=2`` (Gloo on
   the CPU) with rank 1 killed after its first save (``EFFTX_DRY_KILL=1:1``), the same command again to resume, and
   the merged results files compared with the single process's (same files; the same numbers up to float noise,
   timings and provenance aside).
3. **Memory** at the full ``gpu`` batch: each experiment's ``footprints("gpu")`` and, per chapter, its largest live
   configurations (:data:`CHAPTERS`, sizes read from the chapter's own ``pick(..., gpu=...)`` cells), each a
   training step traced on fake tensors (:func:`efftx_mini.footprint.trace_step`), compared with a 24 GB A5000 and
   an 80 GB H100 (plus 1 GiB of CUDA context). On the CPU the trace takes attention's math path, which keeps the
   T×T matrices that CUDA's fused kernels do not: for attention the estimate is an upper bound.

Prints the table and writes it to ``chapters/results/gpu_check/gpu_check.{json,md}`` with command, commit and
hardware (``--out`` elsewhere). Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import ast
import csv
import datetime as _dt
import io
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .footprint import GPU_MEMORY_GIB, Footprint, classifier_footprint, lm_footprint, trace_step
from .presets import pick
from .provenance import git_commit, hardware

__all__ = ["CHAPTERS", "EXPERIMENTS", "chapter_sizes", "chapter_footprints", "experiment_footprints",
           "run_chapter", "run_experiment", "compare_folders", "main"]

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_DIR = ROOT / "chapters" / "en"
OUT = ROOT / "chapters" / "results" / "gpu_check"

#: experiment → the modules it runs, in order, into one folder (search_supernet reads search_truth's results)
EXPERIMENTS: dict[str, tuple[str, ...]] = {
    "blocks": ("blocks",), "gqa": ("gqa",), "lra": ("lra",), "vision": ("vision",), "backbones": ("backbones",),
    "compress": ("compress",), "quant": ("quant",), "search": ("search_truth", "search_supernet"),
}


# ----------------------------------------------------------------------------------------------- sizes of a chapter
def _chapter_path(stem: str) -> Path:
    hits = sorted(CHAPTER_DIR.glob(f"{stem}*.md"))
    if len(hits) != 1:
        raise ValueError(f"no single chapter matches {stem!r} in {CHAPTER_DIR}: {[p.name for p in hits]}")
    return hits[0]


def chapter_sizes(stem: str) -> dict[str, Any]:
    """The constants a chapter's code cells define at top level, at the full ``gpu`` preset: ``NAME = literal`` and
    ``A, B = literal, literal`` as written, ``NAME = pick(..., gpu=literal, ...)`` as its ``gpu=`` value (the dry
    run's ``dry=`` value is not used). So the memory estimate reads the sizes the chapter itself runs with."""
    import jupytext

    sizes: dict[str, Any] = {}
    for cell in jupytext.read(_chapter_path(stem)).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if not isinstance(node, ast.Assign) or len(node.targets) != 1:
                continue
            target, value = node.targets[0], node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "pick":
                value = next((kw.value for kw in value.keywords if kw.arg == "gpu"), None)
                if value is None:
                    continue
            try:
                v = ast.literal_eval(value)
            except ValueError:  # arithmetic on earlier constants, e.g. VOCAB = 3 + N_SYMBOLS
                if not all(isinstance(n, (ast.Expression, ast.BinOp, ast.operator, ast.Constant, ast.Name, ast.Load,
                                          ast.Tuple)) for n in ast.walk(ast.Expression(value))):
                    continue
                try:
                    v = eval(compile(ast.Expression(value), "<chapter>", "eval"), {"__builtins__": {}}, dict(sizes))
                except Exception:  # noqa: BLE001 - a name the chapter computes at run time: not a constant
                    continue
            if isinstance(target, ast.Name):
                sizes[target.id] = v
            elif isinstance(target, ast.Tuple) and isinstance(v, tuple) and len(v) == len(target.elts):
                sizes.update({t.id: x for t, x in zip(target.elts, v, strict=True) if isinstance(t, ast.Name)})
    return sizes


# ----------------------------------------------------------------------------------------------- chapters' memory
def _ch01() -> dict[str, Footprint]:
    from .transformer import Transformer

    s = chapter_sizes("01")
    V = 3 + 18  # <pad>, <s>, </s> and the 18 words of the reversal task

    def loss(m: torch.nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        logits = m(b[0], b[1][:, :-1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V), b[1][:, 1:].reshape(-1))

    return {f"reversal transformer (batch {s['BATCH']})": trace_step(
        lambda: Transformer(V, V, d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.0),
        lambda: (torch.randint(3, V, (s["BATCH"], s["LEN"])), torch.randint(0, V, (s["BATCH"], s["LEN"] + 2))),
        loss)}


def _tiny(stem: str, vocab: int, n_out: int, T: int, **kw: Any) -> dict[str, Footprint]:
    from .tiny import TinyEncoder

    s = chapter_sizes(stem)

    def loss(m: torch.nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        logits = m(b[0])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), b[1].reshape(-1))

    kw = {"n_heads": 1, **kw}
    return {f"tiny encoder (batch {s['BATCH']}, T {T})": trace_step(
        lambda: TinyEncoder(vocab, n_out, s.get("D_MODEL", 32), **kw),
        lambda: (torch.randint(0, vocab, (s["BATCH"], T)), torch.randint(0, n_out, (s["BATCH"],))), loss)}


def _ch02() -> dict[str, Footprint]:
    from .toytasks import kv_vocab_size

    s = chapter_sizes("02")
    return _tiny("02", kv_vocab_size(s["N_KEYS"], s["N_VALUES"]), s["N_VALUES"], s["N_PAIRS"] + 1, readout="last")


def _ch03() -> dict[str, Footprint]:
    s = chapter_sizes("03")
    return _tiny("03", s["VOCAB"], 2, max(s["TEST_LENGTHS"]), n_heads=s["N_HEADS"], n_layers=s["N_LAYERS"],
                 d_ff=2 * s["D_MODEL"], positional="learned", max_len=s["MAX_LEN"], readout="mean")


def _ch04() -> dict[str, Footprint]:
    """The training runs (the gradient study's deeper stacks take one backward pass each, no optimizer state)."""
    from .transformer import Transformer

    s = chapter_sizes("04")
    V, d, n = s["VOCAB"], s["D_MODEL"], s["TRAIN_LAYERS"]

    def loss(m: torch.nn.Module, b: torch.Tensor) -> torch.Tensor:  # src, tgt_in and tgt_out of one length
        logits = m(b, b)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V), b.reshape(-1))

    return {f"training runs: {n}+{n} layers, d {d} (batch {s['BATCH']})": trace_step(
        lambda: Transformer(V, V, d, s["N_HEADS"], n, 4 * d, dropout=0.0),
        lambda: torch.randint(3, V, (s["BATCH"], s["SEQ_LEN"])), loss)}


def _train_config(task: str) -> dict[str, Footprint]:
    from . import dryrun
    from .train import TrainConfig, Trainer

    with dryrun.full_sizes():
        cfg = TrainConfig.preset(task, "gpu")
    tr = Trainer(cfg, device=torch.device("cpu"), progress=False, tensorboard=False)
    batch = tr.stream.batch(0)
    V_src, V_tgt = tr.model.src_embed.num_embeddings, tr.model.tgt_embed.num_embeddings

    def build() -> torch.nn.Module:
        from .transformer import Transformer

        return Transformer(V_src, V_tgt, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, dropout=cfg.dropout)

    def data() -> tuple[torch.Tensor, ...]:  # the real batch's shapes, as fresh tensors
        return (torch.randint(3, V_src, tuple(batch.src.shape)), torch.randint(3, V_tgt, tuple(batch.tgt_in.shape)),
                torch.randint(3, V_tgt, tuple(batch.tgt_out.shape)))

    def loss(m: torch.nn.Module, b: tuple[torch.Tensor, ...]) -> torch.Tensor:
        logits = m(b[0], b[1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V_tgt), b[2].reshape(-1))

    return {f"{task}: d {cfg.d_model}, {cfg.n_layers}+{cfg.n_layers} layers (batch {cfg.batch_size})":
            trace_step(build, data, loss)}


def _ch05() -> dict[str, Footprint]:
    return {**_train_config("copy"), **_train_config("numbers")}


def _ch06() -> dict[str, Footprint]:
    from .experiments import gqa

    return {k: v for k, v in gqa.footprints("gpu").items() if k.startswith(("MHA ", "LLaMA"))}


def _block_stack(stem: str, names: tuple[str, ...]) -> dict[str, Footprint]:
    from .blocks import get_block

    s = chapter_sizes(stem)
    D, H, T, B, L = s["D"], s["H"], s["T"], s["BATCH"], s["LAYERS"]
    out = {}
    for name in names:
        def build(name: str = name) -> torch.nn.Module:
            cls = get_block(name)
            return torch.nn.Sequential(*(cls(D, H, 4 * D, causal=True, layer_idx=i, n_layers=L) for i in range(L)))

        out[f"{L} {name} blocks, d {D} (batch {B}×{T})"] = trace_step(
            build, lambda: torch.randn(B, T, D), lambda m, x: m(x).float().square().mean(), amp_dtype=None)
    return out


def _ch07() -> dict[str, Footprint]:
    return _block_stack("07", ("pre-ln", "parallel"))


def _ch08() -> dict[str, Footprint]:
    return _block_stack("08", ("pre-ln", "sas-p"))


def _ch09() -> dict[str, Footprint]:
    from .corpus import VOCAB_SIZE
    from .efficient import EfficientPreLNBlock
    from .lm import DecoderOnlyLM

    T = chapter_sizes("09")["T_MODEL"]
    out = {}
    for name, kw in (("explicit", {"attention": "softmax", "ffn_chunk": None}),
                     ("blockwise", {"attention": "blockwise", "ffn_chunk": 256})):
        out[f"2-layer LM, d 128, {name} attention (batch 1×{T}, fp32)"] = lm_footprint(
            lambda kw=kw: DecoderOnlyLM(EfficientPreLNBlock, VOCAB_SIZE, 128, 4, 2, 512, T, block_kwargs=kw), 1, T,
            VOCAB_SIZE, amp_dtype=None)
    return out


def _ch11() -> dict[str, Footprint]:
    from .vision import ViT

    s = chapter_sizes("11")
    return {f"ViT d {s['D']}, {s['DEPTH']} blocks (batch 64, 28×28)": classifier_footprint(
        lambda: ViT(28, s["P"], 1, 10, s["D"], s["DEPTH"], s["HEADS"], s["D_FF"]), 64, (1, 28, 28), 10,
        amp_dtype=None)}


def _ch14() -> dict[str, Footprint]:
    from .experiments import gqa

    return {k: v for k, v in gqa.footprints("gpu").items() if k.startswith("MHA ")}


#: chapter → its largest live training configurations at the ``gpu`` preset (None: nothing trains at ``gpu`` size
#: there; the chapter reads committed results)
CHAPTERS: dict[str, Callable[[], dict[str, Footprint]] | None] = {
    "01": _ch01, "02": _ch02, "03": _ch03, "04": _ch04, "05": _ch05, "06": _ch06, "07": _ch07, "08": _ch08,
    "09": _ch09, "10": None, "11": _ch11, "12": None, "13": None, "14": _ch14, "15": None,
}


def chapter_footprints(stem: str) -> dict[str, Footprint]:
    fn = CHAPTERS.get(stem)
    return {} if fn is None else fn()


def experiment_footprints(name: str) -> dict[str, Footprint]:
    import importlib

    out: dict[str, Footprint] = {}
    for mod in EXPERIMENTS[name]:
        out.update(importlib.import_module(f"efftx_mini.experiments.{mod}").footprints("gpu"))
    return out


# ----------------------------------------------------------------------------------------------- running chapters
def _dry_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(EFFTX_PRESET="gpu", EFFTX_DRY_RUN="1", TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("MPLBACKEND", None)
    for k in ("EFFTX_DRY_KILL", "EFFTX_DRY_STATS", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(k, None)
    env.update(extra or {})
    return env


STATS_CELL = "import json as _j, efftx_mini.dryrun as _d\nprint('EFFTX_DRY_STATS ' + _j.dumps(_d.stats()))"


def run_chapter(stem: str, timeout: float = 1800.0, save_to: Path | None = None) -> dict[str, Any]:
    """Execute the English chapter under the dry run (cwd = its folder, as the book runs it); steps, seconds and
    what failed. ``save_to``: where the executed notebook goes (with the failing cell's traceback)."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    path = _chapter_path(stem)
    nb = jupytext.read(path)
    nb.cells.append(nbformat.v4.new_code_cell(STATS_CELL))
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(_dry_env())
    t0 = time.perf_counter()
    row: dict[str, Any] = {"name": f"chapter {path.stem}", "kind": "chapter", "steps": None, "ok": True,
                           "problem": ""}
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as e:  # noqa: BLE001 - the failing cell's error is the result
        row.update(ok=False, problem=_first_line(f"{type(e).__name__}: {e}", 400))
    finally:
        os.environ.clear()
        os.environ.update(old)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    if save_to is not None:
        nbformat.write(nb, save_to)
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr" and row["ok"]:
                row.update(ok=False, problem=f"cell {i} wrote to stderr (the build would fail): "
                                             + _first_line(o.get("text", ""), 300))
            if o.get("output_type") == "stream" and "EFFTX_DRY_STATS " in o.get("text", ""):
                stats = json.loads(o["text"].split("EFFTX_DRY_STATS ", 1)[1].splitlines()[0])
                row["steps"] = stats["optimizer_steps"]
    return row


def _first_line(text: str, n: int) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # ANSI colours of a traceback
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    picked = next((ln for ln in reversed(lines) if re.match(r"^\w+(Error|Exception)\b", ln)), lines[-1] if lines
                  else "")
    return picked[:n]


# ----------------------------------------------------------------------------------------------- running experiments
def _steps(stats_file: Path) -> int:
    total = 0
    for p in [stats_file, *stats_file.parent.glob(stats_file.name + ".rank*")]:
        if p.exists():
            total += json.loads(p.read_text())["optimizer_steps"]
    return total


def _run(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> int:
    with log.open("a") as f:
        f.write(f"$ {shlex.join(cmd)}\n")
        f.flush()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
            return proc.returncode
        except subprocess.TimeoutExpired:
            f.write(f"timed out after {timeout} s\n")
            return 124


def run_experiment(name: str, work: Path, *, torchrun: bool = True, timeout: float = 3600.0,
                   extra_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """Dry-run one experiment: single process, rerun (nothing retrained), torchrun ×2 with rank 1 killed, resume,
    and the merged files against the single process's. ``extra_args`` go to every command (e.g. a subset of
    tasks)."""
    mods = EXPERIMENTS[name]
    single, dist = work / f"{name}_single", work / f"{name}_torchrun"
    log = work / f"{name}.log"
    row: dict[str, Any] = {"name": f"experiment {name}", "kind": "experiment", "ok": True, "problem": ""}

    def launch(out: Path, tag: str, nproc: int = 1, kill: str | None = None) -> tuple[int, int]:
        stats = work / f"{name}_{tag}.stats"
        env = _dry_env({"EFFTX_DRY_STATS": str(stats), "OMP_NUM_THREADS": "1"})
        if kill:
            env["EFFTX_DRY_KILL"] = kill
        rc = 0
        for mod in mods:
            args = ["-m", f"efftx_mini.experiments.{mod}", "--preset", "gpu", "--out", str(out), *extra_args]
            if nproc == 1:
                cmd = [sys.executable, *args]
            else:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                       *args]
            rc = _run(cmd, env, log, timeout)
            if rc:
                break
        return rc, _steps(stats)

    t0 = time.perf_counter()
    rc, steps = launch(single, "single")
    row.update(seconds=round(time.perf_counter() - t0, 1), steps=steps)
    if rc:
        row.update(ok=False, problem=f"single process failed (exit {rc}); see {log.name}: " + _tail(log))
        return row
    rc, again = launch(single, "rerun")
    row["resume"] = "ok" if rc == 0 and again == 0 else f"rerun exit {rc}, {again} steps retrained"
    if row["resume"] != "ok":
        row.update(ok=False, problem="rerun did not resume from the files: " + row["resume"])
    if not torchrun:
        row["torchrun"] = "not run"
        return row
    t0 = time.perf_counter()
    rc_kill, _ = launch(dist, "killed", 2, kill="1:1")
    rc, dsteps = launch(dist, "resumed", 2)
    row["torchrun_seconds"] = round(time.perf_counter() - t0, 1)
    if rc:
        row.update(ok=False, torchrun=f"resume failed (exit {rc})",
                   problem=f"torchrun resume failed (exit {rc}); see {log.name}: " + _tail(log))
        return row
    diffs = compare_folders(single, dist)
    killed = "rank 1 killed after its first save" if rc_kill else "the kill did not happen (exit 0)"
    row["torchrun"] = f"{killed}; resumed; " + ("same files" if not diffs else f"{len(diffs)} differences")
    if diffs or not rc_kill:
        row.update(ok=False, problem="; ".join(diffs[:3]) or "EFFTX_DRY_KILL=1:1 did not kill rank 1")
    row["torchrun_steps_after_kill"] = dsteps
    return row


def _tail(log: Path, n: int = 300) -> str:
    return _first_line(log.read_text()[-20000:], n) if log.exists() else ""


# ----------------------------------------------------------------------------------------------- merged files
#: keys whose values depend on the machine, the moment or the launcher, not on the computation
VOLATILE = re.compile(r"(^|_)(command|commit|commits|hardware|date|world_size|torch|python|wall|seconds|elapsed|"
                      r"invocation|latency|timing|cpu|threads)(_|$)|(_s|_ms|per_s)(_|$)|^s_|_s_s\d+$")
#: files that hold timings only (benchmarks): compared by name, not by content
TIMING_FILES = {"timing.json", "latency.json"}


def _is_result(p: Path) -> bool:
    return (p.suffix in (".json", ".csv") and not p.name.endswith(".tmp") and ".tmp" not in p.name
            and not any(part.startswith("ckpt") for part in p.parts))


def _normal(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _normal(v) for k, v in x.items() if not VOLATILE.search(str(k))}
    if isinstance(x, list):
        return [_normal(v) for v in x]
    return x


def _read(p: Path) -> Any:
    if p.suffix == ".json":
        return _normal(json.loads(p.read_text()))
    lines = [ln for ln in p.read_text().splitlines() if not ln.startswith("# ")]
    return _normal([dict(r) for r in csv.DictReader(io.StringIO("\n".join(lines)))])


def _diff(a: Any, b: Any, where: str, out: list[str]) -> None:
    if len(out) > 20:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            out.append(f"{where}: keys {sorted(set(a) ^ set(b))} differ")
        for k in a.keys() & b.keys():
            _diff(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{where}[{i}]", out)
    elif a != b:
        fa, fb = _number(a), _number(b)
        if fa is None or fb is None or not math.isclose(fa, fb, rel_tol=1e-4, abs_tol=1e-5):
            out.append(f"{where}: {a!r} vs {b!r}")


def _number(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def compare_folders(a: Path, b: Path) -> list[str]:
    """Differences between two results folders of one experiment: the set of results files (JSON and CSV, not
    checkpoints) and their contents, without provenance and timings, numbers equal up to 1e-4 relative."""
    fa = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file() and _is_result(p.relative_to(a))}
    fb = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file() and _is_result(p.relative_to(b))}
    out = [f"only in one folder: {sorted(fa ^ fb)}"] if fa != fb else []
    for rel in sorted(fa & fb):
        if Path(rel).name not in TIMING_FILES:
            _diff(_read(a / rel), _read(b / rel), rel, out)
    return out


# ----------------------------------------------------------------------------------------------- the table
def _memory(row: dict[str, Any], fps: dict[str, Footprint]) -> None:
    row["configs"] = {k: v.as_dict() for k, v in fps.items()}
    if not fps:
        row.update(peak_gib=None, largest="", fits_24gb="no gpu-size training")
        return
    name, fp = max(fps.items(), key=lambda kv: kv[1].peak)
    row.update(peak_gib=round(fp.gib(), 2), largest=name,
               fits_24gb="yes" if all(f.fits(GPU_MEMORY_GIB["A5000"]) for f in fps.values()) else "NO",
               fits_80gb="yes" if all(f.fits(GPU_MEMORY_GIB["H100"]) for f in fps.values()) else "NO")


MEMORY_KEYS = ("configs", "peak_gib", "largest", "fits_24gb", "fits_80gb")
COLUMNS = ["name", "steps", "seconds", "peak_gib", "fits_24gb", "largest", "torchrun", "ok"]


def _markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    from .timing import print_table

    head = "\n".join(f"- {k}: {v}" for k, v in meta.items() if k != "rows")
    table = print_table(rows, COLUMNS, show=False)
    problems = "\n".join(f"- {r['name']}: {r['problem']}" for r in rows if r.get("problem"))
    configs = "\n".join(f"- {r['name']}: " + "; ".join(f"{k} {v['peak_gib']} GiB" for k, v in r["configs"].items())
                        for r in rows if r.get("configs"))
    return (f"# gpu preset dry run (`make gpu-check`)\n\n{head}\n\n{table}\n\n"
            f"Peak memory per configuration (full gpu batch, one device):\n\n{configs}\n"
            + (f"\nProblems:\n\n{problems}\n" if problems else ""))


def _report(row: dict[str, Any], where: str) -> None:
    """One progress line of a checked chapter or experiment."""
    status = "ok" if row["ok"] is True else row["ok"] if row["ok"] else "FAILED "
    print(f"[gpu-check] {row['name']}: {status}{row['problem']} ({row.get('seconds')} s, {row.get('steps')} steps, "
          f"peak {row.get('peak_gib')} GiB; {where})", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m efftx_mini.gpu_check", description=__doc__.split("\n")[0])
    p.add_argument("--chapters", default=None, help="comma-separated chapter numbers (default: all; 'none': none)")
    p.add_argument("--experiments", default=None, help=f"comma-separated subset of {','.join(EXPERIMENTS)} "
                                                       "(default: all; 'none': none)")
    p.add_argument("--no-torchrun", action="store_true", help="skip the two-process runs")
    p.add_argument("--no-footprints", action="store_true", help="skip the memory estimates")
    p.add_argument("--footprints-only", action="store_true",
                   help="only the memory estimates (with --update: added to the rows of an earlier run)")
    p.add_argument("--out", default=str(OUT), help="where the table goes (default chapters/results/gpu_check)")
    p.add_argument("--work", default=None, help="scratch folder of the experiments' runs (default: a temp dir)")
    p.add_argument("--update", action="store_true",
                   help="keep the rows of OUT/gpu_check.json that this run does not redo (a partial rerun)")
    p.add_argument("--timeout", type=float, default=pick(smoke=600.0, cpu=3600.0, gpu=3600.0),
                   help="seconds per chapter or experiment command")
    args = p.parse_args(argv)
    all_ch = [p.name[:2] for p in sorted(CHAPTER_DIR.glob("[0-9][0-9]_*.md"))]
    chapters = all_ch if args.chapters is None else [] if args.chapters == "none" else args.chapters.split(",")
    exps = list(EXPERIMENTS) if args.experiments is None else [] if args.experiments == "none" \
        else args.experiments.split(",")
    for e in exps:
        if e not in EXPERIMENTS:
            p.error(f"unknown experiment {e!r}; expected some of {list(EXPERIMENTS)}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="efftx_gpu_check_"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    command = shlex.join(["python", "-m", "efftx_mini.gpu_check", *argv])
    stamp = {"command": command, "commit": git_commit(), "hardware": hardware(), "date": ""}
    old_file = out / "gpu_check.json"
    old_rows = json.loads(old_file.read_text())["rows"] if args.update and old_file.exists() else []
    rows: list[dict[str, Any]] = []

    def save() -> list[dict[str, Any]]:
        """Write the table so far (after every row: an interrupted check keeps what it finished)."""
        stamp["date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        new = []
        for r in rows:
            r = dict(r)
            r["ok"] = "yes" if r["ok"] is True else "NO" if r["ok"] is False else r["ok"]
            prev = next((o for o in old_rows if o["name"] == r["name"]), None)
            if args.footprints_only and prev is not None:  # new memory estimates, the earlier run's results
                r = prev | {k: v for k, v in r.items() if k in MEMORY_KEYS} | {"memory_" + k: v for k, v in
                                                                                stamp.items()}
            else:
                r.update(stamp)
            new.append(r)
        done = {r["name"] for r in new}
        table = sorted([o for o in old_rows if o["name"] not in done] + new,
                       key=lambda r: (r["kind"] != "chapter", r["name"]))
        meta = {"command": command + (" (rows of earlier runs: see each row's command)" if old_rows else ""),
                "commit": stamp["commit"], "hardware": stamp["hardware"], "cuda": torch.cuda.is_available(),
                "date": stamp["date"],
                "note": "EFFTX_PRESET=gpu EFFTX_DRY_RUN=1; steps = optimizer steps of the single-process dry run; "
                        "peak_gib = largest estimated peak at the full gpu batch (bf16 autocast where the code uses "
                        "it, AdamW), fits_24gb = every configuration fits an A5000 with 1 GiB of CUDA context; on "
                        "the CPU attention is traced through the math path, an upper bound for fused CUDA kernels"}
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.json").write_text(json.dumps({**meta, "rows": table}, indent=1) + "\n")
        (out / "gpu_check.md").write_text(_markdown(table, meta))
        return table

    def skipped(name: str, kind: str) -> dict[str, Any]:
        return {"name": name, "kind": kind, "steps": None, "seconds": None, "ok": "not run", "problem": ""}

    for stem in chapters:
        print(f"[gpu-check] chapter {stem} ...", flush=True)
        nb_path = work / f"chapter_{stem}.ipynb"
        row = (skipped(f"chapter {_chapter_path(stem).stem}", "chapter") if args.footprints_only
               else run_chapter(stem, args.timeout, save_to=nb_path))
        if not args.no_footprints:
            _memory(row, chapter_footprints(stem))
        rows.append(row)
        save()
        _report(row, f"executed notebook: {nb_path}")
    for name in exps:
        print(f"[gpu-check] experiment {name} ...", flush=True)
        row = (skipped(f"experiment {name}", "experiment") if args.footprints_only
               else run_experiment(name, work, torchrun=not args.no_torchrun, timeout=args.timeout))
        if not args.no_footprints:
            _memory(row, experiment_footprints(name))
        rows.append(row)
        save()
        _report(row, f"torchrun: {row.get('torchrun')}")
    table = save()
    from .timing import print_table

    print_table(table, COLUMNS)
    print(f"[gpu-check] wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}; logs and notebooks in {work}")
    return 0 if all(r["ok"] == "yes" for r in table) else 1


if __name__ == "__main__":
    raise SystemExit(main())
