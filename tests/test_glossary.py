"""The bilingual glossary (book/glossary.yml): well-formed, in step with the Korean style guide, and obeyed.

Korean pages (chapters/ko/*.md, book/ko/*.md), the Korean slides and the glossary's own Korean definitions
must not use a word the glossary lists under "never" for a term (e.g. 변압기 for transformer, 내트 for nat).
A "never" word counts when it stands as a noun: at the start of a Hangul word, followed by nothing, a
space/punctuation or a particle (은/는/이/가/을/를/의/...); a word that begins or ends with a Latin letter
("nats", "노트북 CPU") must not touch another Latin letter there, and may carry any Korean ending. Ordinary
Korean that happens to contain a never word (주의하세요 "be careful") is not flagged; phrases listed in an
entry's ``allow`` are removed first. Code cells, inline code and math are not checked.

Two style rules of ko-style.md are held here too: imperatives end in -십시오, never -세요, and every chapter's
differences section carries the one heading "논문 및 저자 코드와의 차이, 그리고 그 이유" (its English twin:
"Differences from the papers and the authors' code, and why").
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
PARTICLES = ("이라는|이라고|으로써|으로서|에서는|에서도|에서의|에게서|으로는|으로도|에서|에게|까지|부터|처럼|보다|"
             "라는|라고|이란|이다|입니다|이며|이고|으로|와의|과의|와는|과는|로는|로도|에는|에도|로|은|는|이|가|을|를|"
             "의|에|와|과|도|만|란|나")
# A section heading that every chapter with a differences section carries, word for word.
KO_DIFFERENCES = "논문 및 저자 코드와의 차이, 그리고 그 이유"
EN_DIFFERENCES = "Differences from the papers and the authors' code, and why"


def load_terms() -> list[dict]:
    return yaml.safe_load(GLOSSARY.read_text(encoding="utf-8"))["terms"]


def never_pattern(word: str) -> re.Pattern[str]:
    """Matches `word` used as a noun: not inside a longer Hangul word, optionally followed by a particle.

    A word that starts (ends) with a Latin letter must not follow (be followed by) another Latin letter; after a
    final Latin letter any Korean ending may follow (노트북 CPU에서도), as Korean writes it glued on."""
    before = "(?<![A-Za-z])" if re.match("[A-Za-z]", word) else "(?<![가-힣])"
    after = "(?![A-Za-z])" if re.search("[A-Za-z.]$", word) else rf"(?:{PARTICLES})?(?![가-힣])"
    return re.compile(before + re.escape(word) + after)


# Fenced directives whose body is code, math or generated text; every other directive (exercise, solution,
# admonition, dropdown, figure, ...) holds prose and is read.
VERBATIM_DIRECTIVES = {"code-cell", "code-block", "code", "sourcecode", "math", "raw", "eval-rst", "literalinclude",
                       "footbibliography", "bibliography", "glossary-table", "mermaid"}
FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(.*?)\s*$")


def _without_verbatim_blocks(text: str) -> str:
    """Blank out code cells, code fences and math directives, keeping the prose inside other directives
    (exercises, solutions, admonitions, captions); lines keep their numbers."""
    out, stack = [], []  # stack of (fence, keep)
    for line in text.split("\n"):
        m = FENCE.match(line)
        if m:
            fence, info = m.groups()
            top, top_keep = stack[-1] if stack else ("", True)
            if stack and info == "" and fence[0] == top[0] and len(fence) >= len(top):
                stack.pop()  # the fence that closes the innermost block
                out.append("")
                continue
            if top_keep:  # inside code nothing opens a block; elsewhere a fence opens one
                name = re.match(r"\{([^}]+)\}", info)
                stack.append((fence, bool(name) and name.group(1) not in VERBATIM_DIRECTIVES))
                out.append("")
                continue
        out.append(line if all(k for _, k in stack) else "")
    return "\n".join(out)


def korean_prose(text: str) -> str:
    """The prose of a MyST page: without code cells/fences, inline code, math and the YAML header; the prose
    inside directives (exercises, solutions, admonitions, figure captions) is kept, and lines keep their numbers."""
    text = re.sub(r"\A---\n.*?\n---\n", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = _without_verbatim_blocks(text)
    text = re.sub(r"\$\$.*?\$\$", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\$[^$\n]*\$", "", text)
    return text


def violations(text: str, terms: list[dict], *, prose_of=korean_prose) -> list[str]:
    prose = prose_of(text)
    for term in terms:
        for phrase in term.get("allow") or []:
            prose = prose.replace(phrase, " ")
    found = []
    for term in terms:
        for word in term.get("never") or []:
            for m in never_pattern(word).finditer(prose):
                line = prose.count("\n", 0, m.start()) + 1
                found.append(f"line {line}: {m.group(0)!r} (for {term['en']!r} write {term['ko']!r})")
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


def test_the_glossary_obeys_itself() -> None:
    """The Korean definitions (shown on the glossary page) use the glossary's own terms."""
    terms = load_terms()
    found = [f"{t['en']}: {v}" for t in terms for v in violations(t["def_ko"], terms, prose_of=lambda s: s)]
    assert not found, "Korean definitions in book/glossary.yml use ruled-out words:\n" + "\n".join(found)


