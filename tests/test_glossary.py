"""The bilingual glossary (book/glossary.yml): well-formed, in step with the Korean style guide, and obeyed.

Korean pages (chapters/ko/*.md, book/ko/*.md) must not use a word the glossary lists under "never" for a
term (e.g. 변압기 for transformer). A "never" word counts when it stands as a noun: at the start of a
Hangul word, followed by nothing, a space/punctuation or a particle (은/는/이/가/을/를/의/...). Ordinary
Korean that happens to contain it (주의하세요 "be careful") is not flagged; phrases listed in an entry's
``allow`` are removed first. Code cells, inline code and math are not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "book" / "glossary.yml"
# The Korean style guide whose term table the glossary starts from (first existing path wins).
# CI clones the repo with the team's shared/ folder beside it.
STYLE_GUIDES = [ROOT.parent / "shared" / "ko-style.md", Path("/work/shared/ko-style.md")]
KEYS = {"en", "ko", "never", "def_en", "def_ko", "allow"}
PARTICLES = ("이라는|이라고|으로써|으로서|에서는|에게서|에서|에게|까지|부터|처럼|보다|라는|라고|이란|이다|입니다|"
             "으로|와의|과의|에는|에도|로|은|는|이|가|을|를|의|에|와|과|도|만|란|나")


def load_terms() -> list[dict]:
    return yaml.safe_load(GLOSSARY.read_text(encoding="utf-8"))["terms"]


def never_pattern(word: str) -> re.Pattern[str]:
    """Matches `word` used as a noun: not inside a longer Hangul word, optionally followed by a particle."""
    return re.compile(rf"(?<![가-힣]){re.escape(word)}(?:{PARTICLES})?(?![가-힣])")


def korean_prose(text: str) -> str:
    """The prose of a MyST page: without code cells/fences, inline code, math and the YAML header."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.S | re.M)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\$[^$\n]*\$", "", text)
    return text


def violations(text: str, terms: list[dict]) -> list[str]:
    prose = korean_prose(text)
    for term in terms:
        for phrase in term.get("allow") or []:
            prose = prose.replace(phrase, " ")
    found = []
    for term in terms:
        for word in term.get("never") or []:
            for m in never_pattern(word).finditer(prose):
                line = prose.count("\n", 0, m.start()) + 1
                found.append(f"line ~{line}: {m.group(0)!r} (for {term['en']!r} write {term['ko']!r})")
    return found


def style_guide_rows(path: Path) -> list[tuple[str, str, list[str]]]:
    """(English, Korean, never words) of the term table in the Korean style guide."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("English", "") or set(cells[0]) <= set("-: "):
            continue
        never = [w.strip() for w in cells[2].split(",") if w.strip()]
        rows.append((cells[0], cells[1], never))
    return rows


def test_glossary_is_well_formed() -> None:
    terms = load_terms()
    assert len(terms) >= 40
    for term in terms:
        assert set(term) <= KEYS and {"en", "ko", "never", "def_en", "def_ko"} <= set(term), term
        for key in ("en", "ko", "def_en", "def_ko"):
            assert isinstance(term[key], str) and term[key].strip(), (term, key)
        assert isinstance(term["never"], list) and all(isinstance(w, str) and w for w in term["never"]), term
        assert re.search("[가-힣]", term["def_ko"]) and not re.search("[가-힣]", term["def_en"]), term
        for word in term["never"]:
            assert word not in term["ko"], f"{term['en']}: the Korean term itself contains never-word {word}"
    names = [t["en"].lower() for t in terms]
    assert len(names) == len(set(names)), "duplicate English terms"


def test_glossary_is_in_step_with_the_style_guide() -> None:
    guide = next((p for p in STYLE_GUIDES if p.is_file()), None)
    if guide is None:
        pytest.skip("the Korean style guide ../shared/ko-style.md is not beside this checkout")
    rows = style_guide_rows(guide)
    assert len(rows) >= 20, f"could not read the term table of {guide}"
    by_en = {t["en"]: t for t in load_terms()}
    for en, ko, never in rows:
        assert en in by_en, f"style guide term {en!r} is missing from book/glossary.yml"
        assert by_en[en]["ko"] == ko, f"{en}: glossary says {by_en[en]['ko']!r}, style guide says {ko!r}"
        assert set(never) <= set(by_en[en]["never"]), f"{en}: never-list {never} not in the glossary"


def korean_pages() -> list[Path]:
    return sorted((ROOT / "chapters" / "ko").glob("*.md")) + sorted((ROOT / "book" / "ko").glob("*.md"))


@pytest.mark.parametrize("page", korean_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_korean_pages_use_the_glossary_terms(page: Path) -> None:
    found = violations(page.read_text(encoding="utf-8"), load_terms())
    assert not found, f"{page.relative_to(ROOT)} uses words the glossary rules out:\n" + "\n".join(found)


def test_the_check_catches_wrong_terms() -> None:
    terms = load_terms()
    assert violations("변압기는 시퀀스 모델입니다.", terms)
    assert violations("자기 주의 메커니즘을 봅시다.", terms)
    assert violations("이 층의 주의를 계산합니다.", terms)
    assert violations("마지막 머리의 출력입니다.", terms)
    # ordinary Korean, code, math and allowed phrases are not flagged
    assert violations("트랜스포머의 어텐션을 계산합니다. 순서에 주의하세요.", terms) == []
    assert violations("```{code-cell} ipython3\n# 변압기\n```\n`주의` 와 $주의$", terms) == []
    assert violations("머리말", terms) == []
