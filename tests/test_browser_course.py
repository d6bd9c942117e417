"""The course kit in a real browser (headless Chromium, the fixtures of tests/test_browser.py).

On the static smoke site, served from 127.0.0.1 with every other host blocked: every kernel-free explorer of every
chapter page (chapters 1, 2, 3, 8, 11, 12 and 15 have them) redraws when any of its sliders moves or menus changes;
no chapter page needs more than 3 MB (transferred as a static host such as GitHub Pages sends it, gzip-compressed;
the theme's own Font Awesome script and MathJax alone are 2.7 MB uncompressed); each chapter's slide deck opens,
advances and typesets its math; every slide fits a projector. Nothing may leave 127.0.0.1 and no console error may
appear.
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
#: chapters with kernel-free explorers: every explorer of every chapter page is tested, and these must have one
EXPLORER_CHAPTERS = ("01_attention", "02_qkv", "03_positional", "08_simplified_block", "11_vision", "12_backbones",
                     "15_search")


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
    """What the explorer's panels draw: every shape's geometry and colour (heatmap cells, bars, arrows, points)."""
    return page.eval_on_selector_all(
        f"{root} svg.efftx-explorer-panel :is(rect, line, circle)",
        "els => els.map(e => ['fill', 'x', 'y', 'width', 'height', 'x2', 'y2', 'r']"
        ".map(a => e.getAttribute(a)).join(','))")


def _assert_clean(rec: Recorder) -> None:
    assert not rec.blocked, f"requests that tried to leave the machine: {rec.blocked}"
    assert not rec.errors, f"console errors: {rec.errors}"
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in rec.requests if u.startswith("http"))


# Move one control of an explorer to its first or last value, as a user would (menu: that option; slider: focus and
# Home or End); returns False when the control has a single value.
def _move(page, control, last: bool) -> bool:
    if control.evaluate("e => e.tagName") == "SELECT":
        n = control.locator("option").count()
        if n < 2:
            return False
        control.select_option(index=n - 1 if last else 0)
        return True
    if control.get_attribute("max") == control.get_attribute("min"):
        return False
    control.focus()
    page.keyboard.press("End" if last else "Home")
    return True


def _explorer_problems(page, css: str, name: str) -> list[str]:
    """Each control of one explorer, moved to its last value (the others at their first), then back to its first
    (the others at their last): every move changes the view, and at least one of its two moves changes the drawing
    (one move alone may not: a token-pruning method prunes nothing in its first block, whatever its strength)."""
    explorer = page.locator(css)
    controls = page.locator(f"{css} [data-control]")
    if controls.count() == 0:
        return [f"{name}: no control"]
    problems, redrew = [], {}
    for last in (True, False):
        for j in range(controls.count()):
            control = controls.nth(j)
            label = control.get_attribute("data-control")
            before, view0 = _fills(page, css), explorer.get_attribute("data-view")
            if not _move(page, control, last):
                continue
            after, view1 = _fills(page, css), explorer.get_attribute("data-view")
            if view1 == view0:
                problems.append(f"{name}: moving '{label}' did not change the view")
            redrew[label] = redrew.get(label, False) or after != before
    problems += [f"{name}: moving '{label}' never changed the drawing" for label, ok in redrew.items() if not ok]
    return problems


@pytest.mark.book
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_static_explorer_redraws_without_a_kernel(book_build, lang: str, server: str, session) -> None:  # noqa: F811
    """Every explorer of every chapter page, on the static site: each menu and slider changes the view and what the
    panels draw (heatmap cells, bars, arrows, points); see :func:`_explorer_problems`."""
    page, rec = session
    page.set_default_timeout(120000)  # a page of a shared 2-core machine may take longer than 30 s to load
    problems, found = [], {}
    for doc in _chapters(book_build, lang):
        name = Path(doc).name
        page.goto(f"{server}/{lang}/{doc}.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        count = page.locator("div.efftx-explorer").count()
        found[name] = count
        for i in range(count):
            explorer = page.locator("div.efftx-explorer").nth(i)
            explorer.scroll_into_view_if_needed()
            css = f"#{explorer.get_attribute('id')}"
            page.wait_for_selector(f"{css} svg.efftx-explorer-panel :is(rect, line, circle)", state="attached",
                                   timeout=60000)
            problems += _explorer_problems(page, css, f"{name} explorer {i + 1}")
    missing = [c for c in EXPLORER_CHAPTERS if not found.get(c)]
    assert not missing, f"chapter pages without their explorer ({lang}): {missing}"
    assert not problems, "\n".join(problems)
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


# Every slide of every deck, projected at 1280x720: what the test measures, in the page, for one slide at a time.
SLIDE_CHECK = r"""(minPx) => {
  const out = [];
  const area = document.querySelector('.reveal .slides').getBoundingClientRect();
  const scale = Reveal.getScale();
  const skip = e => e.closest('mjx-assistive-mml, aside.notes');
  Reveal.getSlides().forEach((s, idx) => {
    const at = Reveal.getIndices(s);
    Reveal.slide(at.h, at.v);
    const frame = s.querySelector('.efftx-frame');
    const title = ((s.querySelector('h1, h2, h3') || {}).textContent || '').trim().slice(0, 50);
    const name = `slide ${idx + 1} (${title})`;
    if (!frame) { out.push(`${name}: no frame`); return; }
    const body = [...frame.children].filter(e => !/^H[1-3]$/.test(e.tagName)
      && !e.matches('.efftx-book, .efftx-part, .efftx-back'));
    if (!body.some(e => e.textContent.trim() || e.querySelector('img, mjx-container'))) {
      out.push(`${name}: nothing but its title`);
    }
    for (const e of frame.querySelectorAll('*')) {
      if (skip(e)) continue;
      const r = e.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < area.left - 1 || r.right > area.right + 1 || r.top < area.top - 1 || r.bottom > area.bottom + 1) {
        out.push(`${name}: <${e.tagName.toLowerCase()}> overflows the slide `
                 + `(${Math.round(r.left)}..${Math.round(r.right)} x ${Math.round(r.top)}..${Math.round(r.bottom)})`);
        break;
      }
    }
    const walker = document.createTreeWalker(frame, NodeFilter.SHOW_TEXT);
    let smallest = Infinity, where = '', raw = false;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (!n.textContent.trim() || !p || skip(p) || !p.getClientRects().length) continue;
      if (!p.closest('code') && /\\\(|\\\[|\\begin\{/.test(n.textContent)) raw = true;
      const px = parseFloat(getComputedStyle(p).fontSize) * scale;
      if (px < smallest) { smallest = px; where = n.textContent.trim().slice(0, 30); }
    }
    for (const m of frame.querySelectorAll('mjx-container')) {
      const px = parseFloat(getComputedStyle(m).fontSize) * scale;
      if (px < smallest) { smallest = px; where = 'an equation'; }
    }
    if (smallest < minPx - 0.01) out.push(`${name}: text of ${smallest.toFixed(1)} px (${where})`);
    if (raw) out.push(`${name}: untypeset math`);
    const blocks = frame.querySelectorAll('div.math').length;
    if (blocks !== frame.querySelectorAll('div.math mjx-container[display="true"]').length) {
      out.push(`${name}: a display equation is not typeset`);
    }
    for (const img of frame.querySelectorAll('img.figure')) {
      if (!img.complete || !img.naturalWidth) { out.push(`${name}: figure not loaded`); continue; }
      const b = img.getBoundingClientRect(), k = Math.min(b.width / img.naturalWidth, b.height / img.naturalHeight);
      const w = img.naturalWidth * k, h = img.naturalHeight * k;
      if (h < 0.6 * area.height && w < 0.85 * area.width) {
        out.push(`${name}: figure drawn at ${Math.round(w)}x${Math.round(h)} px, not at slide size`);
      }
    }
  });
  return out;
}"""


@pytest.mark.book
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_slide_fits_a_projector(book_build, lang: str, server: str, session) -> None:  # noqa: F811
    """At 1280x720, every slide of every deck: content besides its title, nothing outside the slide (equations and
    figures included), no text smaller than 20 px (equations: their base size), math typeset, figures at slide size."""
    page, rec = session
    page.set_viewport_size({"width": 1280, "height": 720})
    problems = {}
    for doc in _chapters(book_build, lang):
        name = Path(doc).name
        page.goto(f"{server}/{lang}/slides/{name}.html", wait_until="load")
        page.wait_for_function("() => document.documentElement.hasAttribute('data-efftx-fitted')", timeout=120000)
        page.evaluate("() => Reveal.configure({ transition: 'none', backgroundTransition: 'none' })")
        assert abs(page.evaluate("() => Reveal.getScale()") - 1.0) < 0.01, "the slide is not projected at 1280x720"
        found = page.evaluate(SLIDE_CHECK, 20)
        if found:
            problems[name] = found
        page.wait_for_load_state("networkidle")
    report = "\n".join(f"{deck}: {p}" for deck, ps in problems.items() for p in ps)
    assert not problems, f"slides that do not fit a projector ({lang}):\n{report}"
    _assert_clean(rec)


@pytest.mark.book
def test_a_slow_mathjax_still_gets_its_equations_fitted(server: str, session) -> None:  # noqa: F811
    """reveal.js can be ready before the deferred MathJax has run (a loaded CI machine): delay MathJax by 1.5 s and
    the deck must still wait for the typeset before it fits, so chapter 13's wide distillation equation is shrunk."""
    import time

    page, rec = session
    page.set_viewport_size({"width": 1280, "height": 720})

    def slow(route) -> None:
        time.sleep(1.5)
        route.continue_()

    page.route("**/tex-mml-chtml.js", slow)
    page.goto(f"{server}/en/slides/13_compression.html", wait_until="load")
    page.wait_for_function("() => document.documentElement.hasAttribute('data-efftx-fitted')", timeout=120000)
    page.evaluate("() => Reveal.configure({ transition: 'none', backgroundTransition: 'none' })")
    sizes = page.eval_on_selector_all("mjx-container[display='true']", "cs => cs.map(c => c.style.fontSize)")
    assert any(s.endswith("px") for s in sizes), f"no display equation was fitted after a slow MathJax: {sizes}"
    found = page.evaluate(SLIDE_CHECK, 20)
    assert not found, f"slides that do not fit a projector after a slow MathJax: {found}"
    _assert_clean(rec)