# ---- style rules of ko-style.md that are not a single term ---------------------------------------------------
SEYO = re.compile(r"[가-힣]세요(?![가-힣])")


def style_problems(text: str) -> list[str]:
    """-세요 imperatives, and differences headings that are not worded as KO_DIFFERENCES."""
    prose = korean_prose(text)
    found = [f"line {prose.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r} (imperatives end in -십시오)"
             for m in SEYO.finditer(prose)]
    for heading in re.findall(r"^#{2,6} +(.+?)\s*$", prose, flags=re.M):
        if re.search(r"(차이|다른|다르).*이유", heading) and heading != KO_DIFFERENCES:
            found.append(f"heading {heading!r}: the differences section is headed {KO_DIFFERENCES!r}")
    return found


@pytest.mark.parametrize("page", korean_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_korean_pages_follow_the_style_rules(page: Path) -> None:
    found = style_problems(page.read_text(encoding="utf-8"))
    assert not found, f"{page.relative_to(ROOT)}:\n" + "\n".join(found)


def headings(path: Path) -> list[str]:
    return re.findall(r"^#{2,6} +(.+?)\s*$", korean_prose(path.read_text(encoding="utf-8")), flags=re.M)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "chapters" / "en").glob("*.md")))
def test_differences_sections_have_one_heading_in_both_editions(name: str) -> None:
    en, ko = headings(ROOT / "chapters" / "en" / name), headings(ROOT / "chapters" / "ko" / name)
    odd = [h for h in en if re.search(r"\bdiffer.*\bwhy\b", h, flags=re.I) and h != EN_DIFFERENCES]
    assert not odd, f"chapters/en/{name}: the differences section is headed {EN_DIFFERENCES!r}, not {odd}"
    assert (EN_DIFFERENCES in en) == (KO_DIFFERENCES in ko), \
        f"{name}: one edition has the differences section and the other does not (or not under its heading)"


# ---- the Korean slides ---------------------------------------------------------------------------------------
def course_ui_ko() -> list[str]:
    """The Korean strings book/_ext/efftx_course.py puts on every deck (titles of the goals/summary slides, ...)."""
    import importlib.util
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        spec = importlib.util.spec_from_file_location("efftx_course_for_glossary", ROOT / "book" / "_ext" /
                                                      "efftx_course.py")
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    strings = []
    for value in module.UI["ko"].values():
        strings += list(value) if isinstance(value, tuple) else [value]
    return strings


def slide_source(text: str) -> str:
    """What efftx_course.deck_slides takes from a chapter page: headings and bulleted/numbered list items
    (learning goals, key points, the summary); its equations are math and its figures carry no words."""
    prose = korean_prose(text)
    lines = [m.group(1) for m in re.finditer(r"^(?:#{1,6}|\s*[-*+]|\s*\d+\.)\s+(.*)$", prose, flags=re.M)]
    return "\n".join(lines)


