"""The book's small Sphinx extension: language switch, .ipynb download, glossary table, Korean search,
search snippets taken from the article's text (``_static/efftx-search.js``) rather than the header buttons.

- ``html-page-context``: every page gets a static relative link to the same page in the other edition
  (en/chapters/en/01_attention.html <-> ko/chapters/ko/01_attention.html; pages without a twin link to the
  other edition's start page) and, on notebook pages, the executed notebook copied from myst-nb's
  ``jupyter_execute/`` into the page's ``_sources/`` folder, linked as "Download .ipynb" (template
  ``book/_templates/efftx-page-links.html``) and offered in the theme's download menu. The download reads
  without the book's tooling (issue 25): :func:`readable_notebook` writes every ``{glue:text}`` role as its value
  from the notebook's outputs, citations as author–year text (``book/lab/readable.py``), the footnote
  bibliography as a reference list, ``{doc}``/``{ref}``/``{numref}`` as plain links and text.
- ``glossary-table`` directive: renders ``book/glossary.yml`` as a table in the edition's language.
- A Korean search language (``language: ko``): words are split as usual and common particles (josa) are
  stripped from Hangul words, in the index (Python) and in the query (JavaScript), so that searching
  ``어텐션`` finds ``어텐션은`` and ``어텐션을``; ASCII words are stemmed as in English.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import re
from ast import literal_eval
from pathlib import Path
from typing import Any

import nbformat
import yaml
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.search import SearchLanguage
from sphinx.search.en import SearchEnglish, js_porter_stemmer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
LANG_NAMES = {"en": "English", "ko": "한국어"}
OTHER = {"en": "ko", "ko": "en"}
UI = {
    "en": {
        "switch": "Read this page in Korean (한국어)",
        "ipynb": "Download this chapter as a Jupyter notebook (.ipynb)",
        "glossary": ("English", "Korean", "Definition", "Not in Korean"),
    },
    "ko": {
        "switch": "이 페이지를 영어로 읽기 (English)",
        "ipynb": "이 장을 주피터 노트북(.ipynb)으로 내려받기",
        "glossary": ("한국어", "English", "정의", "쓰지 않는 표현"),
    },
}
SAME_NAME_PAGES = {"search", "genindex"}
SEARCH_SNIPPETS_JS = "efftx-search.js"


def twin_pagename(pagename: str, lang: str, other: str) -> str:
    """chapters/en/01_attention -> chapters/ko/01_attention (every path segment equal to ``lang``)."""
    return "/".join(other if part == lang else part for part in pagename.split("/"))


def lang_switch_url(app: Sphinx, pagename: str) -> str:
    """A relative link from this page to its twin in the other edition (editions are sibling folders)."""
    lang = app.config.language or "en"
    other = OTHER.get(lang, "en")
    up = "../" * (pagename.count("/") + 1)  # from the page up to the site root (above en/ and ko/)
    twin = twin_pagename(pagename, lang, other)
    srcdir = Path(app.srcdir)
    if twin != pagename and any((srcdir / (twin + suffix)).is_file() for suffix in app.config.source_suffix):
        return f"{up}{other}/{twin}.html"
    if pagename in SAME_NAME_PAGES:
        return f"{up}{other}/{pagename}.html"
    return f"{up}{other}/index.html"


def _is_notebook(app: Sphinx, pagename: str) -> bool:
    return "kernelspec" in app.env.metadata.get(pagename, {})


def add_page_links(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    lang = app.config.language or "en"
    ui = UI.get(lang, UI["en"])
    other = OTHER.get(lang, "en")
    context["efftx_lang"] = lang
    context["efftx_other_lang"] = other
    context["efftx_other_name"] = LANG_NAMES[other]
    context["efftx_switch_title"] = ui["switch"]
    context["efftx_lang_url"] = lang_switch_url(app, pagename)
    context["efftx_ipynb_url"] = ""
    if doctree is None or not _is_notebook(app, pagename):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    _restore_cached_outputs(app, executed)
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_download(app, pagename, executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"  # the theme's download menu offers it too
    context["efftx_ipynb_url"] = "../" * pagename.count("/") + f"_sources/{pagename}.ipynb"
    context["efftx_ipynb_title"] = ui["ipynb"]


def _restore_cached_outputs(app: Sphinx, path: Path) -> None:
    """Put the outputs back into a notebook that myst-nb took from the execution cache.

    myst-nb 1.x writes the *unexecuted* notebook to ``jupyter_execute/`` when it takes the outputs from
    jupyter-cache (the Korean edition, and every unchanged chapter), and when it has just executed the notebook
    it writes the outputs without the glue records (``glue(..., display=False)``), which it has taken out for
    the page. Either way the page itself is rendered from the full notebook, so a downloaded .ipynb would lack
    outputs or glued values: take every output from the cache here (the cache entry is the executed notebook).
    """
    if app.config.nb_execution_mode != "cache" or not app.config.nb_execution_cache_path:
        return
    nb = nbformat.read(path, as_version=4)
    if not any(c.cell_type == "code" for c in nb.cells):
        return
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(app.config.nb_execution_cache_path).merge_match_into_notebook(nb)
    except KeyError:
        return
    path.write_text(nbformat.writes(merged), encoding="utf-8")


# ----------------------------------------------------------------------------------------------------------
# the .ipynb download, readable without the book's tooling
# ----------------------------------------------------------------------------------------------------------
GLUE_PREFIX = "application/papermill.record/"  # myst-nb's glue(..., display=False)
_GLUE = re.compile(r"\{glue(?P<kind>:text|:any|:md|:)?\}`(?P<body>[^`]+)`")
_CITE = re.compile(r"\{cite(?P<kind>:p|:t|:ps|:ts)?\}`")
_DOC = re.compile(r"\{doc\}`(?:(?P<title>[^`<]*?)\s*<(?P<target>[^`>]+)>|(?P<bare>[^`]+))`")
_REF = re.compile(r"\{(?P<role>ref|numref)\}`(?:(?P<title>[^`<]*?)\s*<(?P<target>[^`>]+)>|(?P<bare>[^`]+))`")
_TARGET = re.compile(r"^\([\w.:-]+\)=[ \t]*\n?", re.M)  # MyST label lines, e.g. (fig-01-sdpa)=


@functools.cache
def _load_readable():
    """book/lab/readable.py (author–year citations), loaded by path: book/ is not a package."""
    spec = importlib.util.spec_from_file_location("efftx_readable", Path(__file__).resolve().parents[1] / "lab"
                                                  / "readable.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MissingGlue(KeyError):
    """A ``{glue}`` role whose key no output of the executed notebook holds."""


def glue_values(nb) -> dict[str, dict[str, Any]]:
    """{key: mime bundle} of every ``glue`` output in the executed notebook (display=False prefix removed)."""
    values: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = output.get("metadata", {}).get("scrapbook")
            if meta:
                prefix = meta.get("mime_prefix", "")
                values[meta["name"]] = {k.removeprefix(prefix): v for k, v in output.get("data", {}).items()}
    return values


def format_glue_text(text: str, fmt_spec: str) -> str:
    """A glued text/plain value with a format spec, exactly as myst-nb's ``{glue:text}`` formats it."""
    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt_spec == "":
        return str(value)
    kind = fmt_spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt_spec)


