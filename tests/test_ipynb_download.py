"""The .ipynb download reads without the book's tooling (issue 25): glued values, author–year citations, a
reference list and plain links replace the MyST roles that only Jupyter Book (or jupyterlab-myst) understands."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import efftx_book  # noqa: E402

# What a reader must never see in a downloaded notebook's markdown.
RAW_MARKUP = re.compile(r"\{(?:glue|footcite|cite|doc|ref|numref)(?::\w*)?\}`|\{footbibliography\}|^\([\w.:-]+\)=",
                        re.M)


def _glue_output(name: str, value: object, display: bool) -> nbformat.NotebookNode:
    prefix = "" if display else efftx_book.GLUE_PREFIX
    return nbformat.v4.new_output("display_data", data={prefix + "text/plain": repr(value)},
                                  metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})


def _notebook(markdown: str) -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("glue('acc', 0.91234, display=False)\nprint('{glue:text}`acc`')")
    code.outputs = [_glue_output("acc", 0.91234, False), _glue_output("n", 12000, True),
                    _glue_output("name", "pit", False), _glue_output("delta", -0.0312, False)]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown), code])


@pytest.fixture(scope="module")
def bib() -> dict:
    return efftx_book._bib(str(ROOT / "book" / "references.bib"))


def test_roles_are_written_out_and_code_is_untouched(bib: dict) -> None:
    markdown = """(sec-x)=
## Results

Accuracy {glue:text}`acc:.1%` ({glue:text}`acc:.3f`) over {glue:text}`n:,` steps for {glue:text}`name`,
a change of {glue:text}`delta:+.2f`; raw {glue}`acc`. Attention {footcite}`vaswani2017attention` as
{footcite:t}`vaswani2017attention` and bertviz ({footcite}`vig2019multiscale`, §3); {cite:t}`wang2021gptj`.
See {doc}`11_vision`, {doc}`chapter 9 <09_exact_attention>`, {numref}`fig-01-sdpa` and {ref}`sec-x`.

```{footbibliography}
```
"""
    nb = efftx_book.readable_notebook(
        _notebook(markdown), bib=bib, lang="en", docname="chapters/en/07_parallel_block",
        titles={"chapters/en/11_vision": "Vision transformers"}, refs={"fig-01-sdpa": "Fig. 2", "sec-x": "Results"})
    text = nb.cells[0].source
    assert not RAW_MARKUP.findall(text), text
    assert "Accuracy 91.2% (0.912) over 12,000 steps for pit,\na change of -0.03; raw 0.91234." in text
    assert "Attention (Vaswani et al., 2017) as\nVaswani et al. (2017)" in text
    assert "bertviz (Vig, 2019, §3); Wang and Komatsuzaki (2021)." in text
    assert ("See [Vision transformers](11_vision.ipynb), [chapter 9](09_exact_attention.ipynb), Fig. 2 and "
            "Results.") in text
    assert "- Vaswani, " in text and "Attention Is All You Need" in text
    assert nb.cells[1].source == "glue('acc', 0.91234, display=False)\nprint('{glue:text}`acc`')"  # code as run


def test_korean_citations_and_a_missing_glue_value(bib: dict) -> None:
    nb = efftx_book.readable_notebook(_notebook("어텐션 {footcite}`vaswani2017attention`, {doc}`11_vision`."),
                                      bib=bib, lang="ko", docname="chapters/ko/01_attention")
    assert nb.cells[0].source == "어텐션 (Vaswani 등, 2017), [11_vision](11_vision.ipynb)."
    with pytest.raises(KeyError, match=r"no glued value for \['missing'\]"):
        efftx_book.readable_notebook(_notebook("{glue:text}`missing:.2f`"), bib=bib, lang="en", docname="x")


def test_glue_text_formats_as_myst_nb_does() -> None:
    from myst_nb.core.variables import format_plain_text

    for text, spec in [("0.91234", ".1%"), ("12000", ","), ("'pit'", ""), ("-0.0312", "+.2f"), ("3", "d"),
                       ("1.5e-07", ".1e"), ("np.float64(0.5)", "")]:
        assert efftx_book.format_glue_text(text, spec) == format_plain_text(text, spec), (text, spec)


def test_the_extension_writes_the_download_with_the_books_titles_and_figure_numbers(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from docutils import nodes

    class Std:
        labels = {"fig-01-sdpa": ("chapters/en/01_attention", "fig-01-sdpa", ""),
                  "sec-x": ("chapters/en/07_parallel_block", "sec-x", "Results")}

    env = SimpleNamespace(titles={"chapters/en/11_vision": nodes.title(text="Vision transformers")},
                          toc_fignumbers={"chapters/en/01_attention": {"figure": {"fig-01-sdpa": (1, 2)}}},
                          get_domain=lambda name: Std())
    app = SimpleNamespace(env=env, config=SimpleNamespace(language="en", numfig_format={"figure": "Fig. %s"}))
    executed, target = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(_notebook("{glue:text}`acc:.2f` in {doc}`11_vision`, {numref}`fig-01-sdpa`, {ref}`sec-x`."),
                   executed)
    efftx_book._write_download(app, "chapters/en/07_parallel_block", executed, target)
    assert nbformat.read(target, as_version=4).cells[0].source == (
        "0.91 in [Vision transformers](11_vision.ipynb), Fig. 1.2, Results.")
    nbformat.write(_notebook("{glue:text}`gone:.2f` and {footcite}`vig2019multiscale`"), executed)
    efftx_book._write_download(app, "chapters/en/07_parallel_block", executed, target)  # a warning, not a crash
    assert nbformat.read(target, as_version=4).cells[0].source == "{glue:text}`gone:.2f` and (Vig, 2019)"


def test_figures_are_embedded_as_attachments(bib: dict) -> None:
    """A {figure} whose file exists becomes an image carried by the cell (the download has no ../figures next to
    it); its caption stays; a figure whose file is missing is left as written."""
    import base64

    markdown = """Before.

```{figure} ../figures/sdpa.svg
:name: fig-01-sdpa
:width: 360px

Scaled dot-product attention, as the package computes it.
```

```{figure} ../figures/no_such_figure.svg
A missing one.
```
"""
    nb = efftx_book.readable_notebook(_notebook(markdown), bib=bib, lang="en", docname="chapters/en/01_attention",
                                      source_dir=ROOT / "chapters" / "en")
    cell = nb.cells[0]
    assert "![sdpa](attachment:sdpa.svg)\n\nScaled dot-product attention, as the package computes it." in cell.source
    assert "{figure} ../figures/sdpa.svg" not in cell.source
    assert "```{figure} ../figures/no_such_figure.svg" in cell.source
    data = base64.b64decode(cell.attachments["sdpa.svg"]["image/svg+xml"])
    assert data == (ROOT / "chapters" / "figures" / "sdpa.svg").read_bytes()
    assert list(cell.attachments) == ["sdpa.svg"]
    nbformat.validate(nb)
