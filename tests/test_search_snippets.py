"""book/_static/efftx-search.js, in a real browser (headless Chromium, as in tests/test_browser.py): Sphinx's
search takes a hit's snippet from Search.htmlToText(page); with the script loaded first, that text is the
article's (the page title and body), not the header buttons (language switch, .ipynb, launch) before it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_browser import chromium_path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "book" / "_static" / "efftx-search.js"
PAGE = ('<main role="main"><div class="article-header-buttons">한국어 .ipynb Jupyter</div>'
        '<article class="bd-article"><h1>Attention<a class="headerlink">#</a></h1><p>Body text.</p>'
        '<section id="sec"><h2>Section</h2><p>Inside.</p></section></article></main>')
# searchtools.js declares `const Search` at the top level (not a property of window), after the theme's scripts
HARNESS = """<html><head><script>{script}</script></head><body>
<script>const Search = {{htmlToText: (html, anchor) => new DOMParser().parseFromString(html, "text/html")
  .querySelector('[role="main"]').textContent}};</script></body></html>"""


@pytest.fixture(scope="module")
def page():
    exe = chromium_path()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium found (see tests/test_browser.py) -- required when CI is set", pytrace=False)
        pytest.skip("no Chromium found (see tests/test_browser.py)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--headless", "--no-sandbox", "--disable-gpu"])
        tab = browser.new_page()
        tab.set_content(HARNESS.format(script=SCRIPT.read_text(encoding="utf-8")), wait_until="load")
        yield tab
        browser.close()


def test_snippet_text_is_the_article_not_the_buttons(page) -> None:
    text = page.evaluate("html => Search.htmlToText(html)", PAGE)
    assert text.startswith("Attention") and "Body text." in text, text
    assert ".ipynb" not in text and "한국어" not in text and "#" not in text, text


def test_an_anchor_gives_its_section(page) -> None:
    assert page.evaluate("html => Search.htmlToText(html, '#sec')", PAGE).strip() == "SectionInside."


def test_pages_without_an_article_keep_sphinx_behaviour(page) -> None:
    html = '<main role="main"><p>Plain page.</p></main>'
    assert page.evaluate("html => Search.htmlToText(html)", html) == "Plain page."
