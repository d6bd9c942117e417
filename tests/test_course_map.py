"""The syllabus's chapter map (book/course.yml) is derived from the chapters themselves (issue 25 §4).

A chapter depends on an earlier chapter when its prose links it (``{doc}``) or names it ("chapter 5"), or when it
uses what that chapter introduced: the same experiment module (``efftx_mini.experiments``) or results file
(``bench/*.json``), first used by the earlier chapter. Code cells count for what they import and read, not for
their comments. The map's arrows (``requires``) must be exactly the transitive reduction of these dependencies:
every arrow is backed by the chapter, every dependency follows from the arrows, and no arrow is implied by others.
The syllabus's chapter titles are the chapters' own headings, in both languages.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COURSE = yaml.safe_load((ROOT / "book" / "course.yml").read_text(encoding="utf-8"))
CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```", re.M | re.S)


def chapter_texts(lang: str = "en") -> dict[str, str]:
    return {p.name[:2]: p.read_text(encoding="utf-8")
            for p in sorted((ROOT / "chapters" / lang).glob("[0-9][0-9]_*.md"))}


def uses(text: str) -> set[str]:
    """Experiment modules the chapter imports and results files it reads."""
    found = {name.strip().split(" as ")[0]
             for group in re.findall(r"from efftx_mini\.experiments import ([a-z_, ]+(?: as \w+)?)", text)
             for name in group.split(",")}
    return found | set(re.findall(r"[\"'](bench/[a-z_]+\.json)[\"']", text))


def derived_dependencies(texts: dict[str, str]) -> dict[str, set[str]]:
    owner: dict[str, str] = {}
    for nn, text in texts.items():  # in chapter order: the first chapter to use a thing owns it
        for thing in uses(text):
            owner.setdefault(thing, nn)
    deps = {}
    for nn, text in texts.items():
        prose = CODE_CELL.sub("", text)
        refs = set(re.findall(r"\{doc\}`[^`]*?(\d\d)_\w+>?`", prose))
        refs |= {f"{int(n):02d}" for n in re.findall(r"\b[Cc]hapter (\d+)\b", prose)}
        refs |= {owner[thing] for thing in uses(text)}
        deps[nn] = {r for r in refs if r < nn}
    return deps


def closure(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}

    def reach(node: str) -> set[str]:
        if node not in out:
            out[node] = set()
            for m in graph.get(node, set()):
                out[node] |= {m} | reach(m)
        return out[node]

    for node in graph:
        reach(node)
    return out


def reduction(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    reach = closure(graph)
    return {n: {m for m in deps if not any(m in reach[k] for k in deps if k != m)} for n, deps in graph.items()}


def test_the_derivation_on_a_small_book() -> None:
    texts = {"01": "# A\n", "02": "# B\nsee {doc}`chapter 1 <01_a>`\n",
             "03": "# C\nas {doc}`01_a` and chapter 2 said\n```{code-cell} ipython3\n# chapter 1 in a comment\n"
                   "from efftx_mini.experiments import blocks as experiment\n```\n",
             "04": "# D\n```{code-cell} ipython3\nfrom efftx_mini.experiments import blocks\n```\n"}
    deps = derived_dependencies(texts)
    assert deps == {"01": set(), "02": {"01"}, "03": {"01", "02"}, "04": {"03"}}
    assert reduction(deps) == {"01": set(), "02": {"01"}, "03": {"02"}, "04": {"03"}}


def test_the_map_is_the_reduction_of_what_the_chapters_use() -> None:
    texts = chapter_texts()
    deps = derived_dependencies(texts)
    declared = {nn: set(COURSE["chapters"][nn].get("requires", [])) for nn in texts}
    expected = reduction(deps)
    wrong = {nn: {"course.yml": sorted(declared[nn]), "chapters say": sorted(expected[nn]),
                  "evidence": sorted(deps[nn])} for nn in texts if declared[nn] != expected[nn]}
    assert not wrong, f"book/course.yml requires differ from the chapters' dependencies: {wrong}"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_titles_are_the_chapters_own(lang: str) -> None:
    for nn, text in chapter_texts(lang).items():
        heading = re.search(r"^# (.+)$", CODE_CELL.sub("", text), re.M).group(1).strip()
        assert COURSE["chapters"][nn]["title"][lang] == heading, (nn, lang)


def test_map_labels_fit_their_boxes() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import efftx_course

    assert efftx_course.fit_label("1. Attention") == "1. Attention"
    for nn, ch in COURSE["chapters"].items():
        for lang in ("en", "ko"):
            short = efftx_course.fit_label(f"{int(nn)}. {ch['title'][lang]}")
            width = sum(2 if ord(c) > 0x1100 and c != "…" else 1 for c in short)
            assert width <= 30, (nn, lang, short)
    assert efftx_course.fit_label("9. 선형 메모리로 계산하는 정확한 어텐션") == "9. 선형 메모리로 계산하는 정…"
