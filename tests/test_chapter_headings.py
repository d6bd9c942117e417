"""Headings are numbered once: the theme numbers sections (1.5.1.), so a heading must not carry its own
number ("### 1. A static grid" rendered as "1.5.1. 1. A static grid")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# every chapter and the book pages
PAGES = sorted(p for lang in ("en", "ko") for p in (ROOT / "chapters" / lang).glob("*.md")) + \
    sorted((ROOT / "book").glob("*/*.md"))


def numbered_headings(text: str) -> list[str]:
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.S | re.M)  # not inside code cells
    return re.findall(r"^#{1,6} +\d+(?:\.\d+)*[.)] .*$", text, flags=re.M)


def test_the_check_finds_manual_numbers() -> None:
    assert numbered_headings("### 1. A static grid\n## 2) Two\n# Title\n") == ["### 1. A static grid", "## 2) Two"]
    assert numbered_headings("## 10⁴ units\n```python\n# 1. not a heading\n```\n") == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_headings_carry_no_manual_number(page: Path) -> None:
    found = numbered_headings(page.read_text(encoding="utf-8"))
    assert not found, f"{page.relative_to(ROOT)}: the theme numbers headings already: {found}"
