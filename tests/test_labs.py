"""The graded labs (labs/, listed in labs/labs.yml) cannot rot: every lab's public suite passes against the
reference solution (tests/lab_solutions/labNN.py) and fails, test by test, against the unfilled stub, so a change
to the package or to a suite that breaks a lab fails here. Plus the plan's consistency and the check that a
student's file does not call the references it is compared with.

The two suites run in one subprocess each (``EFFTX_LAB_IMPL`` names the implementation; ``{NN}``/``{folder}`` are
filled in per lab), as a student runs them (``make lab-check LAB=NN`` = ``python -m pytest labs/NN_*``).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
PLAN = yaml.safe_load((LABS / "labs.yml").read_text(encoding="utf-8"))["labs"]
PARTS = ("I", "II", "III", "IV", "V", "VI")
# The one test per lab that an unfilled stub passes: it only reads the file for forbidden imports.
STUB_PASSES = "test_does_not_call_the_reference"

sys.path.insert(0, str(LABS))
from labtools import forbidden_uses  # noqa: E402


def lab_ids() -> list[str]:
    return [lab["id"] for lab in PLAN]


def folder(lab_id: str) -> Path:
    (entry,) = [lab for lab in PLAN if lab["id"] == lab_id]
    return LABS / entry["folder"]


def public_api(path: Path) -> dict[str, list[str]]:
    """name -> argument names of the module-level functions and classes (their methods' arguments, as
    ``Class.method``) of a Python file, leaving out names with a leading underscore."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def args(node: ast.FunctionDef) -> list[str]:
        return [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]

    api: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            api[node.name] = args(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            api[node.name] = []
            api.update({f"{node.name}.{m.name}": args(m) for m in node.body if isinstance(m, ast.FunctionDef)})
    return api


def test_the_plan_covers_every_part_and_fits_the_semester() -> None:
    assert [lab["id"] for lab in PLAN] == [f"{i:02d}" for i in range(1, len(PLAN) + 1)]
    assert {lab["part"] for lab in PLAN} == set(PARTS), "at least one lab per part of the book"
    course = yaml.safe_load((ROOT / "book" / "course.yml").read_text(encoding="utf-8"))
    weeks = {w["week"] for w in course["weeks"]}
    for lab in PLAN:
        assert lab["folder"].startswith(lab["id"] + "_") and (LABS / lab["folder"]).is_dir(), lab
        assert lab["week"] in weeks and lab["due"] in weeks and lab["week"] < lab["due"], lab
        for nn in lab["chapters"]:
            assert nn in course["chapters"], f"lab {lab['id']} builds on chapter {nn}, which course.yml lacks"
            assert list((ROOT / "chapters" / "en").glob(f"{nn}_*.md")), f"lab {lab['id']}: no chapter {nn}"
        for key in ("title", "measure"):
            assert set(lab[key]) == {"en", "ko"} and all(s.strip() for s in lab[key].values()), (lab["id"], key)


@pytest.mark.parametrize("lab_id", lab_ids())
def test_stub_adapter_and_solution_agree(lab_id: str) -> None:
    """The stub and the reference solution define the same functions with the same arguments; the adapter calls
    only those; each test file is named for its lab."""
    here = folder(lab_id)
    for name in ("adapter.py", "stub.py", f"test_lab{lab_id}.py"):
        assert (here / name).is_file(), here / name
    stub = public_api(here / "stub.py")
    solution = ROOT / "tests" / "lab_solutions" / f"lab{lab_id}.py"
    assert stub and public_api(solution) == stub
    called = set(re.findall(r"impl\.(\w+)\(", (here / "adapter.py").read_text(encoding="utf-8")))
    assert called and called <= set(stub), called - set(stub)
    for node in ast.parse((here / "stub.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
            assert ast.get_docstring(node), f"{lab_id}: stub's {node.name} has no docstring (the spec)"
    assert not forbidden_uses(solution), f"the reference solution of lab {lab_id} imports efftx_mini"


def test_forbidden_uses_catches_the_references(tmp_path: Path) -> None:
    bad = tmp_path / "solution.py"
    bad.write_text("import torch.nn.functional as F\nfrom efftx_mini.attention import scaled_dot_product_attention\n"
                   "import efftx_mini\n\ndef f(q, k, v):\n    return F.scaled_dot_product_attention(q, k, v)\n",
                   encoding="utf-8")
    found = forbidden_uses(bad, attributes=("scaled_dot_product_attention",))
    assert "import efftx_mini" in found and ".scaled_dot_product_attention" in found
    assert any(f.startswith("from efftx_mini.attention") for f in found)
    assert forbidden_uses(ROOT / "labs" / "01_attention" / "stub.py", attributes=("scaled_dot_product_attention",)) \
        == []


def run_suites(impl: str, tmp_path: Path) -> dict[str, dict[str, str]]:
    """Run every lab's public suite with EFFTX_LAB_IMPL=impl; return {lab id: {test name: outcome}}."""
    report = tmp_path / "junit.xml"
    env = dict(os.environ, EFFTX_LAB_IMPL=impl, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "pytest", "labs", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={report}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        lab_id = re.search(r"test_lab(\d\d)", case.get("classname", "")).group(1)
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        outcomes.setdefault(lab_id, {})[case.get("name")] = outcome
    return outcomes


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> dict[str, dict[str, str]]:
    return run_suites(str(ROOT / "tests" / "lab_solutions" / "lab{NN}.py"), tmp_path_factory.mktemp("ref"))


@pytest.fixture(scope="module")
def stub_run(tmp_path_factory) -> dict[str, dict[str, str]]:
    return run_suites(str(LABS / "{folder}" / "stub.py"), tmp_path_factory.mktemp("stub"))


def test_every_suite_passes_against_the_reference(reference_run) -> None:
    assert sorted(reference_run) == lab_ids()
    for lab_id, tests in reference_run.items():
        assert len(tests) >= 8, f"lab {lab_id} has only {len(tests)} tests"
        bad = {name: outcome for name, outcome in tests.items() if outcome != "passed"}
        assert not bad, f"lab {lab_id}'s suite against the reference solution: {bad}"


def test_every_test_fails_against_the_unfilled_stub(stub_run, reference_run) -> None:
    """A test that an empty stub passes checks nothing (except the one that reads the file for imports)."""
    assert sorted(stub_run) == lab_ids()
    for lab_id, tests in stub_run.items():
        assert set(tests) == set(reference_run[lab_id])
        passing = sorted(name for name, outcome in tests.items() if outcome != "failed")
        assert passing == [STUB_PASSES], f"lab {lab_id}: tests the unfilled stub does not fail: {passing}"


def test_the_adapter_explains_a_missing_solution(tmp_path: Path) -> None:
    env = dict(os.environ, EFFTX_LAB_IMPL=str(tmp_path / "nothing.py"))
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('a', {str(folder('01') / 'adapter.py')!r})\n"
            "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "copy stub.py to solution.py" in proc.stderr


def test_lab_check_target_runs_one_lab() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rule = re.search(r"^lab-check:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert rule and "labs/$(LAB)_*" in rule.group(1) and "pytest" in rule.group(1)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_labs_readme_lists_every_lab_as_the_plan_says(lang: str) -> None:
    text = (LABS / ("README.md" if lang == "en" else "README.ko.md")).read_text(encoding="utf-8")
    rows = {line.split("|")[2].strip(" `"): line for line in text.splitlines() if line.startswith("| 0")}
    assert sorted(rows) == [lab["folder"] + "/" for lab in PLAN]
    for lab in PLAN:
        row = rows[lab["folder"] + "/"]
        assert f"| {lab['id']} {lab['title'][lang]} |" in row, row
        assert f"| {lab['part']} |" in row and f"| {lab['week']} / {lab['due']} |" in row, row
    assert "make lab-check LAB=01" in text and "python -m pytest labs/01_attention" in text


def test_korean_texts_use_the_glossary_terms() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_glossary import load_terms, violations

    text = (LABS / "README.ko.md").read_text(encoding="utf-8") + "\n".join(
        f"{lab['title']['ko']}\n{lab['measure']['ko']}" for lab in PLAN)
    assert not violations(text, load_terms())
