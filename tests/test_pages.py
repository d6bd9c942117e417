"""Pages that read as a book: guard cells folded away, results tables rendered as tables, plots whose legends
cover no data and whose axis labels fit, and citations readable in JupyterLab.

Source checks run without a build, for every chapter of `_toc.yml` in both editions. The `book` tests read the
smoke build (`smoke_site`): no chapter page shows a Markdown table as preformatted text, and every figure the
chapters displayed passed `efftx_mini.figure_check` when the build executed them (book/build.py records the
problems per chapter in `_build/smoke/figure-checks/`).
"""

from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path

import jupytext
import matplotlib
import numpy as np
import pytest
import yaml

from efftx_mini.figure_check import figure_problems, legend_covers_data, long_axis_labels

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LANGS = ("en", "ko")
GUARD_LINE = "# Guard: checks the prose above against this run."


def _chapters(book_build, lang: str) -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [f for f in book_build.toc_files(book_build.edition_toc(toc, lang)) if f.startswith("chapters/")]


def _notebook_pages(book_build, lang: str) -> list[str]:
    """The chapters and the course pages that are notebooks (a jupytext header, e.g. book/<lang>/pytorch)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [f for f in book_build.toc_files(book_build.edition_toc(toc, lang)) if f.startswith("book/")]
    return _chapters(book_build, lang) + [
        f for f in pages if (ROOT / f"{f}.md").read_text(encoding="utf-8").startswith("---\njupytext:")]


def _only_checks(statements: list[ast.stmt]) -> bool:
    """Only `assert`s (also inside `if`), besides names bound to literal constants: no computation."""
    if not statements:
        return False
    for s in statements:
        if isinstance(s, ast.Assert):
            continue
        if isinstance(s, ast.If) and _only_checks(s.body) and (not s.orelse or _only_checks(s.orelse)):
            continue
        if isinstance(s, ast.Assign):
            try:
                ast.literal_eval(s.value)
                continue
            except ValueError:
                return False
        return False
    return any(isinstance(s, (ast.Assert, ast.If)) for s in statements)


def _is_assert_only(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: not a guard
        return False
    return all(isinstance(s, (ast.Assert, ast.If)) for s in tree.body) and _only_checks(tree.body)


def test_the_guard_check_tells_guards_from_computations() -> None:
    assert _is_assert_only("assert x > 1, 'prose'\nif CLAIMS:\n    assert y\n")
    assert not _is_assert_only("x = f()\nassert x")
    assert not _is_assert_only("print(1)")
    assert not _is_assert_only("# only a comment\n")
    assert _only_checks(ast.parse("WORK = ('a', 'b')\nassert all(w for w in WORK)").body)
    assert not _only_checks(ast.parse("WORK = compute()\nassert WORK").body)


@pytest.mark.parametrize("lang", LANGS)
def test_every_assert_only_cell_is_a_folded_guard(book_build, lang: str) -> None:
    """A cell that only asserts is a guard: it starts with the guard line and its input is folded away; and a
    cell that says it is a guard holds only checks."""
    problems = []
    assert f"book/{lang}/pytorch" in _notebook_pages(book_build, lang)
    for doc in _notebook_pages(book_build, lang):
        for i, cell in enumerate(c for c in jupytext.read(ROOT / f"{doc}.md").cells if c.cell_type == "code"):
            tags = cell.metadata.get("tags", [])
            folded = "hide-input" in tags or "remove-input" in tags
            if _is_assert_only(cell.source) and not (folded and cell.source.startswith(GUARD_LINE)):
                problems.append(f"{doc} code cell {i}: only asserts, needs {GUARD_LINE!r} and :tags: [hide-input]")
            if cell.source.startswith(GUARD_LINE):
                body = ast.parse(cell.source).body
                if not (folded and _only_checks(body)):
                    problems.append(f"{doc} code cell {i}: a guard cell must hold only asserts and be folded")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------------
def test_figure_check_finds_a_legend_over_data_and_a_long_label() -> None:
    x = np.linspace(0, 1, 50)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(x, 1 - x**3, label="falls late")
    ax.plot(x, 0.9 + 0.05 * x, label="flat, high")
    ax.legend(loc="upper right")
    assert legend_covers_data(fig), "a legend over two lines must be found"
    ax.get_legend().remove()
    ax.legend(loc="lower left")
    assert legend_covers_data(fig) == []
    ax.set_ylabel("a label much too long for the height of these axes, which belongs in a caption")
    assert long_axis_labels(fig) and len(figure_problems(fig)) == 1
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(["a", "b", "c"], [1, 2, 3], label="bars")
    ax.legend(loc="upper right")
    assert any("bar" in p for p in legend_covers_data(fig))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.fill_between(x, 0, 1, alpha=0.3, label="band")
    ax.scatter([0.5], [0.5], label="point")
    ax.legend(loc="center")
    found = legend_covers_data(fig)
    assert any("area" in p for p in found) and any("points" in p for p in found)
    ax.get_legend().remove()
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside the axes: covers nothing
    assert legend_covers_data(fig) == []
    plt.close(fig)


def test_figure_checks_are_filed_per_notebook(book_build) -> None:
    output = "a/01_x.md: Executing notebook using local CWD\nb/02_y.md: Executing notebook using local CWD\n"
    log = "\n".join(["kernel", "cell 1 0.1 x", 'figure 2 "legend covers data"', 'figure 2 "legend covers data"',
                     "kernel", "cell 1 0.2 y"])
    assert book_build.figure_checks(log, output) == {"01_x": ["cell 2: legend covers data"], "02_y": []}


@pytest.mark.book
def test_no_figure_has_a_legend_over_data_or_a_label_longer_than_its_axes(book_build, smoke_site: Path) -> None:
    folder = book_build.figure_checks_dir("smoke", ROOT)
    problems, missing = [], []
    for doc in _chapters(book_build, "en"):
        record = folder / f"{Path(doc).name}.json"
        if not record.is_file():
            missing.append(Path(doc).name)
            continue
        problems += [f"{Path(doc).name} {p}" for p in json.loads(record.read_text(encoding="utf-8"))]
    assert not missing, (f"no figure check recorded for {missing}: their outputs come from a cache older than the "
                         f"check; rebuild after deleting {book_build.cache_dir('smoke', ROOT)}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------------
_PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S)
_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)


def markdown_tables_in_pre(page: str) -> list[str]:
    """The `<pre>` blocks of a page that hold a Markdown table (a header rule such as |---|---|)."""
    found = []
    for block in _PRE.findall(page):
        text = html.unescape(re.sub(r"<[^>]+>", "", block))
        if _RULE.search(text) and re.search(r"^\s*\|.*\|\s*$", text, re.M):
            found.append(text.strip().splitlines()[0][:80])
    return found


def test_the_table_check_finds_a_printed_markdown_table() -> None:
    printed = '<div class="output stream"><pre>| T | impl |\n|---|---|\n| 64 | softmax |\n</pre></div>'
    assert markdown_tables_in_pre(printed) == ["| T | impl |"]
    code = '<pre><span class="n">x</span> <span class="o">|</span> <span class="n">y</span></pre>'
    assert markdown_tables_in_pre(code) == [] and markdown_tables_in_pre("<table><tr><td>1</td></tr></table>") == []


@pytest.mark.book
@pytest.mark.parametrize("lang", LANGS)
def test_no_page_prints_a_markdown_table_as_text(book_build, smoke_site: Path, lang: str) -> None:
    bad = {}
    for doc in _chapters(book_build, lang):
        found = markdown_tables_in_pre((smoke_site / lang / f"{doc}.html").read_text(encoding="utf-8"))
        if found:
            bad[doc] = found
    assert not bad, f"Markdown tables printed as text (use efftx_mini.timing.print_table): {bad}"


# ------------------------------------------------------------------------------------------------------
# JupyterLab: citations as author-year text
# ------------------------------------------------------------------------------------------------------
def _readable():
    import importlib.util

    spec = importlib.util.spec_from_file_location("efftx_readable", ROOT / "book" / "lab" / "readable.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_citations_become_author_year_text() -> None:
    r = _readable()
    bib = {"a2021": {"authors": ["Liu", "Lin", "Cao"], "year": "2021", "title": "T", "venue": "V", "url": ""},
           "b2022": {"authors": ["Mehta", "Rastegari"], "year": "2022", "title": "U", "venue": "", "url": ""},
           "c2020": {"authors": ["Shazeer"], "year": "2020", "title": "W", "venue": "", "url": ""}}
    text = ("# Title\n\nSwin {footcite}`a2021,b2022` and ({footcite}`c2020`, §3) as {footcite:t}`a2021` says.\n\n"
            "```{code-cell} ipython3\nx = '{footcite}`a2021`'\n```\n\n## References\n\n```{footbibliography}\n```\n")
    en = r.readable(text, bib, "en")
    assert "Swin (Liu et al., 2021; Mehta and Rastegari, 2022) and (Shazeer, 2020, §3) as Liu et al. (2021)" in en
    assert "x = '{footcite}`a2021`'" in en, "code cells are copied as they are"
    assert "- Liu, Lin, Cao (2021). T. *V*." in en and "footbibliography" not in en
    ko = r.readable(text, bib, "ko", "01_x.md")
    assert "(Liu 등, 2021; Mehta & Rastegari, 2022)" in ko and "Liu 등 (2021)" in ko
    assert ko.index(":::{note}") > ko.index("# Title") and "chapters/ko/01_x.md" in ko
    with pytest.raises(KeyError, match="missing"):
        r.readable("{footcite}`missing`", bib, "en")
    plain = r.plain(r"Kaiser, {\L}ukasz and R{\'e}, Fran{\c{c}}ois \& \url{x.org}")
    assert plain == "Kaiser, Łukasz and Ré, François & x.org"


def test_reading_copies_resolve_every_citation_and_keep_the_code(tmp_path: Path) -> None:
    r = _readable()
    written = r.write_copies(tmp_path)
    assert len(written) == 2 * len(list((ROOT / "chapters" / "en").glob("*.md")))
    for copy in written:
        text = copy.read_text(encoding="utf-8")
        source = ROOT / "chapters" / copy.parent.name / copy.name
        assert "{footcite" not in text and "{footbibliography}" not in text, copy
        code = [c.source for c in jupytext.read(copy).cells if c.cell_type == "code"]
        assert code == [c.source for c in jupytext.read(source).cells if c.cell_type == "code"], copy
    chapters = tmp_path / "chapters"
    assert (chapters / "results").resolve() == (ROOT / "chapters" / "results").resolve()
    assert (chapters / "figures").resolve() == (ROOT / "chapters" / "figures").resolve()
    assert r.write_copies(tmp_path) == written  # idempotent
