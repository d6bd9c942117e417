"""The course's assessment and labs pages (book/{en,ko}/assessment.md, labs.md): in the table of contents of both
editions, the grading weights add up to 100% and agree across the languages, the labs page shows labs/README, and
the project milestones follow what is taught (project 2's proposal after compression's week)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COURSE = yaml.safe_load((ROOT / "book" / "course.yml").read_text(encoding="utf-8"))


def weights(lang: str) -> list[int]:
    text = (ROOT / "book" / lang / "assessment.md").read_text(encoding="utf-8")
    table = text.split("\n## ", 2)[1]  # the first section: the grading scheme
    return [int(m) for m in re.findall(r"^\|[^|]+\| (\d+)%", table, re.M)]


def test_weights_add_up_and_agree() -> None:
    assert sum(weights("en")) == 100 and weights("en") == weights("ko") and len(weights("en")) == 5


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_pages_are_in_the_toc_and_show_the_labs(book_build, lang: str) -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = book_build.toc_files(book_build.edition_toc(toc, lang))
    assert f"book/{lang}/labs" in files and f"book/{lang}/assessment" in files
    readme = "README.md" if lang == "en" else "README.ko.md"
    assert f"../../labs/{readme}" in (ROOT / "book" / lang / "labs.md").read_text(encoding="utf-8")
    text = (ROOT / "book" / lang / "assessment.md").read_text(encoding="utf-8")
    assert "python -m efftx_mini.variants --seed 2026" in text and "make quiz" in text


def test_project_2_proposal_comes_after_compression_is_taught() -> None:
    week_of = {nn: w["week"] for w in COURSE["weeks"] for nn in w["chapters"]}
    proposal = [w["week"] for w in COURSE["weeks"] if "project 2 proposal due" in w["work"]["en"].lower()]
    assert proposal == [week_of["13"]]
    text = (ROOT / "book" / "en" / "assessment.md").read_text(encoding="utf-8")
    assert f"End of week {week_of['13']} (after compression is taught)" in text
