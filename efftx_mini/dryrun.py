"""The lab server's rehearsal: the ``gpu`` preset run for a step or two on any machine (``EFFTX_DRY_RUN=1``).

Under ``EFFTX_PRESET=gpu EFFTX_DRY_RUN=1`` (:func:`active`) every chapter and experiment builds its models and
data at the ``gpu`` sizes while :func:`efftx_mini.pick`'s ``dry=`` values cut step counts, seeds, repeats and
batches. This module holds the rules the dry run keeps:

- **Nothing lands in ``chapters/results/``**: :func:`results_dir` sends an experiment's files to a scratch
  folder (``$TMPDIR/efftx_dry/<name>`` unless ``--out`` names one) and refuses a folder under the results.
- **Finite training**: :func:`install` hooks every optimizer step of the process (PyTorch's global
  ``register_optimizer_step_post_hook``): it counts the steps (:func:`stats`, what ``make gpu-check`` reports) and
  raises :class:`FloatingPointError` once a parameter is NaN or infinite, i.e. after the first non-finite loss.
  :func:`check_finite` does the same for the numbers of a results record.
- **Resume after a killed rank**: ``EFFTX_DRY_KILL=RANK:N`` makes rank RANK kill itself (SIGKILL, as the OOM
  killer or a scheduler would) right after its N-th durable save (:func:`saved`), so the check can rerun and
  see it resume; only a dry run honours it.
- ``EFFTX_DRY_STATS=FILE``: the step count is written there (``FILE.rank<r>`` per rank) when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .presets import DRY_VAR, current_preset, dry_run

__all__ = ["active", "full_sizes", "dry_sizes", "results_dir", "RESULTS", "install", "stats", "check_finite", "saved",
           "KILL_VAR", "STATS_VAR"]

#: the book's results folder, which a dry run never writes into
RESULTS = Path(__file__).resolve().parents[1] / "chapters" / "results"
KILL_VAR = "EFFTX_DRY_KILL"
STATS_VAR = "EFFTX_DRY_STATS"

_state: dict[str, Any] = {"installed": False, "steps": 0, "saves": 0}


def active(preset: str | None = None) -> bool:
    """True in a dry run of the ``gpu`` preset (``preset`` defaults to ``$EFFTX_PRESET``)."""
    return (preset if preset is not None else current_preset()) == "gpu" and dry_run()


@contextlib.contextmanager
def _dry_var(value: str) -> Iterator[None]:
    old = os.environ.get(DRY_VAR)
    os.environ[DRY_VAR] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(DRY_VAR, None)
        else:
            os.environ[DRY_VAR] = old


def full_sizes() -> contextlib.AbstractContextManager[None]:
    """Inside, ``pick`` gives the full ``gpu`` values even in a dry run: for memory estimates at the real batch."""
    return _dry_var("0")


def dry_sizes() -> contextlib.AbstractContextManager[None]:
    """Inside, ``pick`` gives the dry run's values: for a dataset whose shapes (not its size) a memory estimate
    needs."""
    return _dry_var("1")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def results_dir(name: str, preset: str, out: str | os.PathLike[str] | None, default: str | os.PathLike[str]) -> Path:
    """Where an experiment writes: ``out``, else ``default`` — except in a dry run, which writes to ``out`` or
    ``$TMPDIR/efftx_dry/<name>`` (the same folder for every rank, so a rerun resumes) and never under
    ``chapters/results/``."""
    if not active(preset):
        return Path(out if out is not None else default)
    path = Path(out) if out is not None else Path(tempfile.gettempdir()) / "efftx_dry" / name
    if _inside(path, RESULTS):
        raise ValueError(f"a dry run (EFFTX_DRY_RUN=1) writes nothing into {RESULTS}, got --out {path}; "
                         "give another --out or leave it out")
    return path


def _is_fake(t: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import is_fake

    return t.device.type == "meta" or is_fake(t)


def _after_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if params and _is_fake(params[0]):  # a traced step (efftx_mini.footprint) is not a step
        return
    _state["steps"] += 1
    for p in params:
        if not bool(torch.isfinite(p).all()):
            raise FloatingPointError(f"dry run: a parameter {tuple(p.shape)} is not finite after optimizer step "
                                     f"{_state['steps']} of this process (a NaN or infinite loss?)")


def _write_stats() -> None:
    path = os.environ.get(STATS_VAR)
    if not path:
        return
    rank = os.environ.get("RANK")
    target = Path(path if rank is None else f"{path}.rank{rank}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(stats()) + "\n")
    except OSError:
        pass


def install() -> None:
    """Count (and check) every optimizer step of this process; idempotent. ``efftx_mini`` calls it on import in
    a dry run."""
    if _state["installed"]:
        return
    from torch.optim.optimizer import register_optimizer_step_post_hook

    register_optimizer_step_post_hook(_after_step)
    atexit.register(_write_stats)
    _state["installed"] = True


def stats() -> dict[str, int]:
    """Optimizer steps taken and durable saves made by this process since :func:`install`."""
    return {"optimizer_steps": int(_state["steps"]), "saves": int(_state["saves"])}


def check_finite(record: Any, where: str) -> None:
    """Raise :class:`FloatingPointError` if a float anywhere in ``record`` (dicts, lists) is NaN or infinite."""
    def walk(x: Any, path: str) -> None:
        if isinstance(x, float) and not math.isfinite(x):
            raise FloatingPointError(f"dry run: {where}{path} = {x}")
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{path}[{k!r}]")
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
    walk(record, "")


def saved() -> None:
    """Call after each durable save (a run's results file, a checkpoint). Under ``EFFTX_DRY_KILL=RANK:N`` in a dry
    run, rank RANK kills itself after its N-th save: the rehearsal of a lost process."""
    _state["saves"] += 1
    spec = os.environ.get(KILL_VAR, "").strip()
    if not spec or not active():
        return
    try:
        rank, n = (int(v) for v in spec.split(":"))
    except ValueError as exc:
        raise ValueError(f"{KILL_VAR} must be RANK:N, got {spec!r}") from exc
    if int(os.environ.get("RANK", 0)) == rank and _state["saves"] >= n:
        _write_stats()
        os.kill(os.getpid(), signal.SIGKILL)
