"""The course kit, as a Sphinx extension: student builds, slide decks, handout links and the syllabus plan.

- **Student build** (``efftx_solutions = "hide"``, set by ``book/build.py --solutions hide`` or
  ``EFFTX_SOLUTIONS=hide``): every sphinx-exercise ``{solution}`` and every self-check answer dropdown
  (``:class-container: selfcheck-answers``) is removed from the doctree before the page and the search
  index are written, and from the markdown cells of the page's ``.ipynb`` download.
- **Slides**: every chapter page (a notebook under ``chapters/``) gets a reveal.js deck at
  ``slides/<chapter>.html``, generated from the page's own doctree: the title, the learning goals, one
  slide per section with its display equations, one slide per figure, the summary. Nothing is written by
  hand, so a deck cannot drift from its chapter. reveal.js and MathJax come from ``_static/vendor``.
- **Handouts**: when ``efftx_handouts`` is on, chapter and course pages link ``handouts/<name>.pdf``, which
  ``book/build.py`` prints with headless Chromium after the edition is built.
- tqdm progress bars are shown as text, and pages that show no other widget do not load the ipywidgets
  manager (3.6 MB): chapter pages stay under 3 MB.
- ``{course-plan}`` and ``{course-map}`` directives: the semester plan and the chapter-dependency map of
  ``book/course.yml`` in the edition's language; a chapter that ``_toc.yml`` does not list (yet) is shown
  without a link, so the plan covers future chapters and never breaks the build.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
import unicodedata
from pathlib import Path
from typing import Any

import nbformat
import yaml
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

UI = {
    "en": {
        "slides": "Slides of this chapter (reveal.js)",
        "slides_label": "Slides",
        "pdf": "Printable handout of this page (PDF)",
        "back": "Back to the chapter",
        "goals": "Learning goals",
        "summary": "Summary",
        "plan": ("Week", "Lecture", "Lab", "Reading", "Exercises and projects",
                 "Hours: lecture + lab + self-study"),
        "chapter": "Chapter",
        "soon": "in preparation",
        "map_title": "Chapter dependencies: an arrow goes from a chapter to one that builds on it",
        "licence": ("© 2026 The efftx authors · text, figures and slides: CC BY 4.0 · code: MIT"),
    },
    "ko": {
        "slides": "이 장의 슬라이드 (reveal.js)",
        "slides_label": "슬라이드",
        "pdf": "이 페이지의 인쇄용 자료 (PDF)",
        "back": "본문으로 돌아가기",
        "goals": "학습 목표",
        "summary": "요약",
        "plan": ("주", "강의", "실습", "읽기", "연습 문제와 프로젝트", "시간: 강의 + 실습 + 자습"),
        "chapter": "장",
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
def _inline(node: nodes.Node) -> str:
    """Inline content as HTML: text, inline math (for MathJax), code, emphasis; links become plain text."""
    if isinstance(node, nodes.Text):
        return html.escape(node.astext())
    name = type(node).__name__
    if name == "math":
        return r"\(" + html.escape(node.astext()) + r"\)"
    inner = "".join(_inline(c) for c in node.children)
    if isinstance(node, nodes.literal):
        return f"<code>{inner}</code>"
    if isinstance(node, nodes.emphasis):
        return f"<em>{inner}</em>"
    if isinstance(node, nodes.strong):
        return f"<strong>{inner}</strong>"
    if name in ("footnote_reference", "citation_reference"):
        return ""
    return inner


def _bullets(lst: nodes.Element) -> str:
    items = []
    for item in lst.children:
        if isinstance(item, nodes.list_item):
            paras = [c for c in item.children if isinstance(c, nodes.paragraph)]
            items.append("<li>" + " ".join(_inline(p) for p in paras) + "</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _math_block(node: nodes.Element) -> str:
    tex = node.astext().strip()
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


def _is_math_block(node: nodes.Node) -> bool:
    return isinstance(node, nodes.math_block)


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


def deck_slides(app: Sphinx, pagename: str, doctree: nodes.document) -> tuple[str, list[str]]:
    """(chapter title as HTML, the slides as <section> HTML) from a chapter's resolved doctree."""
    ui = _ui(app)
    top = next(iter(doctree.findall(nodes.section)), None)
    if top is None:
        return "", []
    title = _title(top)
    title_html = _inline(title) if title is not None else ""
    slides = []
    intro_lists = [c for c in top.children if isinstance(c, nodes.bullet_list)]
    if intro_lists:
        slides.append(f"<section><h2>{html.escape(ui['goals'])}</h2>{_bullets(intro_lists[0])}</section>")

    def visit(section: nodes.section, depth: int, parent: str) -> None:
        t = _title(section)
        heading = _inline(t) if t is not None else parent
        text = t.astext().strip().lower() if t is not None else ""
        if text in SUMMARY_SECTIONS:
            lists = _own_nodes(section, nodes.bullet_list)
            if lists:
                slides.append(f"<section><h2>{html.escape(ui['summary'])}</h2>"
                              + "".join(_bullets(lst) for lst in lists) + "</section>")
            return
        if text in SKIP_SECTIONS:
            return
        maths = [n for n in _own_nodes(section, nodes.Element) if _is_math_block(n)]
        subs = [c for c in section.children if isinstance(c, nodes.section)]
        figures = [src for src in (_image_src(app, pagename, img) for img in _own_nodes(section, nodes.image)) if src]

        def figure(src: str) -> str:
            return f'<img class="figure" src="{html.escape(src)}" alt="">'

        if depth == 2 or maths:
            body = "".join(_math_block(m) for m in maths[:4])
            if not maths and figures:  # no equation: the section's first figure shares its title slide
                body = figure(figures.pop(0))
            elif not maths and subs:
                body = "<ul>" + "".join(f"<li>{_inline(_title(s))}</li>" for s in subs if _title(s)) + "</ul>"
            tag = "h2" if depth == 2 else "h3"
            slides.append(f'<section class="{"figure" if "<img" in body else "text"}"><{tag}>{heading}</{tag}>'
                          f"{body}</section>")
            for extra in range(4, len(maths), 4):
                chunk = "".join(_math_block(m) for m in maths[extra:extra + 4])
                slides.append(f'<section class="text"><h3>{heading}</h3>{chunk}</section>')
        for src in figures:
            slides.append(f'<section class="figure"><h3>{heading}</h3>{figure(src)}</section>')
        for sub in subs:
            visit(sub, depth + 1, heading)

    for section in (c for c in top.children if isinstance(c, nodes.section)):
        visit(section, 2, title_html)
    return title_html, slides


