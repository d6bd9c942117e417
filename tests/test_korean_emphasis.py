"""Emphasis in the Korean edition renders as emphasis, never as a literal `*`.

MyST (markdown-it, CommonMark flanking rules) does not close `*…*` right after `)` when Hangul follows:
`*값(value)*들의` renders as the text "*값(value)*들의". Write `*값*(value)들의`, and never put a space before the
particle as a work-around (`*메모리(memory)* 는`). Checked twice: on the source of every Korean page with the MyST
parser the build uses (fast, no build), and on the built Korean pages of the smoke site (tests/conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = {"amsmath", "colon_fence", "deflist", "dollarmath", "html_image", "substitution"}  # _config.yml
# text that may hold a literal `*`: code, math, scripts and styles
VERBATIM = re.compile(
    r"<(pre|code|script|style|mjx-container)\b[^>]*>.*?</\1>"
    r"|<(span|div)\b[^>]*class=\"[^\"]*\bmath\b[^\"]*\"[^>]*>.*?</\2>", re.S)
# a particle split from its word by a space after closed emphasis (이 is left out: it is also "this")
SPACED_PARTICLE = re.compile(r"</(?:em|strong)>\s+(?:은|는|을|를|의|에|와|과|로|으로|에서)(?=[\s.,;:)]|$)")


def korean_pages() -> list[Path]:
    return sorted((ROOT / "chapters" / "ko").glob("*.md")) + sorted((ROOT / "book" / "ko").glob("*.md"))


def emphasis_problems(html: str) -> list[str]:
    """Literal asterisks and space-separated particles in rendered HTML, with some context."""
    text = VERBATIM.sub("⟨v⟩", html)  # a placeholder: no particle can follow it
    found = [f"spaced particle: {m.group(0)!r}" for m in SPACED_PARTICLE.finditer(text)]
    plain = re.sub(r"<[^>]+>", "", text)
    found += [f"literal *: …{plain[max(0, m.start() - 30): m.end() + 30]}…".replace("\n", " ")
              for m in re.finditer(r"\*", plain)]
    return found


def render(markdown: str) -> str:
    markdown = re.sub(r"\A---\n.*?\n---\n", "", markdown, flags=re.S)  # the jupytext header
    return create_md_parser(MdParserConfig(enable_extensions=EXTENSIONS), RendererHTML).render(markdown)


def test_the_check_catches_broken_emphasis() -> None:
    assert emphasis_problems(render("*값(value)*들의 가중합"))
    assert emphasis_problems(render("*메모리(memory)* 는 한 번만"))
    assert emphasis_problems(render("**`True`는 볼 수 있음** 을 뜻하며"))
    ok = "*값*(value)들의 가중합, **학습 목표.** 이 장, `a*b`, $x^*$\n\n```\nx = a * b\n```\n"
    assert emphasis_problems(render(ok)) == []


@pytest.mark.parametrize("page", korean_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_korean_source_renders_its_emphasis(page: Path) -> None:
    problems = emphasis_problems(render(page.read_text(encoding="utf-8")))
    assert not problems, f"{page.relative_to(ROOT)}:\n" + "\n".join(problems)


@pytest.mark.book
def test_built_korean_pages_show_no_literal_asterisk(smoke_site: Path) -> None:
    pages = sorted((smoke_site / "ko" / "chapters" / "ko").glob("*.html")) + \
        sorted((smoke_site / "ko" / "book" / "ko").glob("*.html"))
    assert pages, f"no Korean page under {smoke_site / 'ko'}"
    for page in pages:
        html = page.read_text(encoding="utf-8")
        start = html.find('<article class="bd-article"')
        article = html[start: html.index("</article>", start)] if start >= 0 else html
        problems = emphasis_problems(article)
        assert not problems, f"{page}:\n" + "\n".join(problems)
