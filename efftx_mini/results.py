"""The book's committed results files, found the same way in a checkout and in an installed package.

Chapters read the results of the long runs (``python -m efftx_mini.experiments.<name>``, ``python -m
efftx_mini.bench NAME``) through this module, never through a path relative to the notebook or to the package's
install location, so that a chapter downloaded as ``.ipynb`` runs anywhere after ``pip install``:

- ``$EFFTX_RESULTS``, when set: a folder laid out like ``chapters/results`` (e.g. a lab server's copy);
- the repository checkout the package is imported from: ``<repo>/chapters/results``;
- the copy installed with the package (``efftx_mini/_results``, written by ``setup.py`` when a wheel is built).

>>> from efftx_mini import results
>>> results.load("bench/memory_cpu.json")["command"]  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["ENV", "root", "path", "load", "ResultsNotFound"]

ENV = "EFFTX_RESULTS"
_CHECKOUT = Path(__file__).resolve().parents[1] / "chapters" / "results"
_INSTALLED = "_results"


class ResultsNotFound(FileNotFoundError):
    """The committed results (or one file of them) are not where the book looks for them."""


def _installed() -> Path | None:
    try:
        folder = resources.files("efftx_mini") / _INSTALLED
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - the package is always importable here
        return None
    return Path(str(folder)) if folder.is_dir() else None


def root() -> Path:
    """The folder that holds the committed results (``bench/``, ``blocks_cpu/``, ...)."""
    env = os.environ.get(ENV, "").strip()
    if env:
        folder = Path(env).expanduser()
        if not folder.is_dir():
            raise ResultsNotFound(f"${ENV} = {env!r} is not a folder; unset it or point it at a copy of "
                                  "the repository's chapters/results")
        return folder
    if _CHECKOUT.is_dir():
        return _CHECKOUT
    installed = _installed()
    if installed is not None:
        return installed
    raise ResultsNotFound(
        "the book's committed results were not found: efftx_mini is neither imported from a checkout of the "
        f"repository (no {_CHECKOUT}) nor installed with its results (no efftx_mini/{_INSTALLED}). Install the "
        f"package from the repository (`pip install .`) or set ${ENV} to a copy of chapters/results"
    )


def path(name: str | os.PathLike[str]) -> Path:
    """The results file or folder ``name`` (relative, e.g. ``"bench/memory_cpu.json"`` or ``"quant_cpu"``)."""
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"name must be a path inside the results folder, e.g. 'bench/memory_cpu.json', got {name!r}")
    base = root()
    target = base / rel
    if not target.exists():
        near = sorted(p.name for p in (base / rel.parent).iterdir()) if (base / rel.parent).is_dir() else []
        hint = f"; {rel.parent.as_posix() or '.'} holds {', '.join(near[:12])}" if near else ""
        raise ResultsNotFound(f"no results file {rel.as_posix()!r} in {base}{hint}")
    return target


def load(name: str | os.PathLike[str]) -> Any:
    """A results file's content: parsed JSON for ``.json``, a list of dict rows for ``.csv`` (lines starting with
    ``#`` are provenance comments and skipped), the text otherwise."""
    target = path(name)
    if target.is_dir():
        raise IsADirectoryError(f"{name!r} is a folder of results; load one of its files, e.g. {name}/summary.json")
    text = target.read_text(encoding="utf-8")
    if target.suffix == ".json":
        return json.loads(text)
    if target.suffix == ".csv":
        rows = [line for line in text.splitlines() if not line.startswith("#")]
        return list(csv.DictReader(io.StringIO("\n".join(rows))))
    return text