def readable_markdown(text: str, glued: dict[str, dict[str, Any]], *, bib: dict, lang: str, docname: str,
                      titles: dict[str, str] | None = None, refs: dict[str, str] | None = None,
                      strict: bool = True) -> str:
    """A markdown cell with the book's roles written out for plain Jupyter: glue → value, citations → author–year,
    {footbibliography} → reference list, {doc} → a link to the chapter's .ipynb, {ref}/{numref} → their text.
    A glue key without a value raises KeyError (``strict``) or stays as it was."""
    titles, refs = titles or {}, refs or {}
    missing = []

    def glue(m: re.Match) -> str:
        body = m["body"]
        key, fmt_spec = body.rsplit(":", 1) if m["kind"] == ":text" and ":" in body else (body, "")
        data = glued.get(key)
        if data is None:
            missing.append(key)
            return m.group(0)
        if m["kind"] == ":md" and "text/markdown" in data:
            return str(data["text/markdown"]).strip()
        return format_glue_text(str(data.get("text/plain", "")), fmt_spec)

    def doc(m: re.Match) -> str:
        target = (m["target"] or m["bare"]).strip()
        here = docname.rsplit("/", 1)[0] if "/" in docname else ""
        full = target.lstrip("/") if target.startswith("/") or not here else f"{here}/{target}"
        title = (m["title"] or "").strip() or titles.get(full, target)
        rel = target if not target.startswith("/") else "../" * docname.count("/") + target.lstrip("/")
        return f"[{title}]({rel}.ipynb)"

    def ref(m: re.Match) -> str:
        return (m["title"] or "").strip() or refs.get((m["target"] or m["bare"]).strip(), m["target"] or m["bare"])

    text = _GLUE.sub(glue, text)
    if missing and strict:
        raise MissingGlue(f"{docname}: no glued value for {sorted(set(missing))} in the executed notebook")
    text = _CITE.sub(lambda m: "{footcite:t}`" if m["kind"] in (":t", ":ts") else "{footcite}`", text)
    text = _load_readable().readable(text, bib, lang)
    text = _DOC.sub(doc, text)
    text = _REF.sub(ref, text)
    return _TARGET.sub("", text)


