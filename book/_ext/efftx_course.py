"""The course kit, as a Sphinx extension: student builds, slide decks, handout links and the syllabus plan.

- **Student build** (``efftx_solutions = "hide"``, set by ``book/build.py --solutions hide`` or
  ``EFFTX_SOLUTIONS=hide``): every sphinx-exercise ``{solution}`` and every self-check answer dropdown
  (``:class-container: selfcheck-answers``) is removed from the doctree before the page and the search
  index are written, and from the markdown cells of the page's ``.ipynb`` download.
- **Slides**: every chapter page (a notebook under ``chapters/``) gets a reveal.js deck at
  ``slides/<chapter>.html``, generated from the page's own doctree, so a deck cannot drift from its chapter:
  a title slide (the book's title, the part, the chapter's number and title, the learning goals); per lecture
  section one slide with its key points (the section's "In short" box, an admonition with the class
  ``keypoints`` that the page shows too) and its central equation, then its figures at slide size; the
  summary. Each section's opening paragraph becomes the speaker notes (press S). A small script shrinks a
  slide that would overflow its 1280x720 frame, never below 20 px text. reveal.js and MathJax come from
  ``_static/vendor``; ``book/build.py`` prints each deck to ``handouts/<chapter>-slides.pdf``.
- **Handouts**: when ``efftx_handouts`` is on, chapter and course pages link ``handouts/<name>.pdf``, which
  ``book/build.py`` prints with headless Chromium after the edition is built.
- tqdm progress bars are shown as text, and pages that show no other widget do not load the ipywidgets
  manager (3.6 MB): chapter pages stay under 3 MB.
- ``{course-plan}`` and ``{course-map}`` directives: the semester plan and the chapter-dependency map of
  ``book/course.yml`` in the edition's language; a chapter that ``_toc.yml`` does not list (yet) is shown
  without a link, so the plan covers future chapters and never breaks the build. Readings are references.bib keys,
  shown as "Authors year" linked to the DOI, url or arXiv page.
- ``{course-hours}``: each week's hours in every timetable of ``book/course.yml``, self-study computed
  (:func:`week_hours`) from the measured prose and exercise count of the week's chapters, the graded labs of
  ``labs/labs.yml`` and the project hours; ``{course-fallback}``: the CPU fallback of the week that needs a GPU;
  the ``{course}`key``` role: a number of the plan for the prose (:func:`course_values`), so prose and tables agree.
"""

from __future__ import annotations

import html
import json
import math
import posixpath
import re
import unicodedata
from pathlib import Path
from typing import Any

import nbformat
import yaml
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective, SphinxRole

UI = {
    "en": {
        "slides": "Slides of this chapter (reveal.js)",
        "slides_label": "Slides",
        "pdf": "Printable handout of this page (PDF)",
        "slides_pdf": "The slides of this chapter, printed (PDF, one slide a page)",
        "back": "Back to the chapter",
        "goals": "Learning goals",
        "summary": "Summary",
        "plan": ("Week", "Lecture", "Lab", "Reading", "Exercises and projects"),
        "chapter": "Chapter",
        "chapter_n": "Chapter {}",
        "soon": "in preparation",
        "map_title": "Chapter dependencies: an arrow goes from a chapter to one that builds on it",
        "licence": ("© 2026 The efftx authors · text, figures and slides: CC BY 4.0 · code: MIT"),
    },
    "ko": {
        "slides": "이 장의 슬라이드 (reveal.js)",
        "slides_label": "슬라이드",
        "pdf": "이 페이지의 인쇄용 자료 (PDF)",
        "slides_pdf": "이 장의 슬라이드를 인쇄한 파일 (PDF, 한 쪽에 슬라이드 하나)",
        "back": "본문으로 돌아가기",
        "goals": "학습 목표",
        "summary": "요약",
        "plan": ("주", "강의", "실습", "읽기", "연습 문제와 프로젝트"),
        "chapter": "장",
        "chapter_n": "{}장",
        "soon": "준비 중",
        "map_title": "장 사이의 의존 관계: 화살표는 앞선 장에서 그 장을 바탕으로 하는 장으로 향합니다",
        "licence": "© 2026 The efftx authors · 본문, 그림, 슬라이드: CC BY 4.0 · 코드: MIT",
    },
}
# Sections that are not lecture material (their content is the exercises, the bibliography, the summary).
SKIP_SECTIONS = {"exercises", "references", "summary", "연습 문제", "참고 문헌", "요약"}
SUMMARY_SECTIONS = {"summary", "요약"}


def _ui(app: Sphinx) -> dict[str, Any]:
    return UI.get(app.config.language or "en", UI["en"])


# ----------------------------------------------------------------------------------------------------------
# student build
# ----------------------------------------------------------------------------------------------------------
def hiding(app: Sphinx) -> bool:
    value = str(app.config.efftx_solutions).lower()
    if value not in ("show", "hide"):
        raise ValueError(f"efftx_solutions must be 'show' or 'hide', got {value!r}")
    return value == "hide"


def _is_answer(node: nodes.Node) -> bool:
    if not isinstance(node, nodes.Element):
        return False
    if {"selfcheck-answers", "efftx-variant-answer"} & set(node.get("classes", [])):
        return True
    return type(node).__name__ in {"solution_node", "solution_start_node", "solution_end_node"}


