"""The student install (issue 25): requirements-student.txt (+ the --no-deps file) covers every third-party import
of the chapters, the labs and efftx_mini, pins the tested versions, holds none of the site's build tools, and
matches the ``student`` extra of pyproject.toml. The slow test (marked ``student``) installs exactly that set into
a fresh venv outside the repository and runs one chapter there."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import jupytext
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "requirements-student.txt"
NODEPS = ROOT / "requirements-student-nodeps.txt"
# The site's build tools (and what bertviz/mlxtend/myst-nb would drag in): none of them may reach a student.
BUILD_ONLY = {"jupyter-book", "sphinx", "myst-parser", "jupyter-cache", "playwright", "transformers", "boto3",
              "botocore", "huggingface-hub", "tokenizers", "sentencepiece", "sacrebleu", "pandas", "scikit-learn",
              "ruff", "pybtex", "sphinxcontrib-bibtex"}
INSTALLER = {"pip", "setuptools", "wheel"}  # provided by the installer, never pinned (as in `pip freeze`)


def requirements(path: Path) -> dict[str, Requirement]:
    """{canonical name: requirement} of a requirements file (comments and blank lines skipped)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            out[canonicalize_name(req.name)] = req
    return out


def closure(names: set[str]) -> set[str]:
    """The distributions ``names`` need on this platform (installed metadata, markers and extras evaluated)."""
    seen: set[str] = set()
    done: set[tuple[str, tuple[str, ...]]] = set()
    todo = [(canonicalize_name(n), ()) for n in names]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        seen.add(name)
        for line in md.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or ("",))):
                todo.append((canonicalize_name(req.name), tuple(sorted(req.extras))))
    return seen


def student_distributions() -> set[str]:
    """Everything a student install holds: the pinned set with its dependencies, plus the --no-deps set alone."""
    pinned = {n for n, r in requirements(STUDENT).items() if r.marker is None or r.marker.evaluate()}
    return closure(pinned) | set(requirements(NODEPS)) | INSTALLER


def _imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def imported_modules() -> dict[str, set[str]]:
    """{top-level module: files} that the chapters' code cells, the labs and efftx_mini import (or, for data,
    open with ``importlib.resources.files("x")``), stdlib and the repository's own modules left out."""
    found: dict[str, set[str]] = {}

    def add(names: set[str], where: Path) -> None:
        for name in names:
            found.setdefault(name, set()).add(where.relative_to(ROOT).as_posix())

    for chapter in sorted((ROOT / "chapters" / "en").glob("*.md")):
        for cell in jupytext.read(chapter).cells:
            if cell.cell_type == "code":
                source = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
                add(_imports(source), chapter)
    for path in [*sorted((ROOT / "efftx_mini").rglob("*.py")), *sorted((ROOT / "labs").rglob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        add(_imports(text) | set(re.findall(r"resources\.files\(\s*[\"']([A-Za-z_]\w*)", text)), path)
    local = {"efftx_mini"} | {p.stem for p in (ROOT / "labs").rglob("*.py")}
    return {k: v for k, v in found.items() if k not in sys.stdlib_module_names and k not in local}


def test_every_import_of_the_chapters_labs_and_package_is_in_the_student_set() -> None:
    have = student_distributions()
    owners = md.packages_distributions()
    modules = imported_modules()
    assert {"torch", "matplotlib", "myst_nb", "bertviz", "mlxtend", "scipy"} <= set(modules)  # the scan sees them
    missing = {}
    for module, files in sorted(modules.items()):
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        assert dists, f"{module} (imported by {sorted(files)[:3]}) is not installed in this venv"
        if not dists & have:
            missing[module] = (sorted(dists), sorted(files)[:3])
    assert not missing, f"imports not provided by requirements-student.txt (+ -nodeps): {missing}"


def test_the_student_set_is_pinned_closed_and_free_of_build_tools() -> None:
    pins = requirements(ROOT / "requirements.txt")
    student, nodeps = requirements(STUDENT), requirements(NODEPS)
    for name, req in {**student, **nodeps}.items():
        assert name in pins, f"{name} is in the student set but not in requirements.txt (the tested set)"
        assert str(req.specifier) == str(pins[name].specifier), f"{name}: {req.specifier} != {pins[name].specifier}"
    here = {n for n, r in student.items() if r.marker is None or r.marker.evaluate()}
    unpinned = closure(here) - set(student) - INSTALLER
    assert not unpinned, f"dependencies of the student set missing from requirements-student.txt: {unpinned}"
    leaked = student_distributions() & BUILD_ONLY
    assert not leaked, f"build-only tools reach the student install: {sorted(leaked)}"
    # the --no-deps set really would pull build tools in: that is why it is installed without dependencies
    assert closure(set(nodeps)) & BUILD_ONLY


def test_the_student_extra_matches_the_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["student"]]
    pins = requirements(STUDENT)
    for req in declared:
        name = canonicalize_name(req.name)
        assert name in pins, f"pyproject's student extra names {name}, which requirements-student.txt lacks"
        version = str(pins[name].specifier).removeprefix("==")
        assert req.specifier.contains(version), f"{name}: the extra's {req.specifier} excludes the pin {version}"
    # every top-level pin (the first group of the file) is declared by the package or its student extra
    top = STUDENT.read_text(encoding="utf-8").split("# Their dependencies")[0]
    listed = {canonicalize_name(Requirement(ln.split("#")[0]).name) for ln in top.splitlines()
              if ln.strip() and not ln.startswith("#")}
    assert listed == {canonicalize_name(r.name) for r in declared}
