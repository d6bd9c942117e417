"""The built site loads nothing from outside itself: every page and stylesheet of the smoke build is scanned."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

EXTERNAL = re.compile(r"^\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//", re.IGNORECASE)  # http://, https://, //host, ...
# <link rel=...> values that only point somewhere (not loaded by the browser).
NAVIGATIONAL_RELS = {"canonical", "alternate", "next", "prev", "previous", "index", "author", "license", "help",
                     "bookmark", "nofollow", "noopener", "noreferrer", "external", "me", "search", "top", "up"}
CSS_URL = re.compile(r"""url\(\s*['"]?\s*((?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//[^'")\s]*)""", re.IGNORECASE)
CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]?\s*((?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//[^'")\s;]*)""",
                        re.IGNORECASE)
REQUIRE_CONFIG = re.compile(r"require(?:js)?\.config\s*\(", re.IGNORECASE)
QUOTED_URL = re.compile(r"""['"]((?:https?:)?//[^'"]+)['"]""", re.IGNORECASE)
SRC_ATTRS = {"src", "data", "poster", "background", "data-jupyter-widgets-cdn"}


def _is_external(url: str | None) -> bool:
    return bool(url) and bool(EXTERNAL.match(url)) and not url.strip().lower().startswith("data:")


def css_external(css: str) -> list[str]:
    """External url(...) and @import targets in a piece of CSS."""
    return [f"css {m}" for m in CSS_URL.findall(css) + CSS_IMPORT.findall(css)]


def _require_paths(script: str) -> list[str]:
    found = []
    for match in REQUIRE_CONFIG.finditer(script):
        depth, end = 1, match.end()
        while end < len(script) and depth:  # the argument of config( ... ), up to its closing parenthesis
            depth += {"(": 1, ")": -1}.get(script[end], 0)
            end += 1
        window = script[match.end(): end]
        found += [f"requirejs.config path {u}" for u in QUOTED_URL.findall(window)]
    return found


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in: str | None = None
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        for name in SRC_ATTRS:
            if _is_external(a.get(name)):
                self.problems.append(f"<{tag} {name}={a[name]!r}>")
        for candidate in (a.get("srcset") or "").split(","):
            url = candidate.strip().split(" ")[0]
            if _is_external(url):
                self.problems.append(f"<{tag} srcset={url!r}>")
        if tag == "link":
            rels = set((a.get("rel") or "").lower().split())
            if _is_external(a.get("href")) and not rels <= NAVIGATIONAL_RELS:
                self.problems.append(f"<link rel={a.get('rel')!r} href={a['href']!r}>")
        if "style" in a:
            self.problems += [f"<{tag} style> {p}" for p in css_external(a["style"])]
        if tag in ("style", "script"):
            self._in, self._buffer = tag, []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("style", "script"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self._buffer.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._in and tag == self._in:
            text = "".join(self._buffer)
            if tag == "style":
                self.problems += [f"<style> {p}" for p in css_external(text)]
            else:
                self.problems += _require_paths(text)
                # HTML written into the page by an inline script (e.g. an output's innerHTML) counts too
                if "<script" in text or "<link" in text:
                    self.problems += [f"inline script writes {p}" for p in _embedded_html(text)]
            self._in = None


def _embedded_html(script: str) -> list[str]:
    inner = _Scanner()
    inner.feed(script.replace("\\/", "/").replace('\\"', '"'))
    return [p for p in inner.problems if not p.startswith("requirejs")]


def external_resources(html: str) -> list[str]:
    """Everything in an HTML document that would make the browser fetch from another host."""
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.problems


# ------------------------------------------------------------------------------------------------------
# the scanner itself can fail
# ------------------------------------------------------------------------------------------------------
BAD_SNIPPETS = [
    '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>',
    "<script src='//cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js'></script>",
    '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">',
    '<link rel="preload" as="font" href="https://example.org/font.woff2">',
    '<style>@import url("https://fonts.googleapis.com/css2?family=Inter");</style>',
    "<style>@import 'https://example.org/a.css';</style>",
    '<style>body { background: url(https://example.org/bg.png) }</style>',
    '<div style="background-image: url(\'http://example.org/x.png\')"></div>',
    '<img src="https://example.org/logo.png">',
    '<iframe src="https://www.youtube.com/embed/x"></iframe>',
    '<script>require.config({paths: {d3: "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min"}});</script>',
    '<script>requirejs.config({ paths: { "jquery": "//code.jquery.com/jquery-3.5.1.min" } })</script>',
    '<script src="vendor/embed-amd.js" data-jupyter-widgets-cdn="https://cdn.jsdelivr.net/npm/"></script>',
    '<script>el.innerHTML = "<script src=\\"https://cdn.example.org/x.js\\"></script>";</script>',
]
GOOD_SNIPPET = """<!DOCTYPE html><html><head>
<link rel="stylesheet" href="../_static/styles/theme.css"><link rel="canonical" href="https://example.org/x.html">
<script src="../_static/vendor/mathjax/tex-mml-chtml.js"></script>
<style>body { background: url(../_static/bg.png) } @import "local.css";</style>
<script>require.config({paths: {d3: "../_static/d3"}}); var home = "https://example.org";</script>
</head><body><a href="https://arxiv.org/abs/1706.03762">paper</a><img src="data:image/png;base64,AAAA">
<img src="../_images/fig.png"></body></html>"""


@pytest.mark.parametrize("snippet", BAD_SNIPPETS)
def test_scanner_flags_external_resources(snippet: str) -> None:
    assert external_resources(f"<html><body>{snippet}</body></html>"), snippet


def test_scanner_accepts_local_resources_and_plain_links() -> None:
    assert external_resources(GOOD_SNIPPET) == []


# ------------------------------------------------------------------------------------------------------
# the built site
# ------------------------------------------------------------------------------------------------------
@pytest.mark.book
def test_every_built_page_is_offline(smoke_site: Path) -> None:
    pages = sorted(smoke_site.rglob("*.html"))
    assert len(pages) >= 8, f"too few pages in {smoke_site}: {pages}"
    problems = {}
    for page in pages:
        found = external_resources(page.read_text(encoding="utf-8", errors="replace"))
        if found:
            problems[str(page.relative_to(smoke_site))] = found
    assert not problems, f"pages that load from outside the site: {problems}"


@pytest.mark.book
def test_stylesheets_are_offline(smoke_site: Path) -> None:
    sheets = sorted(smoke_site.rglob("*.css"))
    assert sheets
    problems = {}
    for sheet in sheets:
        css = re.sub(r"/\*.*?\*/", "", sheet.read_text(encoding="utf-8", errors="replace"), flags=re.S)
        found = css_external(css)
        if found:
            problems[str(sheet.relative_to(smoke_site))] = found
    assert not problems, f"stylesheets that load from outside the site: {problems}"


@pytest.mark.book
def test_mathjax_and_widget_manager_are_vendored(smoke_site: Path) -> None:
    for lang in ("en", "ko"):
        static = smoke_site / lang / "_static" / "vendor"
        for rel in ("mathjax/tex-mml-chtml.js", "mathjax/LICENSE", "requirejs/require.js",
                    "html-manager/dist/embed-amd.js", "html-manager/LICENSE",
                    "mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff"):
            assert (static / rel).is_file(), f"{lang}: missing vendored file _static/vendor/{rel}"
