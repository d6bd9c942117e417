"""Both editions run the same code: every chapter has a twin in the other language with identical code cells."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
EN, KO = ROOT / "chapters" / "en", ROOT / "chapters" / "ko"


def code_cells(path: Path) -> list[tuple[str, dict]]:
    """(source, metadata) of every code cell, in order, as jupytext reads the MyST notebook."""
    nb = jupytext.read(path)
    return [(cell.source, dict(cell.metadata)) for cell in nb.cells if cell.cell_type == "code"]


def kernelspec(path: Path) -> dict:
    return dict(jupytext.read(path).metadata.get("kernelspec", {}))


def differences(en: Path, ko: Path) -> list[str]:
    """Human-readable differences between the code cells of two chapter files (empty when identical)."""
    a, b = code_cells(en), code_cells(ko)
    out = []
    if len(a) != len(b):
        out.append(f"{len(a)} code cells in {en.name} (en) but {len(b)} in ko")
    for i, (ca, cb) in enumerate(zip(a, b, strict=False)):
        if ca[0] != cb[0]:
            out.append(f"code cell {i}: source differs\n--- en\n{ca[0]}\n--- ko\n{cb[0]}")
        if ca[1] != cb[1]:
            out.append(f"code cell {i}: metadata/tags differ: en {ca[1]} vs ko {cb[1]}")
    if kernelspec(en) != kernelspec(ko):
        out.append(f"kernelspec differs: en {kernelspec(en)} vs ko {kernelspec(ko)}")
    return out


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.md")}


def test_every_chapter_has_a_twin() -> None:
    en, ko = _names(EN), _names(KO)
    assert en, "no chapter in chapters/en"
    assert en - ko == set(), f"English chapters without a Korean twin: {sorted(en - ko)}"
    assert ko - en == set(), f"Korean chapters without an English twin: {sorted(ko - en)}"


@pytest.mark.parametrize("name", sorted(_names(EN) & _names(KO)))
def test_code_cells_are_identical(name: str) -> None:
    problems = differences(EN / name, KO / name)
    assert not problems, f"{name}: the two editions must run the same code:\n" + "\n".join(problems)


def test_the_check_catches_a_changed_cell(tmp_path: Path) -> None:
    header = "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n---\n\n"
    cell = "```{code-cell} ipython3\n:tags: [remove-input]\nx = 1\n```\n"
    en = tmp_path / "en.md"
    en.write_text(header + "# Title\n\n" + cell)
    same = tmp_path / "same.md"
    same.write_text(header + "# 제목\n\n다른 설명입니다.\n\n" + cell)
    assert differences(en, same) == []
    for variant in (cell.replace("x = 1", "x = 2"), cell.replace("remove-input", "remove-output"), cell + cell, ""):
        other = tmp_path / "other.md"
        other.write_text(header + "# 제목\n\n" + variant)
        assert differences(en, other), variant


def _notebook_pages(lang: str) -> set[str]:
    """The course pages of book/<lang>/ that are notebooks (a jupytext header), e.g. the PyTorch refresher."""
    return {p.name for p in (ROOT / "book" / lang).glob("*.md")
            if p.read_text(encoding="utf-8").startswith("---\njupytext:")}


def test_notebook_pages_of_the_course_have_twins_with_the_same_code() -> None:
    en, ko = _notebook_pages("en"), _notebook_pages("ko")
    assert "pytorch.md" in en and en == ko, f"notebook pages without a twin: {sorted(en ^ ko)}"
    for name in sorted(en):
        problems = differences(ROOT / "book" / "en" / name, ROOT / "book" / "ko" / name)
        assert not problems, f"book/*/{name}: the two editions must run the same code:\n" + "\n".join(problems)
