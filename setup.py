"""Ships the book's committed results with the package (everything else is in pyproject.toml).

A wheel built from the repository (``pip install .``) carries ``chapters/results`` as ``efftx_mini/_results``, so
that a chapter downloaded as ``.ipynb`` finds its results through :mod:`efftx_mini.results` wherever it runs. An
editable install (``pip install -e .``) reads them from the checkout instead. Large files that git ignores
(checkpoints that a rerun of an experiment writes) are left out, as in a fresh clone.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "chapters" / "results"
# The patterns of .gitignore under chapters/results: written by reruns, never committed.
IGNORED = ("compress_*/teacher_seed*/*", "blocks_*/ckpt_*.pt", "vision_*/teacher_*.pt", "search_*/supernet.pt")


def results_files(folder: Path = RESULTS) -> list[Path]:
    """The committed results files (relative paths), without what .gitignore keeps out of the repository."""
    if not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and "__pycache__" not in rel and not any(fnmatch.fnmatch(rel, p) for p in IGNORED):
            files.append(Path(rel))
    return files


class BuildWithResults(build_py):
    """build_py that also copies chapters/results into the built package as efftx_mini/_results."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "efftx_mini" / "_results"
        if target.exists():
            shutil.rmtree(target)
        for rel in results_files():
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(RESULTS / rel, dest)


setup(cmdclass={"build_py": BuildWithResults})
