"""The course kit in a real browser (headless Chromium, the fixtures of tests/test_browser.py).

On the static smoke site, served from 127.0.0.1 with every other host blocked: the kernel-free explorers of
chapters 1 and 8 redraw their maps when a slider moves or a menu changes; no chapter page needs more than 3 MB
(transferred as a static host such as GitHub Pages sends it, gzip-compressed; the theme's own Font Awesome
script and MathJax alone are 2.7 MB uncompressed); each chapter's slide deck opens, advances and typesets its
math. Nothing may leave 127.0.0.1 and no console error may appear.
"""

from __future__ import annotations

import functools
import gzip
import mimetypes
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from test_browser import Recorder, browser, browser_exe, server, session  # noqa: F401 - pytest fixtures

ROOT = Path(__file__).resolve().parents[1]
PAGE_BUDGET = 3 * 1024 * 1024  # bytes a chapter page may load, everything included
EXPLORERS = {"01_attention": ("head", "layer"), "08_simplified_block": ("stage", "block"),
             "11_vision": ("residual", "image"), "15_search": ("proxy", "init")}  # (menu, slider)


COMPRESSED = (".html", ".js", ".css", ".json", ".svg", ".txt", ".ipynb")


class _GzipHandler(SimpleHTTPRequestHandler):
    """A static host: text files are sent gzip-compressed to a browser that accepts it."""

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not (path.is_file() and path.suffix in COMPRESSED and "gzip" in self.headers.get("Accept-Encoding", "")):
            return super().do_GET()
        body = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def gzip_server(smoke_site: Path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_GzipHandler, directory=str(smoke_site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _chapters(book_build, lang: str) -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [f for f in book_build.toc_files(book_build.edition_toc(toc, lang)) if f.startswith("chapters/")]


def _fills(page, root: str) -> list[str]:
    return page.eval_on_selector_all(f"{root} svg.efftx-explorer-panel rect",
                                     "rs => rs.map(r => r.getAttribute('fill'))")


def _assert_clean(rec: Recorder) -> None:
    assert not rec.blocked, f"requests that tried to leave the machine: {rec.blocked}"
    assert not rec.errors, f"console errors: {rec.errors}"
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in rec.requests if u.startswith("http"))


@pytest.mark.book
@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("chapter", sorted(EXPLORERS))
def test_static_explorer_redraws_without_a_kernel(chapter: str, lang: str, server: str, session) -> None:  # noqa: F811
    if not (ROOT / "chapters" / lang / f"{chapter}.md").is_file():
        pytest.skip(f"no chapters/{lang}/{chapter}.md")
    page, rec = session
    page.goto(f"{server}/{lang}/chapters/{lang}/{chapter}.html", wait_until="load")
    root = "div.efftx-explorer"
    page.wait_for_selector(f"{root} svg.efftx-explorer-panel rect[fill]", state="attached", timeout=60000)
    assert page.locator(root).count() == 1
    before, view0 = _fills(page, root), page.get_attribute(root, "data-view")
    menu_name, slider_name = EXPLORERS[chapter]
    menu = page.locator(f"{root} select[data-control='{menu_name}']")
    menu.select_option(index=menu.locator("option").count() - 1)
    after_menu, view1 = _fills(page, root), page.get_attribute(root, "data-view")
    assert view1 != view0 and after_menu != before, "choosing in the menu did not change the drawn map"
    slider = page.locator(f"{root} input[type='range'][data-control='{slider_name}']")
    slider.focus()
    page.keyboard.press("End")  # move the slider as a user would, to its last position
    after_slider, view2 = _fills(page, root), page.get_attribute(root, "data-view")
    assert view2 not in (view0, view1) and after_slider != after_menu, "moving the slider changed nothing"
    _assert_clean(rec)


@pytest.mark.book
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_chapter_pages_stay_under_three_megabytes(book_build, lang: str, gzip_server: str, session) -> None:  # noqa: F811
    page, rec = session
    weights = {}
    loaded: list[tuple[str, int]] = []
    page.on("requestfinished", lambda req: loaded.append((req.url, req.sizes()["responseBodySize"])))
    for doc in _chapters(book_build, lang):
        loaded.clear()
        page.goto(f"{gzip_server}/{lang}/{doc}.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        weights[doc] = sum(size for _, size in loaded)
    print(f"bytes transferred per chapter page ({lang}, gzip):", weights)
    heavy = {d: w for d, w in weights.items() if w > PAGE_BUDGET}
    assert not heavy, f"pages over {PAGE_BUDGET} bytes: {heavy}"
    assert all(w > 0 for w in weights.values()), weights
    _assert_clean(rec)


@pytest.mark.book
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_slide_decks_open_advance_and_render_math(book_build, lang: str, server: str, session) -> None:  # noqa: F811
    page, rec = session
    for doc in _chapters(book_build, lang):
        name = Path(doc).name
        page.goto(f"{server}/{lang}/chapters/{lang}/{name}.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        page.click("a.efftx-slides")
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=60000)
        assert page.url.split("#")[0].endswith(f"/{lang}/slides/{name}.html"), page.url
        total = page.evaluate("() => Reveal.getTotalSlides()")
        assert total >= 3, f"{name}: only {total} slides"
        start = page.evaluate("() => Reveal.getIndices().h")
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"() => Reveal.getIndices().h === {start + 1}", timeout=30000)
        if page.locator("div.math").count():
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60000)
            page.evaluate("async () => { await MathJax.startup.promise; }")
            page.wait_for_selector("mjx-container", state="attached", timeout=60000)
            assert page.locator("mjx-container").count() >= page.locator("div.math").count()
        page.wait_for_load_state("networkidle")
    _assert_clean(rec)


@pytest.mark.book
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_printed_pages_do_not_cut_code_off(book_build, lang: str, server: str, session) -> None:  # noqa: F811
    """The handouts' print stylesheet wraps long lines: at A4 width no code block or output overflows."""
    page, rec = session
    page.set_viewport_size({"width": 680, "height": 900})  # A4 minus the handouts' margins, at 96 dpi
    page.emulate_media(media="print")
    for doc in _chapters(book_build, lang):
        page.goto(f"{server}/{lang}/{doc}.html", wait_until="load")
        page.wait_for_load_state("networkidle")  # leaving earlier would abort font requests (console errors)
        cut = page.evaluate("""() => [...document.querySelectorAll('article pre')]
            .filter(p => p.offsetParent !== null && p.scrollWidth > p.clientWidth + 1)
            .map(p => p.textContent.slice(0, 60))""")
        assert not cut, f"{doc}: code cut off in print: {cut[:3]}"
        hidden = page.evaluate("() => getComputedStyle(document.querySelector('.bd-sidebar-primary')).display")
        assert hidden == "none", f"{doc}: the navigation is printed"
    _assert_clean(rec)