_FIGURE = re.compile(r"^```\{figure\}[ \t]+(?P<path>\S+)[ \t]*\n(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)\n?"
                     r"(?P<caption>.*?)^```[ \t]*$", re.M | re.S)
_IMAGE_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def embed_figures(cell, source_dir: Path) -> None:
    """Turn each ``{figure}`` block of a markdown cell whose file exists (a path relative to the chapter) into a
    plain image with the file embedded as a cell attachment and its caption below it, so that a downloaded
    notebook shows its figures wherever it is opened."""
    def figure(m: re.Match) -> str:
        path = (source_dir / m["path"]).resolve()
        kind = _IMAGE_TYPES.get(path.suffix.lower())
        if kind is None or not path.is_file():
            return m.group(0)
        attachments = cell.setdefault("attachments", {})
        attachments[path.name] = {kind: base64.b64encode(path.read_bytes()).decode("ascii")}
        caption = m["caption"].strip()
        return f"![{path.stem}](attachment:{path.name})" + (f"\n\n{caption}" if caption else "")

    cell.source = _FIGURE.sub(figure, cell.source)


def readable_notebook(nb, *, bib: dict, lang: str, docname: str, titles: dict[str, str] | None = None,
                      refs: dict[str, str] | None = None, strict: bool = True, source_dir: Path | None = None):
    """The executed notebook with :func:`readable_markdown` applied to every markdown cell (code cells as run) and,
    given the chapter's folder, its figures embedded (:func:`embed_figures`)."""
    glued = glue_values(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = readable_markdown(cell.source, glued, bib=bib, lang=lang, docname=docname, titles=titles,
                                            refs=refs, strict=strict)
            if source_dir is not None:
                embed_figures(cell, source_dir)
    return nb


def _refs(app: Sphinx) -> dict[str, str]:
    """{label: text} for {ref} (the section or figure title) and {numref} (e.g. "Fig. 2") across the book."""
    std = app.env.get_domain("std")
    fmt = (app.config.numfig_format or {}).get("figure", "Fig. %s")
    out = {}
    for label, (docname, labelid, title) in std.labels.items():
        number = app.env.toc_fignumbers.get(docname, {}).get("figure", {}).get(labelid)
        out[label] = fmt % ".".join(map(str, number)) if number else (title or label)
    return out


@functools.cache
def _bib(path: str) -> dict[str, dict]:
    return _load_readable().load_bib(Path(path))


def _write_download(app: Sphinx, pagename: str, executed: Path, target: Path) -> None:
    """The executed notebook, readable outside the book, as the page's .ipynb download (a glue value missing from
    the outputs is a warning, and its role stays as it was)."""
    titles = {doc: title.astext() for doc, title in app.env.titles.items()}
    options = {"bib": _bib(str(Path(__file__).resolve().parents[1] / "references.bib")),
               "lang": app.config.language or "en", "docname": pagename, "titles": titles, "refs": _refs(app),
               "source_dir": Path(app.srcdir) / Path(pagename).parent if getattr(app, "srcdir", None) else None}
    try:
        nb = readable_notebook(nbformat.read(executed, as_version=4), **options)
    except MissingGlue as error:
        logger.warning(f"the .ipynb download keeps raw glue roles: {error.args[0]}", location=pagename)
        nb = readable_notebook(nbformat.read(executed, as_version=4), **options, strict=False)
    target.write_text(nbformat.writes(nb), encoding="utf-8")


# ----------------------------------------------------------------------------------------------------------
# glossary
# ----------------------------------------------------------------------------------------------------------
def load_glossary(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data["terms"])


def _table(header: tuple[str, ...], rows: list[list[str]], widths: tuple[int, ...]) -> nodes.table:
    table = nodes.table(classes=["efftx-glossary"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)

    def row(cells: list[str]) -> nodes.row:
        r = nodes.row()
        for text in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=text)
            r += entry
        return r

    head = nodes.thead()
    head += row(list(header))
    group += head
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += body
    return table


class GlossaryTable(SphinxDirective):
    """``{glossary-table}``: book/glossary.yml as a table in this edition's language."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir) / self.config.efftx_glossary
        self.env.note_dependency(str(path))
        lang = self.config.language or "en"
        terms = load_glossary(path)
        header = UI.get(lang, UI["en"])["glossary"]
        rows = []
        for t in terms:
            never = ", ".join(t.get("never") or []) or "—"
            if lang == "ko":
                rows.append([t["ko"], t["en"], t["def_ko"], never])
            else:
                rows.append([t["en"], t["ko"], t["def_en"], never])
        return [_table(header, rows, (18, 18, 50, 14))]


# ----------------------------------------------------------------------------------------------------------
# Korean search
# ----------------------------------------------------------------------------------------------------------
# Particles (josa) and copulas stripped from the end of a Hangul word, longest first.
JOSA = sorted(
    """이라는 이라고 이라면 으로써 으로서 에서는 에게서 까지는 부터는 에서도 이지만 입니다 이며 이고 이나 이란
    으로 에서 에게 까지 부터 처럼 보다 마다 라는 라고 와의 과의 에는 에도 로써 로서 에의 만큼 이다 이라 조차
    은 는 이 가 을 를 의 에 와 과 로 도 만 나 란 며 고""".split(),
    key=len,
    reverse=True,
)
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def korean_stem(word: str) -> str:
    """Strip one particle from a Hangul word when at least two syllables remain (same rule as the JS)."""
    for josa in JOSA:
        if word.endswith(josa) and len(word) - len(josa) >= 2:
            return word[: -len(josa)]
    return word


JS_KOREAN_STEMMER = (
    js_porter_stemmer
    + """
var EfftxPorterStemmer = Stemmer;
var EfftxJosa = %s;
Stemmer = function() {
  var porter = new EfftxPorterStemmer();
  this.stemWord = function(w) {
    if (/[\\uac00-\\ud7a3]/.test(w)) {
      for (var i = 0; i < EfftxJosa.length; i++) {
        var j = EfftxJosa[i];
        if (w.length - j.length >= 2 && w.slice(-j.length) === j) return w.slice(0, -j.length);
      }
      return w;
    }
    return porter.stemWord(w);
  };
};
"""
    % ("[" + ",".join(f'"{j}"' for j in JOSA) + "]")
)


class SearchKorean(SearchLanguage):
    lang = "ko"
    language_name = "Korean"
    js_stemmer_code = JS_KOREAN_STEMMER
    stopwords = SearchEnglish.stopwords

    def init(self, options: dict[str, str]) -> None:
        self.english = SearchEnglish(options)

    def stem(self, word: str) -> str:
        if HANGUL.search(word):
            return korean_stem(word)
        return self.english.stem(word)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("efftx_glossary", "book/glossary.yml", "env")
    app.add_directive("glossary-table", GlossaryTable)
    app.add_search_language(SearchKorean)
    app.connect("html-page-context", add_page_links, priority=400)
    app.add_js_file(SEARCH_SNIPPETS_JS)  # search snippets from the article text (book/_static)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
