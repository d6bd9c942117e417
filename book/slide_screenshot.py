"""One projected slide as a PNG, for the README's course-kit section: a deck of the built site, at 1280x720.

    python book/slide_screenshot.py [--site _build/smoke/html] [--deck en/slides/01_attention.html]
                                    [--slide 1] [--out book/slide-screenshot.png]

The site is served from 127.0.0.1 and opened in headless Chromium ($EFFTX_CHROMIUM, `chromium` on PATH or
/usr/bin/chromium) as the slide test opens it (tests/test_browser_course.py): the deck is fitted, its math typeset,
and slide ``--slide`` (0 is the title slide) is shown without its transition.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


def screenshot(site: Path, deck: str, slide: int, out: Path, chromium: str) -> Path:
    """Serve ``site``, open ``deck`` at 1280x720, show slide ``slide`` and write it to ``out``."""
    from playwright.sync_api import sync_playwright

    if not (site / deck).is_file():
        raise SystemExit(f"no deck {site / deck}: build the site first (book/build.py)")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(300000)  # a busy machine loads slowly
            # offline, as the site is: anything but 127.0.0.1 is refused at once
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("http://127.0.0.1",
                       "data:", "blob:")) else route.abort())
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/{deck}", wait_until="domcontentloaded")
            page.wait_for_function("() => document.documentElement.hasAttribute('data-efftx-fitted')")
            page.evaluate("() => Reveal.configure({ transition: 'none', backgroundTransition: 'none' })")
            total = page.evaluate("() => Reveal.getTotalSlides()")
            if not 0 <= slide < total:
                raise SystemExit(f"{deck} has {total} slides, no slide {slide}")
            page.evaluate(f"() => Reveal.slide({slide})")
            page.wait_for_load_state("networkidle")
            page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=ROOT / "_build" / "smoke" / "html")
    ap.add_argument("--deck", default="en/slides/01_attention.html")
    ap.add_argument("--slide", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "book" / "slide-screenshot.png")
    args = ap.parse_args(argv)
    chromium = next((c for c in (os.environ.get("EFFTX_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium")
                     if c and Path(c).exists()), None)
    if chromium is None:
        raise SystemExit("no Chromium found ($EFFTX_CHROMIUM, `chromium` on PATH, /usr/bin/chromium)")
    print(screenshot(args.site, args.deck, args.slide, args.out, chromium))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