CC_BY = "https://creativecommons.org/licenses/by/4.0/"


def licence_html(ui: dict[str, Any]) -> str:
    """The licence line of a deck's title slide (the site's footer says the same; LICENSE-CONTENT.md)."""
    return f'<p class="efftx-licence"><a href="{CC_BY}" rel="license">{html.escape(ui["licence"])}</a></p>'


def deck_html(app: Sphinx, pagename: str, title_html: str, slides: list[str]) -> str:
    ui = _ui(app)
    lang = app.config.language or "en"
    stem = pagename.rsplit("/", 1)[-1]
    static = "../_static"
    back = f"../{pagename}.html"
    first = (f'<section class="title"><h1>{title_html}</h1>'
             f'<p><a href="{back}">{html.escape(ui["back"])}</a></p>{licence_html(ui)}</section>')
    plain_title = re.sub(r"<[^>]+>", "", title_html)
    body = "\n".join([first, *slides])
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{plain_title} · slides</title>
<link rel="license" href="{CC_BY}">
<link rel="stylesheet" href="{static}/vendor/reveal/dist/reveal.css">
<link rel="stylesheet" href="{static}/vendor/reveal/dist/theme/white.css">
<style>
  .reveal {{ font-family: "Source Sans Pro", "Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo",
             "Malgun Gothic", sans-serif; font-size: 32px; }}
  .reveal h1, .reveal h2, .reveal h3 {{ text-transform: none; font-family: inherit; }}
  .reveal section img.figure {{ max-height: 540px; max-width: 100%; border: 0; box-shadow: none; margin: .3em auto; }}
  .reveal ul {{ display: block; font-size: .8em; }}
  .reveal div.math {{ font-size: .8em; margin: .6em 0; }}
  .reveal code {{ font-size: .9em; }}
  .reveal p.efftx-licence {{ font-size: 20px; color: #555; margin-top: 2em; }}
</style>
<script>
window.MathJax = {{ tex: {{ inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]],
                           processEnvironments: true, tags: "none" }},
                   options: {{ processHtmlClass: "math|reveal" }},
                   startup: {{ typeset: true }} }};
</script>
<script defer src="{static}/vendor/mathjax/tex-mml-chtml.js"></script>
<script src="{static}/vendor/reveal/dist/reveal.js"></script>
</head>
<body>
<div class="reveal" data-chapter="{html.escape(stem)}"><div class="slides">
{body}
</div></div>
<script>
Reveal.initialize({{ hash: true, slideNumber: "c/t", center: false, width: 1280, height: 720 }});
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


class CoursePlan(_CourseDirective):
    """``{course-plan}``: the weekly plan of book/course.yml as a table, chapters linked where they exist."""

    def run(self) -> list[nodes.Node]:
        course, lang = self.course()
        ui = UI.get(lang, UI["en"])
        chapters = course["chapters"]
        table = nodes.table(classes=["efftx-course-plan"])
        group = nodes.tgroup(cols=6)
        table += group
        for width in (5, 22, 25, 16, 22, 10):
            group += nodes.colspec(colwidth=width)

        def cell(*content: nodes.Node | str) -> nodes.entry:
            entry = nodes.entry()
            para = nodes.paragraph()
            for i, c in enumerate(content):
                if i:
                    para += nodes.Text("; ")
                para += nodes.Text(c) if isinstance(c, str) else c
            entry += para
            return entry

        head = nodes.thead()
        row = nodes.row()
        for text in ui["plan"]:
            row += cell(text)
        head += row
        group += head
        body = nodes.tbody()
        for week in course["weeks"]:
            row = nodes.row()
            row += cell(str(week["week"]))
            lecture = [self.chapter_ref(k, chapters, lang) for k in week.get("chapters", [])]
            row += cell(*(lecture or [week["topic"][lang]]))
            row += cell(week["lab"][lang])
            row += cell(week.get("reading", "—"))
            row += cell(week["work"][lang])
            row += cell(" + ".join(str(h) for h in week["hours"]))
            body += row
        group += body
        return [table]


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
    app.add_config_value("efftx_variant", 0, "env")
    app.add_directive("course-plan", CoursePlan)
    app.add_directive("course-map", CourseMap)
    app.add_directive("variant-exercises", VariantExercises)
    app.connect("doctree-resolved", remove_answers)
    app.connect("env-get-outdated", reread_course_pages)
    app.connect("env-purge-doc", purge_course_doc)
    app.connect("env-merge-info", merge_course_docs)
    app.connect("html-page-context", add_course_links, priority=500)  # after efftx_book copied the .ipynb
    app.connect("html-page-context", lighten_widget_pages, priority=450)  # before myst-nb's (500)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

