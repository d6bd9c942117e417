"""The built chapter-1 pages in a real browser (headless Chromium driven by Playwright).

Served from 127.0.0.1 by a thread of this test; every request is routed: any other host is blocked and
fails the test. Checks, in English and Korean: bertviz's head view rendered (its SVG exists), the heatmap
images loaded, no console error, the language switch lands on the same chapter in the other edition, and
the search page finds a term. Chromium: $EFFTX_CHROMIUM, else `chromium` on PATH, else /usr/bin/chromium
(`make browser` installs Debian's). Without one the test fails when $CI is set and is skipped otherwise.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHAPTER = "01_attention"
SEARCH = {"en": "attention", "ko": "어텐션"}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("EFFTX_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser_exe() -> str:
    exe = chromium_path()
    if exe is None:
        message = ("no Chromium found ($EFFTX_CHROMIUM, `chromium` on PATH, /usr/bin/chromium); "
                   "install it with `make browser` (Debian: apt-get install chromium)")
        if os.environ.get("CI"):
            pytest.fail(message + " -- required when CI is set", pytrace=False)
        pytest.skip(message)
    return exe


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def server(smoke_site: Path):
    handler = functools.partial(_QuietHandler, directory=str(smoke_site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(browser_exe: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser_exe, args=ARGS, headless=True)
        yield b
        b.close()


class Recorder:
    """Every request (blocked unless it goes to 127.0.0.1) and every console error of a browser context."""

    def __init__(self, context) -> None:
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            route.continue_()
        elif parts.hostname != "127.0.0.1":
            self.blocked.append(url)
            route.abort()
        else:
            route.continue_()

    def watch(self, page) -> None:
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"{page.url}: {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: uncaught {exc}"))
        page.on("requestfailed", lambda req: self.errors.append(f"request failed: {req.url} {req.failure}"))


@pytest.fixture()
def session(browser):
    context = browser.new_context()
    recorder = Recorder(context)
    page = context.new_page()
    recorder.watch(page)
    yield page, recorder
    context.close()


def _chapter_exists(lang: str) -> bool:
    return (ROOT / "chapters" / lang / f"{CHAPTER}.md").is_file()


@pytest.mark.book
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_chapter_one_in_the_browser(lang: str, server: str, session) -> None:
    if not _chapter_exists(lang):
        pytest.fail(f"chapters/{lang}/{CHAPTER}.md does not exist: nothing to check")
    page, rec = session
    other = "ko" if lang == "en" else "en"
    url = f"{server}/{lang}/chapters/{lang}/{CHAPTER}.html"
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, url
    page.wait_for_load_state("networkidle")

    # bertviz's head view drew its SVG
    page.wait_for_selector("[id^='bertviz'] svg", state="attached", timeout=20000)
    assert page.locator("[id^='bertviz'] svg").count() >= 1
    # every figure image (the heatmaps) loaded
    sizes = page.eval_on_selector_all(
        "main img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    figures = [s for s in sizes if "_images/" in (s[0] or "")]
    assert figures, f"no figure image on {url}: {sizes}"
    assert all(complete and width > 0 for _, complete, width in figures), f"broken images: {figures}"
    # math was typeset by the vendored MathJax
    if page.locator("div.math").count():
        page.wait_for_selector("mjx-container", state="attached", timeout=20000)

    # the language switch lands on the same chapter in the other edition
    page.click("a.efftx-lang-switch")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/{other}/chapters/{other}/{CHAPTER}.html"), page.url
    assert page.locator(f"html[lang='{other}']").count() == 1

    # search works in this edition
    page.goto(f"{server}/{lang}/search.html?q={SEARCH[lang]}", wait_until="load")
    page.wait_for_selector("#search-results ul.search li", timeout=30000)
    hits = page.locator("#search-results ul.search li").count()
    assert hits >= 1, f"searching {SEARCH[lang]!r} in the {lang} edition found nothing"
    # the snippets are page text, not the header buttons (language switch, .ipynb, launch)
    page.wait_for_selector("#search-results ul.search li p.context", timeout=30000)
    snippets = page.locator("#search-results ul.search li p.context").all_inner_texts()
    assert snippets and not any(".ipynb" in s or s.lstrip(".… ").startswith(("한국어", "English"))
                                for s in snippets), snippets

    assert not rec.blocked, f"requests that tried to leave the machine: {rec.blocked}"
    assert not rec.errors, f"console errors: {rec.errors}"
    assert rec.requests and all(urlsplit(u).hostname == "127.0.0.1" for u in rec.requests if u.startswith("http"))


def test_recorder_blocks_other_hosts(browser) -> None:
    """The request guard itself: a page that tries to fetch from another host is caught."""
    context = browser.new_context()
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.set_content('<img src="http://example.org/x.png"><script src="https://cdn.example.org/a.js"></script>')
    page.wait_for_timeout(500)
    context.close()
    assert any("example.org" in u for u in rec.blocked), rec.requests