def deck_text(html_text: str) -> str:
    """The words of a built reveal.js deck: no scripts, styles, code or math, no tags."""
    import html as html_lib

    text = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", html_text, flags=re.S)
    text = re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]", " ", text, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", text))


def test_korean_slide_text_uses_the_glossary_terms() -> None:
    """The deck of every Korean chapter, from the text the generator reads (no build needed)."""
    terms = load_terms()
    found = [f"efftx_course.UI['ko']: {v}" for v in violations("\n".join(course_ui_ko()), terms)]
    for page in sorted((ROOT / "chapters" / "ko").glob("*.md")):
        source = slide_source(page.read_text(encoding="utf-8"))
        assert source.strip(), f"{page.name}: no slide text found (has the page lost its headings?)"
        found += [f"{page.name} (slides): {v}" for v in violations(source, terms, prose_of=lambda s: s)]
    assert not found, "the Korean slides use words the glossary rules out:\n" + "\n".join(found)


@pytest.mark.book
def test_built_korean_slides_use_the_glossary_terms(smoke_site: Path) -> None:
    decks = sorted((smoke_site / "ko" / "slides").glob("*.html"))
    assert decks, f"no Korean deck under {smoke_site / 'ko' / 'slides'}"
    terms = load_terms()
    found = []
    for deck in decks:
        text = deck_text(deck.read_text(encoding="utf-8"))
        found += [f"{deck.name}: {v}" for v in violations(text, terms, prose_of=lambda s: s)]
        found += [f"{deck.name}: {m.group(0)!r} (imperatives end in -십시오)" for m in SEYO.finditer(text)]
    assert not found, "the built Korean slides use words the glossary rules out:\n" + "\n".join(found)


def test_the_check_catches_wrong_terms() -> None:
    terms = load_terms()
    assert violations("변압기는 시퀀스 모델입니다.", terms)
    assert violations("자기 주의 메커니즘을 봅시다.", terms)
    assert violations("이 층의 주의를 계산합니다.", terms)
    assert violations("마지막 머리의 출력입니다.", terms)
    # ordinary Korean, code, math and allowed phrases are not flagged
    assert violations("트랜스포머의 어텐션을 계산합니다. 순서에 주의하세요.", terms) == []
    assert violations("```{code-cell} ipython3\n# 변압기\n```\n`주의` 와 $주의$", terms) == []
    assert violations("````{solution} ex-1\n:class: dropdown\n```python\n# 변압기\n```\n변압기입니다.\n````", terms)
    assert violations(":::{admonition} 요약\n변압기\n:::\n", terms)
    assert violations("```{code-cell} ipython3\n:::\n# 변압기\n```\n변압기입니다.\n", terms)  # ::: inside code
    assert violations("머리말", terms) == []
    # one term each (ko-style.md): the variants that drifted between chapters
    for wrong in ("손실은 0.3 nats입니다.", "1.2 내트", "청크 대신 묶음으로 자릅니다.", "슬라이딩 윈도우 어텐션",
                  "창이 겹치지 않고", "시험 정확도는 90%입니다.", "테스트 집합에서", "세 번째 회차에서",
                  "Vaswani 외", "크로스 엔트로피", "어텐션 지도에서", "이 기계에서", "이 컴퓨터에서",
                  "노트북 CPU에서도", "대응 차이", "Theorem 2에서", "Alg. 1의", "신뢰구간", "A/A 대조군은",
                  "학습 한 단계에"):
        assert violations(wrong, terms), wrong
    for right in ("손실은 0.3 나트입니다.", "그 외에도", "기계 학습 입문", "노트북 컴퓨터에서도", "natural 한",
                  "시곗바늘 묶음", "시험해 보십시오", "A/A 대조는", "정리 2에서"):
        assert violations(right, terms) == [], right
    assert style_problems("다시 실행해 보세요.")
    assert style_problems("## 논문과 다른 점과 그 이유\n")
    assert style_problems(f"다시 실행해 보십시오.\n\n## {KO_DIFFERENCES}\n\n## 융합 커널이 더 빠른 이유\n") == []
    assert "학습 목표" in course_ui_ko() and "학습 목표" in slide_source("# 제목\n\n- 학습 목표를 봅니다\n")
