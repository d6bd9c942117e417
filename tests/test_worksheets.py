"""The TA worksheets (book/{en,ko}/worksheets.md) cover every lab of labs/labs.yml and stay true: every test they
name exists in the lab's suite and every test of the suite is named; the measured results file
(labs/worksheets_results.json, written by ``python labs/worksheets.py measure``) lists exactly the tests the suites
collect today, all passing against the reference solutions; and the committed pages are what
``python labs/worksheets.py render`` makes of it."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLAN = yaml.safe_load((ROOT / "labs" / "labs.yml").read_text(encoding="utf-8"))["labs"]
LANGS = ("en", "ko")

_spec = importlib.util.spec_from_file_location("efftx_lab_worksheets", ROOT / "labs" / "worksheets.py")
worksheets = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = worksheets
_spec.loader.exec_module(worksheets)


def suite_tests(lab: dict) -> list[str]:
    """The module-level test functions of a lab's public suite, in file order."""
    path = ROOT / "labs" / lab["folder"] / f"test_lab{lab['id']}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]




def named_tests_problems(lab: dict, listed: dict) -> list[str]:
    """What is wrong with a worksheet's list of tests (names that do not exist, tests it does not explain)."""
    have = suite_tests(lab)
    problems = [f"lab {lab['id']}: the worksheet names {name}, which labs/{lab['folder']} does not define"
                for name in listed if name not in have]
    problems += [f"lab {lab['id']}: {name} has no entry in labs/worksheets.yml" for name in have if name not in listed]
    for name, text in listed.items():
        if not isinstance(text, dict) or set(text) != set(LANGS) or not all(str(v).strip() for v in text.values()):
            problems.append(f"lab {lab['id']}: {name} needs a non-empty 'en' and 'ko' text")
    return problems


def test_every_lab_has_a_worksheet_naming_only_its_own_tests() -> None:
    notes = worksheets.notes()
    assert sorted(notes) == sorted(lab["id"] for lab in PLAN), "one worksheet entry per lab of labs.yml"
    problems = []
    for lab in PLAN:
        problems += named_tests_problems(lab, notes[lab["id"]]["tests"])
        grading = notes[lab["id"]]["grading"]
        assert set(grading) == set(LANGS) and all(g.strip() for g in grading.values()), lab["id"]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_wrong_test_name() -> None:
    lab = PLAN[0]
    listed = {name: {"en": "x", "ko": "y"} for name in suite_tests(lab)}
    assert named_tests_problems(lab, listed) == []
    renamed = dict(listed)
    renamed["test_no_such_thing"] = renamed.pop(suite_tests(lab)[-1])
    found = named_tests_problems(lab, renamed)
    assert any("test_no_such_thing" in p for p in found) and any("has no entry" in p for p in found)
    assert named_tests_problems(lab, {**listed, suite_tests(lab)[0]: {"en": "x"}})


def collected_ids() -> dict[str, list[str]]:
    """{lab id: [test ids]} as pytest collects the public suites today (against the reference solutions)."""
    env = dict(os.environ, EFFTX_LAB_IMPL=str(ROOT / "tests" / "lab_solutions" / "lab{NN}.py"), OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "pytest", "labs", "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"labs/\d\d_\w+/test_lab(\d\d)\.py::(.+)$", line.strip())
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def test_the_results_file_matches_the_suites_as_they_are() -> None:
    data = worksheets.results()
    for key in ("command", "commit", "hardware", "date"):
        assert str(data.get(key, "")).strip(), f"labs/worksheets_results.json lacks {key}"
    assert sorted(data["labs"]) == sorted(lab["id"] for lab in PLAN)
    collected = collected_ids()
    for lab in PLAN:
        got = data["labs"][lab["id"]]
        ids = [t["id"] for t in got["tests"]]
        assert ids == collected[lab["id"]], (
            f"lab {lab['id']}'s suite changed since labs/worksheets_results.json was measured: "
            "rerun `python labs/worksheets.py measure`")
        assert {worksheets.base_name(i) for i in ids} == set(suite_tests(lab))
        assert all(t["outcome"] == "passed" for t in got["tests"]), lab["id"]
        assert got["summary"] == f"{len(ids)} passed", got["summary"]
        assert len(got["wall_s"]) == len(got["pytest_s"]) == data["repeats"] >= 3
        assert all(w > p > 0 for w, p in zip(got["wall_s"], got["pytest_s"], strict=True))


@pytest.mark.parametrize("lang", LANGS)
def test_the_pages_are_rendered_from_the_results(lang: str, book_build) -> None:
    page = worksheets.page_path(lang)
    assert page.read_text(encoding="utf-8") == worksheets.render(lang), (
        f"{page.relative_to(ROOT)} is out of date: run `python labs/worksheets.py render`")
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert f"book/{lang}/worksheets" in book_build.toc_files(book_build.edition_toc(toc, lang))
    text = page.read_text(encoding="utf-8")
    for lab in PLAN:
        assert f"python -m pytest labs/{lab['folder']}" in text and lab["title"][lang] in text