def remove_answers(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Drop solutions and self-check answers from a page (student build); before search indexing."""
    if not hiding(app):
        return
    for node in list(doctree.findall(_is_answer)):
        if node.parent is not None:
            node.parent.remove(node)


_FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\{(solution|dropdown)\}")


def strip_answers(markdown: str) -> str:
    """Remove ``{solution}`` blocks and ``selfcheck-answers`` dropdowns from MyST markdown (any fence length)."""
    lines = markdown.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            fence, kind = m.group(2), m.group(3)
            j = i + 1
            options = []
            while j < len(lines) and lines[j].lstrip().startswith(":") and not lines[j].strip().startswith(fence):
                options.append(lines[j])
                j += 1
            if kind == "solution" or any("selfcheck-answers" in o for o in options):
                end = j
                while end < len(lines):
                    s = lines[end].strip()
                    if s and set(s) == {fence[0]} and len(s) >= len(fence):
                        break
                    end += 1
                i = end + 1
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def strip_notebook(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            new = strip_answers(cell.source)
            changed |= new != cell.source
            cell.source = new
    if changed:
        path.write_text(nbformat.writes(nb), encoding="utf-8")


# ----------------------------------------------------------------------------------------------------------
# slides
# ----------------------------------------------------------------------------------------------------------
KEYPOINTS = "keypoints"  # the class of a section's "In short" box: :::{admonition} In short / :class: keypoints
SLIDE_W, SLIDE_H = 1280, 720  # reveal.js slide size (px); the browser test projects at this size
SLIDES_PDF_SUFFIX = "-slides.pdf"  # handouts/<chapter>-slides.pdf, printed by book/build.py next to the handout
MIN_TEXT_PX = 20  # no text on a slide is smaller (the fitting script stops here; the browser test checks it)


def _is_keypoints(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Element) and KEYPOINTS in node.get("classes", [])


def _inline(node: nodes.Node) -> str:
    """Inline content as HTML: text, inline math (for MathJax), code, emphasis; links become plain text."""
    if isinstance(node, nodes.Text):
        return html.escape(node.astext())
    name = type(node).__name__
    if name == "math":
        return r"\(" + html.escape(node.astext()) + r"\)"
    if name in ("footnote_reference", "citation_reference", "pending_xref_condition"):
        return ""
    inner = "".join(_inline(c) for c in node.children)
    if isinstance(node, nodes.literal):
        return f"<code>{inner}</code>"
    if isinstance(node, nodes.emphasis):
        return f"<em>{inner}</em>"
    if isinstance(node, nodes.strong):
        return f"<strong>{inner}</strong>"
    return inner


def _item_html(item: nodes.Element) -> str:
    return " ".join(_inline(p) for p in item.children if isinstance(p, nodes.paragraph))


def _items(lst: nodes.Element) -> list[str]:
    return [_item_html(i) for i in lst.children if isinstance(i, nodes.list_item)]


def _math_html(tex: str) -> str:
    tex = tex.strip()
    if tex.startswith("\\begin"):
        return '<div class="math">' + html.escape(tex) + "</div>"
    return '<div class="math">\\[' + html.escape(tex) + "\\]</div>"


def _title(section: nodes.section) -> nodes.title | None:
    return next((c for c in section.children if isinstance(c, nodes.title)), None)


def _own_nodes(section: nodes.Element, cls: type) -> list[nodes.Element]:
    """Descendants of ``cls`` that are not inside a nested section."""
    found = []

    def walk(node: nodes.Element) -> None:
        for child in node.children:
            if isinstance(child, nodes.section):
                continue
            if isinstance(child, cls):
                found.append(child)
            elif isinstance(child, nodes.Element):
                walk(child)

    walk(section)
    return found


def _image_src(app: Sphinx, pagename: str, node: nodes.image) -> str | None:
    """The image's URL from slides/<chapter>.html (the HTML writer has already made ``uri`` page-relative)."""
    uri = node.get("uri", "")
    if uri.startswith("data:"):
        return uri
    name = getattr(app.builder, "images", {}).get(uri)
    if name:  # not yet rewritten by the writer
        return f"../{app.builder.imagedir}/{name}"
    target = posixpath.normpath(posixpath.join(posixpath.dirname(pagename), uri))
    if target.startswith("..") or not (Path(app.outdir) / target).is_file() and not target.startswith(
            app.builder.imagedir + "/"):
        return None
    return "../" + target


def is_lecture_section(title: str) -> bool:
    """A top-level section that is taught (not the exercises, summary, references or the differences list)."""
    text = title.strip().lower()
    if text in SKIP_SECTIONS:
        return False
    if text.startswith("differences from the paper"):
        return False
    return not ("논문" in text and ("차이" in text or "다른 점" in text))


def _choice(classes: list[str], kind: str) -> int | None:
    """``eq-2`` / ``fig-none`` on a key-points box: which equation / figure of the section the slide shows.

    Default 1 (the section's first); ``none``: none; returns a 0-based index or None."""
    for c in classes:
        if c.startswith(kind + "-"):
            value = c[len(kind) + 1:]
            return None if value == "none" else int(value) - 1
    return 0


def _wide(ch: str) -> bool:
    return "\u1100" <= ch <= "\u11ff" or "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or \
        "\uff00" <= ch <= "\uffef"


def text_lines(text_html: str, font_px: float, width_px: float) -> int:
    """Lines a piece of slide text takes (an estimate: Hangul is 1 em wide, other characters about 0.55 em;
    inline TeX counts as half its source length)."""
    text = re.sub(r"<[^>]+>", "", text_html)
    text = re.sub(r"\\\((.*?)\\\)", lambda m: "x" * max(1, len(m.group(1)) // 2), text)
    text = html.unescape(text)
    em = sum(1.0 if _wide(ch) else 0.55 for ch in text)
    return max(1, -(-int(em * font_px) // int(width_px)))


def chunk_items(items: list[str], font_px: float, width_px: float, max_lines: int) -> list[list[str]]:
    """Split bullet items into slides of at most ``max_lines`` estimated lines (an item is never split)."""
    chunks: list[list[str]] = [[]]
    used = 0
    for item in items:
        n = text_lines(item, font_px, width_px)
        if chunks[-1] and used + n > max_lines:
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += n
    return [c for c in chunks if c]


def _ul(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _notes(text: str) -> str:
    return f'<aside class="notes">{text}</aside>' if text else ""


def _slide(kind: str, inner: str, notes: str = "", section: str = "") -> str:
    attr = f' data-section="{html.escape(section)}"' if section else ""
    return f'<section class="efftx-{kind}"{attr}><div class="efftx-frame">{inner}</div>{_notes(notes)}</section>'


def _opening(section: nodes.Element) -> str:
    """The section's opening paragraph (its first paragraph before any code or subsection), as HTML."""
    for child in section.children:
        if isinstance(child, nodes.paragraph):
            return _inline(child)
        if isinstance(child, nodes.section):
            break
    return ""


def chapter_place(app: Sphinx, pagename: str) -> tuple[str, str]:
    """(chapter number, part caption) of a chapter page, from the book's table of contents."""
    number = ""
    numbers = getattr(app.env, "toc_secnumbers", {}).get(pagename, {})
    if numbers.get(""):
        number = ".".join(str(n) for n in numbers[""])
    parts = getattr(app, "_efftx_parts", None)
    if parts is None:
        parts = {}
        try:
            from sphinx import addnodes

            root = app.env.get_doctree(app.config.root_doc)
            for toc in root.findall(addnodes.toctree):
                for docname in toc.get("includefiles", []):
                    parts.setdefault(docname, toc.get("caption") or "")
        except Exception:  # noqa: BLE001 - a deck without its part is still a deck
            parts = {}
        app._efftx_parts = parts
    return number, parts.get(pagename, "")


# Type sizes (px at 1280x720) and the room the text has: the fitting script shrinks a slide that still
# overflows, down to MIN_TEXT_PX; chunk_items keeps lists short enough that it rarely has to.
BODY_PX, GOAL_PX, TEXT_W = 28, 24, SLIDE_W - 2 * 64 - 40


def deck_slides(app: Sphinx, pagename: str, doctree: nodes.document) -> tuple[str, list[str]]:
    """(chapter title as HTML, the slides as <section> HTML) from a chapter's resolved doctree.

    Title slide: the book's title, the part, the chapter's number and title, the learning goals (continued on
    a second slide when they do not fit). Then, per lecture section, one slide with the section's key points
    (its "In short" box), its central equation (the section's first display equation, or the one the box
    names with an ``eq-N`` class; ``eq-none`` for none) and the section's opening paragraph as speaker notes;
    then each figure of the section on a slide of its own, at slide size (``fig-N`` on the box moves that
    figure first; ``fig-none`` leaves the figures out). Last, the summary.
    """
    ui = _ui(app)
    top = next(iter(doctree.findall(nodes.section)), None)
    if top is None:
        return "", []
    title = _title(top)
    title_html = _inline(title) if title is not None else ""
    number, part = chapter_place(app, pagename)
    book = str(getattr(app.config, "html_title", "") or app.config.project or "")
    slides = []
    goals = next((_items(c) for c in top.children if isinstance(c, nodes.bullet_list)), [])
    label = ui["chapter_n"].format(number) if number else ""
    head = (f'<p class="efftx-book">{html.escape(book)}</p>'
            + (f'<p class="efftx-part">{html.escape(part)}</p>' if part else "")
            + f'<h1><span class="efftx-number">{html.escape(label)}</span> {title_html}</h1>')
    first = chunk_items(goals, GOAL_PX, TEXT_W, 12)[0] if goals else []
    rest = goals[len(first):]
    goals_html = f'<h3>{html.escape(ui["goals"])}</h3>{_ul(first)}' if first else ""
    back = f'<p class="efftx-back"><a href="../{pagename}.html">{html.escape(ui["back"])}</a></p>'
    slides.append(_slide("title", head + goals_html + back + licence_html(ui), _opening(top)))
    chunks = chunk_items(rest, BODY_PX, TEXT_W, 11) if rest else []
    for chunk in chunks:
        slides.append(_slide("goals", f'<h2>{html.escape(ui["goals"])}</h2>{_ul(chunk)}'))

    for section in (c for c in top.children if isinstance(c, nodes.section)):
        t = _title(section)
        if t is None:
            continue
        text = t.astext().strip().lower()
        heading = _inline(t)
        if text in SUMMARY_SECTIONS:
            items = [i for lst in _own_nodes(section, nodes.bullet_list) for i in _items(lst)]
            for chunk in chunk_items(items, BODY_PX, TEXT_W, 11):
                slides.append(_slide("summary", f'<h2>{html.escape(ui["summary"])}</h2>{_ul(chunk)}'))
            continue
        if not is_lecture_section(text):
            continue
        boxes = list(section.findall(_is_keypoints))
        points = [i for box in boxes for lst in box.findall(nodes.bullet_list) for i in _items(lst)]
        classes = [c for box in boxes for c in box.get("classes", [])]
        maths = [n for n in section.findall(nodes.math_block) if not any(_is_keypoints(a) for a in _ancestors(n))]
        eq = _choice(classes, "eq")
        central = _math_html(maths[eq].astext()) if eq is not None and eq < len(maths) else ""
        slug = (section.get("ids") or [""])[0]
        slides.append(_slide("points", f"<h2>{heading}</h2>{_ul(points)}{central}", _opening(section), slug))
        figures = [src for src in (_image_src(app, pagename, img) for img in section.findall(nodes.image)) if src]
        fig = _choice(classes, "fig")
        if fig is None:
            figures = []
        elif 0 < fig < len(figures):
            figures.insert(0, figures.pop(fig))
        for src in dict.fromkeys(figures):
            slides.append(_slide("figure", f'<h3>{heading}</h3><div class="efftx-figure-box">'
                                           f'<img class="figure" src="{html.escape(src)}" alt=""></div>',
                                 section=slug))
    return title_html, slides


CC_BY = "https://creativecommons.org/licenses/by/4.0/"


def licence_html(ui: dict[str, Any]) -> str:
    """The licence line of a deck's title slide (the site's footer says the same; LICENSE-CONTENT.md)."""
    return f'<p class="efftx-licence"><a href="{CC_BY}" rel="license">{html.escape(ui["licence"])}</a></p>'


def _ancestors(node: nodes.Node):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


# The page-side half of the decks: once reveal.js and MathJax are ready, shrink what does not fit (a display
# equation wider than the slide, a slide taller than 720 px), never below MIN_TEXT_PX; then mark the document
# fitted (<html data-efftx-fitted>) for the browser test and the PDF printer.
FIT_SCRIPT = r"""
(function () {
  var MIN = %(min)d;
  function px(el) { return parseFloat(getComputedStyle(el).fontSize); }
  function measure(section, fn) {
    var d = section.style.display, h = section.hidden;
    section.style.display = "block"; section.hidden = false;
    try { return fn(); } finally { section.style.display = d; section.hidden = h; }
  }
  function fitSlide(section) {
    var frame = section.querySelector(".efftx-frame");
    if (!frame) return;
    measure(section, function () {
      var width = frame.clientWidth - parseFloat(getComputedStyle(frame).paddingLeft)
                  - parseFloat(getComputedStyle(frame).paddingRight);
      frame.querySelectorAll("mjx-container[display='true']").forEach(function (c) {
        var m = c.querySelector("mjx-math"), w = m ? m.getBoundingClientRect().width / Reveal.getScale() : 0;
        if (w > width) c.style.fontSize = Math.max(MIN, Math.floor(px(c) * width / w * 0.98)) + "px";
      });
      var size = px(frame);
      while (frame.scrollHeight > frame.clientHeight + 1 && size > MIN) {
        size = Math.max(MIN, size - 1);
        frame.style.fontSize = size + "px";
      }
    });
  }
  function math() {
    // Resolved by MathJax's pageReady (the head's config) once the first typeset is done; reveal.js can be ready
    // before the deferred MathJax script has even run, so MathJax.startup.promise alone would race.
    return window.efftxMathReady || Promise.resolve();
  }
  Reveal.on("ready", function () {
    math().then(function () { return document.fonts.ready; }).then(function () {
      document.querySelectorAll(".reveal .slides section").forEach(fitSlide);
      Reveal.layout();
      document.documentElement.setAttribute("data-efftx-fitted", "1");
    });
  });
})();
"""

DECK_CSS = """
  .reveal { font-family: "Source Sans Pro", "Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo",
            "Malgun Gothic", sans-serif; font-size: %(body)dpx; color: #1d1d1d; }
  html[lang="ko"] .reveal { word-break: keep-all; }
  .reveal .slides section { padding: 0; }
  .reveal .slides > section { top: 0 !important; height: %(h)dpx; }
  .reveal .efftx-frame { box-sizing: border-box; width: %(w)dpx; height: %(h)dpx; padding: 34px 64px 44px;
            display: flex; flex-direction: column; text-align: left; font-size: %(body)dpx; line-height: 1.32; }
  .reveal h1, .reveal h2, .reveal h3 { text-transform: none; font-family: inherit; color: #0a3d6e;
            line-height: 1.15; margin: 0 0 .45em; }
  .reveal h1 { font-size: 1.75em; } .reveal h2 { font-size: 1.4em; } .reveal h3 { font-size: 1.15em; }
  .reveal ul { display: block; margin: 0 0 .3em 1.1em; }
  .reveal ul li { margin: .28em 0; }
  .reveal div.math { margin: .5em 0 0; text-align: center; font-size: 1.05em; }
  .reveal code { font-size: .92em; }
  .reveal p { margin: 0 0 .35em; }
  .reveal .efftx-title .efftx-frame { font-size: %(goal)dpx; }
  .reveal .efftx-book { color: #555; font-size: 1em; margin: 0; }
  .reveal .efftx-part { color: #0a4d8c; font-size: 1em; margin: 0 0 .3em; }
  .reveal .efftx-title h1 { font-size: 1.9em; margin: .2em 0 .35em; }
  .reveal .efftx-number { display: block; font-size: .55em; color: #555; font-weight: 600; }
  .reveal .efftx-title h3 { font-size: 1.1em; margin: 0 0 .2em; }
  .reveal .efftx-back { margin-top: auto; font-size: %(min)dpx; }
  .reveal .efftx-figure h3 { margin-bottom: .25em; }
  .reveal .efftx-figure-box { position: relative; flex: 1 1 0; min-height: 0; }
  .reveal .efftx-figure-box img.figure { position: absolute; inset: 0; width: 100%%; height: 100%%; margin: 0;
            max-width: none; max-height: none; object-fit: contain; border: 0; box-shadow: none; }
  .reveal .slide-number { font-size: %(min)dpx; }
  .reveal p.efftx-licence { font-size: %(min)dpx; color: #555; margin-top: .8em; }
  @media print { .reveal .slides > section { top: 0 !important; } }
"""


def deck_html(app: Sphinx, pagename: str, title_html: str, slides: list[str]) -> str:
    lang = app.config.language or "en"
    stem = pagename.rsplit("/", 1)[-1]
    static = "../_static"
    plain_title = html.unescape(re.sub(r"<[^>]+>", "", title_html))
    body = "\n".join(slides)
    css = DECK_CSS % {"body": BODY_PX, "goal": GOAL_PX, "min": MIN_TEXT_PX, "w": SLIDE_W, "h": SLIDE_H}
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(plain_title)} · slides</title>
<link rel="stylesheet" href="{static}/vendor/reveal/dist/reveal.css">
<link rel="stylesheet" href="{static}/vendor/reveal/dist/theme/white.css">
<style>{css}</style>
<script>
window.efftxMathReady = new Promise(function (done) {{ window.efftxMathDone = done; }});
window.MathJax = {{ tex: {{ inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]],
                           processEnvironments: true, tags: "none" }},
                   options: {{ processHtmlClass: "math|reveal" }},
                   chtml: {{ scale: 1, minScale: 1 }},
                   startup: {{ typeset: true, pageReady: function () {{
                     return MathJax.startup.defaultPageReady().then(function () {{ window.efftxMathDone(); }});
                   }} }} }};
</script>
<script defer src="{static}/vendor/mathjax/tex-mml-chtml.js"></script>
<script src="{static}/vendor/reveal/dist/reveal.js"></script>
<script src="{static}/vendor/reveal/plugin/notes/notes.js"></script>
</head>
<body>
<div class="reveal" data-chapter="{html.escape(stem)}"><div class="slides">
{body}
</div></div>
<script>{FIT_SCRIPT % {"min": MIN_TEXT_PX}}</script>
<script>
Reveal.initialize({{ hash: true, slideNumber: "c/t", center: false, width: {SLIDE_W}, height: {SLIDE_H},
                    margin: 0, minScale: 0.2, maxScale: 2.0, showNotes: false, pdfMaxPagesPerSlide: 1,
                    pdfSeparateFragments: false, plugins: [RevealNotes] }});
</script>
</body>
</html>
"""


def write_slides(app: Sphinx, pagename: str, doctree: nodes.document) -> str:
    """Write slides/<chapter>.html next to the edition's pages; return its URL relative to the page."""
    title_html, slides = deck_slides(app, pagename, doctree)
    stem = pagename.rsplit("/", 1)[-1]
    target = Path(app.outdir) / "slides" / f"{stem}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = deck_html(app, pagename, title_html, slides)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return "../" * pagename.count("/") + f"slides/{stem}.html"


# ----------------------------------------------------------------------------------------------------------
# page hook
# ----------------------------------------------------------------------------------------------------------
def is_chapter(app: Sphinx, pagename: str) -> bool:
    return pagename.startswith("chapters/") and "kernelspec" in app.env.metadata.get(pagename, {})


def handout_pages(app: Sphinx, pagename: str) -> bool:
    return is_chapter(app, pagename) or pagename.split("/")[-1] in app.config.efftx_handout_pages


def add_course_links(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    ui = _ui(app)
    context["efftx_slides_url"] = ""
    context["efftx_pdf_url"] = ""
    context["efftx_slides_pdf_url"] = ""
    if doctree is None:
        return
    if is_chapter(app, pagename):
        context["efftx_slides_url"] = write_slides(app, pagename, doctree)
        context["efftx_slides_title"] = ui["slides"]
        context["efftx_slides_label"] = ui["slides_label"]
        if hiding(app):
            notebook = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
            if notebook.is_file():
                strip_notebook(notebook)
    if app.config.efftx_handouts and handout_pages(app, pagename):
        context["efftx_pdf_url"] = "../" * pagename.count("/") + f"handouts/{pagename.rsplit('/', 1)[-1]}.pdf"
        context["efftx_pdf_title"] = ui["pdf"]
        if context["efftx_slides_url"]:
            context["efftx_slides_pdf_url"] = context["efftx_pdf_url"][:-len(".pdf")] + SLIDES_PDF_SUFFIX
            context["efftx_slides_pdf_title"] = ui["slides_pdf"]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_VIEW_SCRIPT = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">\s*(\{.*?\})\s*</script>', re.S)
_PROGRESS = {"FloatProgressModel", "IntProgressModel"}


def progress_bar_text(state: dict[str, Any], model_id: str) -> str | None:
    """A tqdm progress bar (HBox of HTML, progress, HTML) as the text it shows; None for any other widget."""
    model = state.get(model_id) or {}
    if model.get("model_name") != "HBoxModel":
        return None
    kids = [state.get(str(c).replace("IPY_MODEL_", ""), {}) for c in model.get("state", {}).get("children", [])]
    names = [k.get("model_name") for k in kids]
    if len(kids) != 3 or names[0] != "HTMLModel" or names[1] not in _PROGRESS or names[2] != "HTMLModel":
        return None
    bar = kids[1]["state"]
    full = float(bar.get("max") or 1.0)
    done = round(10 * min(max(float(bar.get("value") or 0.0) / full, 0.0), 1.0))
    return f'{kids[0]["state"].get("value", "")}|{"█" * done}{" " * (10 - done)}|{kids[2]["state"].get("value", "")}'


def lighten_widget_pages(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    """Progress bars as text, and the ipywidgets embed manager (3.6 MB) only on pages that still show a widget.

    myst-nb loads the manager on every notebook page whose metadata holds widget state. In this book that state
    comes from the live-kernel explorers (their outputs are removed from the page; the kernel-free explorers need
    no manager) and from tqdm's progress bars, which show nothing a line of text cannot. Runs before myst-nb's
    own handler, which adds the page's scripts from the list edited here.
    """
    data = getattr(app.env, "nb_metadata", {}).get(pagename)
    if doctree is None or not data or "ipywidgets_state" not in data.get("js_files", {}):
        return
    try:
        state = json.loads(data["js_files"]["ipywidgets_state"][1]["body"]).get("state", {})
    except (KeyError, TypeError, ValueError):
        return

    def as_text(match: re.Match) -> str:
        try:
            model_id = json.loads(match.group(1)).get("model_id", "")
        except ValueError:
            return match.group(0)
        text = progress_bar_text(state, model_id)
        if text is None:
            return match.group(0)
        return f'<div class="output text_plain efftx-progress"><pre>{text}</pre></div>'

    body = _VIEW_SCRIPT.sub(as_text, context.get("body", ""))
    context["body"] = body
    if WIDGET_VIEW not in body:
        data["js_files"] = {k: v for k, v in data["js_files"].items() if not k.startswith("ipywidgets")}


# ----------------------------------------------------------------------------------------------------------
# syllabus
# ----------------------------------------------------------------------------------------------------------
SYLLABUS_UI = {
    "en": {
        "et_al": "et al.",
        "hours": ("Week", "Words to read", "Exercises", "{}: contact", "{}: self-study"),
        "total": "Total",
        "buffer": "buffer",
        "no_reading": "none (no new material)",
        "fallback": "Week {} without a GPU server.",
        "gpu_note": "CPU fallback below the plan",
        "range": "{}–{}",
    },
    "ko": {
        "et_al": "등",
        "hours": ("주", "읽을 단어 수", "연습 문제", "{}: 수업", "{}: 자습"),
        "total": "합계",
        "buffer": "예비",
        "no_reading": "없음 (새 내용 없음)",
        "fallback": "{}주차에 GPU 서버가 없을 때.",
        "gpu_note": "CPU 대안은 계획표 아래에",
        "range": "{}~{}",
    },
}
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
_CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```[ \t]*$", re.M | re.S)
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|^(`{3,}|:{3,})\{math\}.*?^\1[ \t]*$", re.M | re.S)
_INLINE_MATH = re.compile(r"\$[^$\n]+\$")
_CITE = re.compile(r"\{(?:foot)?cite(?::\w+)?\}`[^`]*`")
_DIRECTIVE_LINE = re.compile(r"^\s*(?:`{3,}|:{3,}).*$|^\s*:[\w-]+:.*$", re.M)
_HEADING = re.compile(r"^## (.+)$", re.M)
_EXERCISE = re.compile(r"^\s*(?:`{3,}|:{3,})\{exercise\}", re.M)
NOT_READING = {"exercises", "references"}  # sections counted otherwise (exercises) or not read (the bibliography)


def prose_words(markdown: str) -> int:
    """Words a student reads in a chapter (a MyST notebook): the prose without the front matter, code cells, math,
    citation roles, directive fences and options, and without the Exercises and References sections. A word is a
    whitespace-separated token with at least one letter."""
    text = _CODE_CELL.sub("", _FRONT_MATTER.sub("", markdown))
    parts = _HEADING.split(text)  # [before, heading, body, heading, body, ...]
    kept = [parts[0]] + [f"{h}\n{b}" for h, b in zip(parts[1::2], parts[2::2], strict=True)
                         if h.strip().lower() not in NOT_READING]
    text = "\n".join(kept)
    for pattern in (_DISPLAY_MATH, _INLINE_MATH, _CITE, _DIRECTIVE_LINE):
        text = pattern.sub(" ", text)
    return sum(1 for token in text.split() if re.search(r"[^\W\d_]", token))


def exercise_count(markdown: str) -> int:
    """The chapter's exercises: its ``{exercise}`` directives (each with its solution in a dropdown)."""
    return len(_EXERCISE.findall(_CODE_CELL.sub("", markdown)))


def half_hours(minutes: float) -> float:
    """Minutes as hours, rounded to the nearest half hour (halves up)."""
    return math.floor(minutes / 30 + 0.5) / 2


def contact_minutes(fmt: dict[str, Any]) -> tuple[int, int]:
    """(lecture, lab) minutes a week in a format."""
    return (fmt["lecture"]["count"] * fmt["lecture"]["minutes"], fmt["lab"]["count"] * fmt["lab"]["minutes"])


def week_hours(course: dict[str, Any], labs: list[dict[str, Any]], texts: dict[str, str]) -> list[dict[str, Any]]:
    """Each week's measured load and its hours in every format of book/course.yml.

    Self-study = words / words_per_minute + exercises × minutes_per_exercise (the week's chapters, English edition)
    + each graded lab's hours spread evenly over the weeks from hand-out to the week before it is due + the week's
    project hours + in a format with a shorter lab than the longest, the difference (weeks that teach a chapter);
    rounded to half hours.
    A buffer week has no contact time. ``texts``: chapter number -> its markdown; a chapter not written yet counts 0.
    """
    study, formats = course["study"], course["formats"]
    longest_lab = max(contact_minutes(f)[1] for f in formats.values())
    lab_minutes: dict[int, float] = {}
    for lab in labs:
        span = range(lab["week"], lab["due"])
        for w in span:
            lab_minutes[w] = lab_minutes.get(w, 0.0) + 60 * study["graded_lab_hours"] / len(span)
    rows = []
    for week in course["weeks"]:
        keys = week.get("chapters", [])
        words = sum(prose_words(texts[k]) for k in keys if k in texts)
        exercises = sum(exercise_count(texts[k]) for k in keys if k in texts)
        base = (words / study["words_per_minute"] + exercises * study["minutes_per_exercise"]
                + lab_minutes.get(week["week"], 0.0) + 60 * (week.get("project") or [0, 0])[1])
        row: dict[str, Any] = {"week": week["week"], "words": words, "exercises": exercises,
                               "buffer": bool(week.get("buffer")), "contact": {}, "self": {}}
        for name, fmt in formats.items():
            lecture, lab = contact_minutes(fmt)
            row["contact"][name] = 0.0 if row["buffer"] else (lecture + lab) / 60
            row["self"][name] = half_hours(base + (longest_lab - lab if keys else 0))
        rows.append(row)
    return rows


def number(x: float) -> str:
    return f"{x:g}"


def course_values(course: dict[str, Any], rows: list[dict[str, Any]], lang: str) -> dict[str, str]:
    """The numbers the syllabus's prose quotes (role ``{course}``), all from book/course.yml and the chapters."""
    ui = SYLLABUS_UI.get(lang, SYLLABUS_UI["en"])
    weeks = course["weeks"]
    study = course["study"]
    out = {"weeks": str(len(weeks)), "teaching-weeks": str(sum(not w.get("buffer") for w in weeks)),
           "buffer-week": ", ".join(str(w["week"]) for w in weeks if w.get("buffer")),
           "gpu-week": ", ".join(str(w["week"]) for w in weeks if w.get("gpu")),
           "words-per-minute": str(study["words_per_minute"]),
           "minutes-per-exercise": str(study["minutes_per_exercise"]),
           "graded-lab-hours": number(study["graded_lab_hours"])}
    for p in sorted({w["project"][0] for w in weeks if w.get("project")}):
        span = [w["week"] for w in weeks if (w.get("project") or [None])[0] == p]
        out[f"project-{p}"] = ui["range"].format(min(span), max(span))
    longest_lab = max(contact_minutes(f)[1] for f in course["formats"].values())
    for name, fmt in course["formats"].items():
        lecture, lab = contact_minutes(fmt)
        taught = [r for r in rows if not r["buffer"]]
        contact_total = sum(r["contact"][name] for r in rows)
        self_total = sum(r["self"][name] for r in rows)
        out.update({
            f"{name}.name": fmt["name"][lang], f"{name}.moved": " ".join(fmt.get("moved", {}).get(lang, "").split()),
            f"{name}.lectures": str(fmt["lecture"]["count"]), f"{name}.lecture-minutes": str(fmt["lecture"]["minutes"]),
            f"{name}.lecture-hours": number(lecture / 60), f"{name}.lab-minutes": str(fmt["lab"]["minutes"]),
            f"{name}.lab-hours": number(lab / 60), f"{name}.contact": number((lecture + lab) / 60),
            f"{name}.moved-hours": number((longest_lab - lab) / 60),
            f"{name}.self-min": number(min(r["self"][name] for r in taught)),
            f"{name}.self-max": number(max(r["self"][name] for r in taught)),
            f"{name}.contact-total": number(contact_total), f"{name}.self-total": number(self_total),
            f"{name}.total": number(contact_total + self_total),
        })
    return out


def bib_entries(path: Path) -> dict[str, Any]:
    from pybtex.database import parse_file

    return dict(parse_file(str(path), bib_format="bibtex").entries)


def _plain(text: str) -> str:
    return re.sub(r"[{}]", "", text).replace("\\&", "&").strip()


def reading_url(entry: Any) -> str | None:
    """The link of a bib entry: its DOI, its url, its arXiv eprint, or a \\url{...} in howpublished."""
    fields = {k.lower(): v for k, v in entry.fields.items()}
    if fields.get("doi"):
        return "https://doi.org/" + _plain(fields["doi"])
    if fields.get("url"):
        return _plain(fields["url"])
    if fields.get("eprint"):
        return "https://arxiv.org/abs/" + _plain(fields["eprint"])
    m = re.search(r"\\url\{([^}]+)\}", fields.get("howpublished", ""))
    return m.group(1) if m else None


def reading_parts(item: str, entries: dict[str, Any], lang: str) -> tuple[str, str, str, str]:
    """(label 'Authors year', url, title, sections) of a reading 'bibkey [sections]'; KeyError for an unknown key."""
    key, _, sections = item.partition(" ")
    entry = entries[key]
    names = [_plain(" ".join(p.last_names)) for p in entry.persons.get("author", [])]
    et_al = SYLLABUS_UI.get(lang, SYLLABUS_UI["en"])["et_al"]
    who = names[0] if len(names) == 1 else " & ".join(names) if len(names) == 2 else f"{names[0]} {et_al}"
    year = _plain(entry.fields.get("year", ""))
    url = reading_url(entry)
    if not names or not year or not url:
        raise ValueError(f"book/course.yml reading {key!r}: its bib entry needs authors, a year and a link")
    return f"{who} {year}", url, _plain(entry.fields.get("title", "")), sections.strip()


def load_course(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class _CourseDirective(SphinxDirective):
    has_content = False

    def course(self) -> tuple[dict[str, Any], str]:
        path = Path(self.env.srcdir) / self.config.efftx_course
        self.env.note_dependency(str(path))
        if not hasattr(self.env, "efftx_course_docs"):
            self.env.efftx_course_docs = set()
        self.env.efftx_course_docs.add(self.env.docname)
        return load_course(path), self.config.language or "en"

    def chapter_doc(self, key: str, lang: str) -> str | None:
        """The document of chapter ``key`` (its number) in this edition, if the build has one."""
        prefix = f"chapters/{lang}/{key}_"
        return next((d for d in sorted(self.env.found_docs) if d.startswith(prefix)), None)

    def chapter_ref(self, key: str, chapters: dict[str, Any], lang: str) -> nodes.Node:
        """A link to the chapter when this edition builds it, else its planned title 'in preparation'."""
        label = f"{int(key)}. {chapters[key]['title'][lang]}"
        docname = self.chapter_doc(key, lang)
        if docname is not None:
            ref = nodes.reference("", "", internal=True, refuri=self._relative(docname),
                                  classes=["efftx-course-chapter"])
            ref += nodes.Text(label)
            return ref
        return nodes.inline("", f"{label} ({UI.get(lang, UI['en'])['soon']})", classes=["efftx-course-soon"])

    def _relative(self, docname: str) -> str:
        here = self.env.docname
        return "../" * here.count("/") + docname + ".html"


def _course_inputs(env, config) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
    """book/course.yml, the labs of labs/labs.yml and the English chapters' text; each a dependency of the page."""
    src = Path(env.srcdir)
    if not hasattr(env, "efftx_course_docs"):
        env.efftx_course_docs = set()
    env.efftx_course_docs.add(env.docname)  # re-read when chapters come or go
    course_path, labs_path = src / config.efftx_course, src / config.efftx_labs
    env.note_dependency(str(course_path))
    labs: list[dict[str, Any]] = []
    if labs_path.is_file():
        env.note_dependency(str(labs_path))
        labs = yaml.safe_load(labs_path.read_text(encoding="utf-8")).get("labs", [])
    texts = {}
    for path in sorted((src / config.efftx_course_chapters).glob("[0-9][0-9]_*.md")):
        env.note_dependency(str(path))
        texts[path.name[:2]] = path.read_text(encoding="utf-8")
    return load_course(course_path), labs, texts


def _cell(*content: nodes.Node | str, sep: str = "; ") -> nodes.entry:
    entry = nodes.entry()
    para = nodes.paragraph()
    for i, c in enumerate(content):
        if i:
            para += nodes.Text(sep)
        para += nodes.Text(c) if isinstance(c, str) else c
    entry += para
    return entry


def _table(cls: str, widths: tuple[int, ...], head: tuple[str, ...]) -> tuple[nodes.table, nodes.tbody]:
    table = nodes.table(classes=[cls])
    group = nodes.tgroup(cols=len(widths))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    thead, row = nodes.thead(), nodes.row()
    for text in head:
        row += _cell(text)
    thead += row
    group += thead
    body = nodes.tbody()
    group += body
    return table, body


class CoursePlan(_CourseDirective):
    """``{course-plan}``: the weekly plan of book/course.yml as a table, chapters linked where they exist, each
    reading (a references.bib key) as 'Authors year' linked to its DOI, url or arXiv page."""

    def run(self) -> list[nodes.Node]:
        course, lang = self.course()
        ui, sui = UI.get(lang, UI["en"]), SYLLABUS_UI.get(lang, SYLLABUS_UI["en"])
        bib = Path(self.env.srcdir) / self.config.efftx_course_bib
        self.env.note_dependency(str(bib))
        entries = bib_entries(bib)
        chapters = course["chapters"]
        table, body = _table("efftx-course-plan", (5, 22, 25, 20, 28), ui["plan"])
        for week in course["weeks"]:
            row = nodes.row()
            label = str(week["week"]) + (f" ({sui['buffer']})" if week.get("buffer") else "")
            row += _cell(label)
            lecture = [self.chapter_ref(k, chapters, lang) for k in week.get("chapters", [])]
            row += _cell(*(lecture or [week["topic"][lang]]))
            lab = week["lab"][lang] + (f" ({sui['gpu_note']})" if week.get("gpu") else "")
            row += _cell(lab)
            readings = []
            for item in week.get("reading", []):
                text, url, title, sections = reading_parts(item, entries, lang)
                ref = nodes.reference("", text, refuri=url, reftitle=title, classes=["efftx-course-reading"])
                readings.append(nodes.inline("", "", ref, nodes.Text(f" {sections}" if sections else "")))
            row += _cell(*(readings or [sui["no_reading"]]))
            row += _cell(week["work"][lang])
            body += row
        return [table]


class CourseHours(_CourseDirective):
    """``{course-hours}``: each week's measured reading and exercises and its hours in every format."""

    def run(self) -> list[nodes.Node]:
        course, labs, texts = _course_inputs(self.env, self.config)
        lang = self.config.language or "en"
        sui = SYLLABUS_UI.get(lang, SYLLABUS_UI["en"])
        rows = week_hours(course, labs, texts)
        names = [f["name"][lang] for f in course["formats"].values()]
        head = sui["hours"][:3] + tuple(h.format(n) for n in names for h in sui["hours"][3:])
        table, body = _table("efftx-course-hours", (6, 10, 8) + (10,) * (len(head) - 3), head)
        for r in rows:
            row = nodes.row()
            row += _cell(str(r["week"]) + (f" ({sui['buffer']})" if r["buffer"] else ""))
            row += _cell(f"{r['words']:,}" if r["words"] else "—")
            row += _cell(str(r["exercises"]) if r["exercises"] else "—")
            for name in course["formats"]:
                row += _cell(number(r["contact"][name]))
                row += _cell(number(r["self"][name]))
            body += row
        total = nodes.row(classes=["efftx-course-total"])
        total += _cell(sui["total"])
        total += _cell(f"{sum(r['words'] for r in rows):,}")
        total += _cell(str(sum(r["exercises"] for r in rows)))
        for name in course["formats"]:
            total += _cell(number(sum(r["contact"][name] for r in rows)))
            total += _cell(number(sum(r["self"][name] for r in rows)))
        body += total
        return [table]


class CourseFallback(_CourseDirective):
    """``{course-fallback}``: what to run instead of the gpu preset in the week that needs a GPU server."""

    def run(self) -> list[nodes.Node]:
        course, lang = self.course()
        sui = SYLLABUS_UI.get(lang, SYLLABUS_UI["en"])
        out: list[nodes.Node] = []
        for week in course["weeks"]:
            if week.get("gpu"):
                text = f"**{sui['fallback'].format(week['week'])}** {' '.join(week['gpu'][lang].split())}"
                out.extend(self.parse_text_to_nodes(text))
        return out


class CourseValue(SphinxRole):
    """``{course}`key```: a number of the plan (book/course.yml and the chapters), e.g. ``separate.contact``."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        course, labs, texts = _course_inputs(self.env, self.config)
        values = course_values(course, week_hours(course, labs, texts), self.config.language or "en")
        if self.text not in values:
            msg = self.inliner.reporter.error(f"{{course}}: unknown key {self.text!r}; known: {sorted(values)}",
                                              line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        return [nodes.Text(values[self.text])], []


class CourseMap(_CourseDirective):
    """``{course-map}``: the chapter-dependency graph of book/course.yml as an inline SVG figure."""

    def run(self) -> list[nodes.Node]:
        course, lang = self.course()
        def link(key: str) -> tuple[bool, str]:
            doc = self.chapter_doc(key, lang)
            return doc is not None, self._relative(doc) if doc else ""

        return [nodes.raw("", dependency_svg(course, lang, link), format="html")]


def fit_label(label: str, room: int = 30) -> str:
    """The label cut to fit a box of ``room`` Latin characters (a Hangul or other wide character takes two), with
    an ellipsis when cut; the full label stays in the box's tooltip."""
    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    if width(label) <= room:
        return label
    while width(label) > room - 1:
        label = label[:-1]
    return label.rstrip(" ,:") + "…"


def dependency_svg(course: dict[str, Any], lang: str, link) -> str:
    """Chapters in rows by depth (longest chain of prerequisites), arrows from prerequisite to chapter."""
    chapters = course["chapters"]
    depth: dict[str, int] = {}

    def level(key: str, seen: tuple[str, ...] = ()) -> int:
        if key in seen:
            raise ValueError(f"book/course.yml: dependency cycle through {key}")
        if key not in depth:
            reqs = chapters[key].get("requires", [])
            depth[key] = 1 + max((level(r, (*seen, key)) for r in reqs), default=-1)
        return depth[key]

    for key in chapters:
        level(key)
    levels: dict[int, list[str]] = {}
    for key in chapters:
        levels.setdefault(depth[key], []).append(key)
    order: dict[str, float] = {}
    for level in sorted(levels):  # fewer crossings: sit below the mean place of the prerequisites
        keys = levels[level]
        keys.sort(key=lambda k: (sum(order[r] for r in chapters[k].get("requires", [])) /
                                 max(len(chapters[k].get("requires", [])), 1), k))
        for i, k in enumerate(keys):
            order[k] = i - (len(keys) - 1) / 2
    box_w, box_h, gap_x, gap_y, pad = 200, 40, 24, 34, 10
    widest = max(len(v) for v in levels.values())
    width = pad * 2 + widest * (box_w + gap_x) - gap_x
    height = pad * 2 + len(levels) * (box_h + gap_y) - gap_y
    pos = {}
    for level, keys in levels.items():  # one row per level, centred
        row_w = len(keys) * (box_w + gap_x) - gap_x
        for i, key in enumerate(keys):
            pos[key] = ((width - row_w) / 2 + i * (box_w + gap_x), pad + level * (box_h + gap_y))
    title = UI.get(lang, UI["en"])["map_title"]
    parts = [f'<figure class="efftx-course-map"><svg xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">'
             f"<title>{html.escape(title)}</title>"
             '<defs><marker id="efftx-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for key, ch in chapters.items():
        x2, y2 = pos[key]
        for req in ch.get("requires", []):
            x1, y1 = pos[req]
            parts.append(f'<line x1="{x1 + box_w / 2}" y1="{y1 + box_h}" x2="{x2 + box_w / 2}" y2="{y2}" '
                         'stroke="#555" stroke-width="1.4" marker-end="url(#efftx-arrow)"/>')
    for key, ch in chapters.items():
        x, y = pos[key]
        exists, href = link(key)
        label = f"{int(key)}. {ch['title'][lang]}"
        dash = "" if exists else ' stroke-dasharray="4 3"'
        short = fit_label(label)
        box = (f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" '
               f'fill="{"#e8f0fb" if exists else "#f4f4f4"}" stroke="{"#0a4d8c" if exists else "#999"}"'
               f'{dash}/>'
               f'<text x="{x + box_w / 2}" y="{y + box_h / 2 + 5}" text-anchor="middle" font-size="12" '
               f'fill="#222"><title>{html.escape(label)}</title>{html.escape(short)}</text>')
        parts.append(f'<a href="{html.escape(href)}">{box}</a>' if exists else box)
    parts.append(f"</svg><figcaption>{html.escape(title)}</figcaption></figure>")
    return "".join(parts)


class VariantExercises(SphinxDirective):
    """``{variant-exercises}``: the variant exercises of efftx_mini.variants for the build's seed
    (``efftx_variant``, from $EFFTX_VARIANT), every chapter; each answer sits in a box the student build drops."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from efftx_mini import variants

        lang = self.config.language or "en"
        seed = int(self.config.efftx_variant)
        for module in ("_core", "part1", "part2", "part3"):  # the page changes with the exercises' code
            self.env.note_dependency(str(Path(variants.__file__).with_name(f"{module}.py")))
        title, answer_word = variants.HEAD.get(lang, variants.HEAD["en"])
        out: list[nodes.Node] = []
        for chapter in variants.chapters():
            out.append(nodes.rubric("", title.format(ch=int(chapter), seed=seed)))
            items = nodes.enumerated_list(enumtype="arabic", prefix="", suffix=".")
            for ex in variants.draw(chapter, seed):
                item = nodes.list_item()
                item += self.parse_text_to_nodes(ex.question[lang])
                answer = nodes.container(classes=["efftx-variant-answer"])
                answer += self.parse_text_to_nodes(f"**{answer_word}.** {ex.answer[lang]}")
                item += answer
                items += item
            out.append(items)
        return out


def reread_course_pages(app: Sphinx, env, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """The plan links every chapter that exists: re-read its pages when chapters come or go."""
    return sorted(getattr(env, "efftx_course_docs", set())) if added or removed else []


def purge_course_doc(app: Sphinx, env, docname: str) -> None:
    getattr(env, "efftx_course_docs", set()).discard(docname)


def merge_course_docs(app: Sphinx, env, docnames: set[str], other) -> None:
    if not hasattr(env, "efftx_course_docs"):
        env.efftx_course_docs = set()
    env.efftx_course_docs |= getattr(other, "efftx_course_docs", set())


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("efftx_solutions", "show", "env")
    app.add_config_value("efftx_handouts", False, "html")
    app.add_config_value("efftx_handout_pages", ["syllabus"], "html")
    app.add_config_value("efftx_course", "book/course.yml", "env")
    app.add_config_value("efftx_course_bib", "book/references.bib", "env")  # the readings' entries
    app.add_config_value("efftx_labs", "labs/labs.yml", "env")  # graded labs: self-study hours
    app.add_config_value("efftx_course_chapters", "chapters/en", "env")  # measured reading and exercises
    app.add_config_value("efftx_variant", 0, "env")
    app.add_directive("course-plan", CoursePlan)
    app.add_directive("course-map", CourseMap)
    app.add_directive("course-hours", CourseHours)
    app.add_directive("course-fallback", CourseFallback)
    app.add_role("course", CourseValue())
    app.add_directive("variant-exercises", VariantExercises)
    app.connect("doctree-resolved", remove_answers)
    app.connect("env-get-outdated", reread_course_pages)
    app.connect("env-purge-doc", purge_course_doc)
    app.connect("env-merge-info", merge_course_docs)
    app.connect("html-page-context", add_course_links, priority=500)  # after efftx_book copied the .ipynb
    app.connect("html-page-context", lighten_widget_pages, priority=450)  # before myst-nb's (500)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

