"""efftx_mini.results: one way for chapters to find the committed results ($EFFTX_RESULTS, the checkout, or the
copy a wheel ships as efftx_mini/_results), with clear errors; setup.py ships what git keeps, nothing it ignores."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from efftx_mini import results

ROOT = Path(__file__).resolve().parents[1]


def test_the_checkout_is_the_default_root(monkeypatch) -> None:
    monkeypatch.delenv(results.ENV, raising=False)
    assert results.root() == ROOT / "chapters" / "results"
    assert results.path("bench").is_dir()


def test_the_environment_variable_wins_and_files_load_by_type(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.json").write_text(json.dumps({"command": "python -m y"}), encoding="utf-8")
    (tmp_path / "x" / "b.csv").write_text("# commit abc\nseed,acc\n0,0.5\n1,0.75\n", encoding="utf-8")
    (tmp_path / "x" / "c.txt").write_text("hello", encoding="utf-8")
    monkeypatch.setenv(results.ENV, str(tmp_path))
    assert results.root() == tmp_path
    assert results.load("x/a.json") == {"command": "python -m y"}
    assert results.load("x/b.csv") == [{"seed": "0", "acc": "0.5"}, {"seed": "1", "acc": "0.75"}]
    assert results.load("x/c.txt") == "hello"
    with pytest.raises(IsADirectoryError):
        results.load("x")
    with pytest.raises(results.ResultsNotFound, match=r"x holds a\.json, b\.csv, c\.txt"):
        results.path("x/missing.json")
    monkeypatch.setenv(results.ENV, str(tmp_path / "nope"))
    with pytest.raises(results.ResultsNotFound, match="EFFTX_RESULTS"):
        results.root()


@pytest.mark.parametrize("bad", ["/etc/passwd", "../README.md", "bench/../../x"])
def test_paths_outside_the_results_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="inside the results folder"):
        results.path(bad)


def test_the_wheel_ships_the_committed_results_without_ignored_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("efftx_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    import setuptools

    calls = []
    original = setuptools.setup
    setuptools.setup = lambda **kw: calls.append(kw)
    try:
        spec.loader.exec_module(module)
    finally:
        setuptools.setup = original
    folder = tmp_path / "results"
    for rel in ["bench/a.json", "blocks_cpu/ckpt_1.pt", "blocks_cpu/summary.json", "search_cpu/supernet.pt",
                "compress_cpu/teacher_seed0/w.pt", "x/__pycache__/m.pyc"]:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("x", encoding="utf-8")
    shipped = sorted(p.as_posix() for p in module.results_files(folder))
    assert shipped == ["bench/a.json", "blocks_cpu/summary.json"]
    ignore = (ROOT / ".gitignore").read_text(encoding="utf-8")
    for pattern in module.IGNORED:
        assert "chapters/results/" + pattern.removesuffix("/*") + ("/" if pattern.endswith("/*") else "") in ignore
