"""The two-edition site: structure, language switch, .ipynb downloads, launch buttons, cache reuse, search.

Helpers of book/build.py and book/_ext/efftx_book.py are unit-tested first; the rest reads the smoke build.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import efftx_book  # noqa: E402
from test_ipynb_download import RAW_MARKUP  # noqa: E402

LANGS = ("en", "ko")


def _toc() -> dict:
    return yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


def _links(html: str, cls: str) -> list[str]:
    return re.findall(rf'<a class="[^"]*\b{cls}\b[^"]*" href="([^"]+)"', html)


# ------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------
def test_swap_lang(book_build) -> None:
    assert book_build.swap_lang("chapters/en/01_attention", "ko") == "chapters/ko/01_attention"
    assert book_build.swap_lang("book/en/intro", "ko") == "book/ko/intro"
    assert book_build.swap_lang("chapters/en/en_x", "ko") == "chapters/ko/en_x"  # only whole segments
    assert book_build.swap_lang("book/en/intro", "en") == "book/en/intro"


def test_a_changed_package_or_results_file_invalidates_cached_outputs(book_build, tmp_path) -> None:
    """jupyter-cache keys notebooks by their code only: package or data changes must force re-execution."""
    (tmp_path / "efftx_mini").mkdir()
    (tmp_path / "efftx_mini" / "attention.py").write_text("A = 1\n")
    (tmp_path / "chapters" / "results").mkdir(parents=True)
    (tmp_path / "chapters" / "results" / "r.json").write_text("{}")
    (tmp_path / "requirements.txt").write_text("torch==2.13.0\n")
    cache = book_build.cache_dir("smoke", tmp_path)
    env = book_build.work_dir("smoke", tmp_path) / "en" / "_build"

    def fill() -> None:
        cache.mkdir(parents=True, exist_ok=True)
        env.mkdir(parents=True, exist_ok=True)
        (cache / "x").write_text("cached")

    fill()
    assert book_build.invalidate_stale_outputs("smoke", tmp_path) is False  # first build: nothing to compare with
    assert book_build.invalidate_stale_outputs("smoke", tmp_path) is False and cache.exists()
    (tmp_path / "efftx_mini" / "attention.py").write_text("A = 2\n")
    assert book_build.invalidate_stale_outputs("smoke", tmp_path) is True
    assert not cache.exists() and not env.exists()
    fill()
    (tmp_path / "chapters" / "results" / "r.json").write_text('{"x": 1}')
    assert book_build.invalidate_stale_outputs("smoke", tmp_path) is True and not cache.exists()


def test_korean_toc_is_derived_from_the_english_one(book_build) -> None:
    toc = _toc()
    ko = book_build.edition_toc(toc, "ko")
    en_files, ko_files = book_build.toc_files(toc), book_build.toc_files(ko)
    assert len(en_files) == len(ko_files) >= 3
    assert ko_files == [book_build.swap_lang(f, "ko") for f in en_files]
    assert all("/en/" not in f for f in ko_files) and all("/en/" in f for f in en_files)
    captions = [p["caption"] for p in ko.get("parts", [])]
    assert captions and not set(captions) & {p["caption"] for p in toc["parts"]}, captions
    with pytest.raises(SystemExit, match="no ko translation"):
        book_build.edition_toc({"root": "book/en/intro", "parts": [{"caption": "Untranslated", "chapters": []}]},
                               "ko")


def test_edition_config(book_build) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    ko = book_build.edition_config(config, "ko", "smoke", ROOT)
    assert ko["sphinx"]["config"]["language"] == "ko" and ko["title"] != config["title"]
    assert Path(ko["execute"]["cache"]) == ROOT / "_build" / "smoke" / "cache"
    assert book_build.edition_config(config, "en", "gpu", ROOT)["execute"]["cache"] != ko["execute"]["cache"]
    assert config["execute"]["execute_notebooks"] == "cache" and config["only_build_toc_files"] is True
    assert config["execute"]["stderr_output"] == "error" and config["execute"]["raise_on_error"] is True
    assert book_build.site_dir("cpu", ROOT) == ROOT / "_build" / "html"
    assert book_build.site_dir("smoke", ROOT) == ROOT / "_build" / "smoke" / "html"
    launch = config["launch_buttons"]
    assert launch["jupyterhub_url"] and not launch.get("thebe") and not launch.get("binderhub_url")
    assert not config["repository"].get("url"), "_config.yml must not name a (placeholder) repository"


def test_repository_buttons_follow_the_repository_being_built(book_build) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url = "https://github.com/someone/fork-of-efftx"
    built = book_build.edition_config(config, "en", "smoke", ROOT, repository=(url, "main"))
    assert built["repository"]["url"] == url and built["html"]["use_repository_button"] is True
    assert built["launch_buttons"]["jupyterhub_url"] == config["launch_buttons"]["jupyterhub_url"]
    local = book_build.edition_config(config, "ko", "smoke", ROOT, repository=("", ""))
    # explicitly empty: jupyter-book's default config would otherwise fill in its own repository
    assert local["repository"]["url"] == "" and local["html"]["use_repository_button"] is False
    assert local["launch_buttons"]["jupyterhub_url"] == "", "a JupyterHub link needs a repository to pull"
    assert book_build.repository_from_env({}) == ("", "")
    env = {"EFFTX_REPOSITORY_URL": url + "/", "EFFTX_REPOSITORY_BRANCH": "dev"}
    assert book_build.repository_from_env(env) == (url, "dev")


def test_build_fails_on_warnings_and_uses_the_generated_files(book_build, tmp_path: Path) -> None:
    cmd = book_build.edition_command("smoke", "ko", ROOT, tmp_path / "c.yml", tmp_path / "t.yml")
    assert "--warningiserror" in cmd and "--keep-going" in cmd
    assert cmd[cmd.index("--config") + 1] == str(tmp_path / "c.yml")
    assert cmd[cmd.index("--toc") + 1] == str(tmp_path / "t.yml")
    assert cmd[cmd.index("--path-output") + 1] == str(ROOT / "_build" / "smoke" / "ko")
    env = book_build.build_env("smoke")
    assert env["EFFTX_PRESET"] == "smoke" and env["TQDM_DISABLE"] == "1"


def test_vendored_assets_match_the_lock_file() -> None:
    lock = json.loads((ROOT / "book" / "vendor" / "package-lock.json").read_text(encoding="utf-8"))
    wanted = json.loads((ROOT / "book" / "vendor" / "package.json").read_text(encoding="utf-8"))["dependencies"]
    vendored = json.loads((ROOT / "book" / "_static" / "vendor" / "VERSIONS.json").read_text(encoding="utf-8"))
    assert vendored == wanted, "run `python book/vendor/sync.py` after changing book/vendor/package.json"
    for name, version in vendored.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name


def test_write_if_changed_keeps_mtime(book_build, tmp_path: Path) -> None:
    path = tmp_path / "a.yml"
    assert book_build.write_if_changed(path, "x: 1\n")
    os.utime(path, ns=(1, 1))
    assert not book_build.write_if_changed(path, "x: 1\n") and path.stat().st_mtime_ns == 1
    assert book_build.write_if_changed(path, "x: 2\n") and path.stat().st_mtime_ns != 1


def test_mirror_copies_changes_and_removes_stale_files(book_build, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.html").write_text("a")
    (dst / "old").mkdir(parents=True)
    (dst / "old" / "stale.html").write_text("stale")
    assert book_build.mirror(src, dst) == 1 and (dst / "d" / "a.html").read_text() == "a"
    assert not (dst / "old").exists()
    assert book_build.mirror(src, dst) == 0
    time.sleep(0.01)
    (src / "d" / "a.html").write_text("b")
    assert book_build.mirror(src, dst) == 1 and (dst / "d" / "a.html").read_text() == "b"


def test_execution_counts(book_build) -> None:
    out = ("x.md: Executed notebook in 3.20 seconds [mystnb]\ny.md: Using cached notebook: ID=2 [mystnb]\n"
           "z.md: Using cached notebook: ID=3 [mystnb]\n")
    assert book_build.execution_counts(out) == (1, 2)


def test_smoke_cells_time_out_within_two_minutes(book_build) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert book_build.edition_config(config, "en", "smoke", ROOT)["execute"]["timeout"] <= 120
    assert book_build.edition_config(config, "en", "cpu", ROOT)["execute"]["timeout"] == config["execute"]["timeout"]


def test_a_stalled_notebook_is_named_and_the_edition_retried_once(book_build, tmp_path, monkeypatch) -> None:
    stall = ("/r/chapters/en/03_positional.md: WARNING: Executing notebook failed: CellTimeoutError [mystnb.exec]\n")
    assert book_build.stalled_notebooks(stall) == ["/r/chapters/en/03_positional.md"]
    assert book_build.stalled_notebooks("x.md: WARNING: Executing notebook failed: CellExecutionError") == []
    calls = []

    def fake_run(preset, lang, root, log=None, solutions="show", handouts=False):
        calls.append(lang)
        return (1, stall) if len(calls) == 1 else (0, "ok")

    monkeypatch.setattr(book_build, "run_edition", fake_run)
    monkeypatch.setattr(book_build, "mirror", lambda src, dst: 0)
    for name in ("_config.yml", "_toc.yml"):
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    assert book_build.build("smoke", ("en",), root=tmp_path, quiet=True, handouts="off") == 0
    assert calls == ["en", "en"]  # failed on the stall, built once more
    calls.clear()
    monkeypatch.setattr(book_build, "run_edition", lambda *a, **k: (calls.append(1), (1, stall))[1])
    assert book_build.build("smoke", ("en",), root=tmp_path, quiet=True, handouts="off") == 1
    assert len(calls) == 2  # a second stall fails the build: no endless retries


def test_cell_times_are_attributed_to_their_notebooks(book_build) -> None:
    output = ("/r/chapters/en/01_attention.md: Executing notebook using local CWD [mystnb]\n"
              "/r/chapters/en/02_qkv.md: Executing notebook using local CWD [mystnb]\n")
    log = "kernel\ncell 1 0.500 import torch\ncell 2 3.250 train()\nkernel\ncell 1 1.000 x = 1\n"
    rows = book_build.cell_times(log, output)
    assert rows == [("01_attention.md", 1, 0.5, "import torch"), ("01_attention.md", 2, 3.25, "train()"),
                    ("02_qkv.md", 1, 1.0, "x = 1")]
    text = "".join(f"[cell-time] {nb} cell {i}: {t:.2f} s\n" for nb, i, t, _ in rows)
    assert book_build.slowest_cells(text, 2) == [("01_attention.md", 2, 3.25), ("02_qkv.md", 1, 1.0)]


def test_the_cell_timer_runs_in_a_kernel_and_writes_no_output(book_build, tmp_path) -> None:
    """The startup file the build gives its kernels logs every cell to $EFFTX_CELL_LOG and prints nothing."""
    import nbformat
    from nbclient import NotebookClient

    env_ipython = book_build.ipython_dir("smoke", tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1"),
                                         nbformat.v4.new_code_cell("import time\ntime.sleep(0.2)")])
    log = tmp_path / "cells.log"
    old = {k: os.environ.get(k) for k in ("IPYTHONDIR", "EFFTX_CELL_LOG")}
    os.environ.update(IPYTHONDIR=str(env_ipython), EFFTX_CELL_LOG=str(log))
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    assert all(not c.outputs for c in nb.cells), [c.outputs for c in nb.cells]
    lines = log.read_text().splitlines()
    assert lines[0] == "kernel" and len(lines) == 3, lines
    assert lines[2].startswith("cell 2 ") and float(lines[2].split()[2]) >= 0.2


def test_korean_search_stemming() -> None:
    assert efftx_book.korean_stem("어텐션은") == "어텐션"
    assert efftx_book.korean_stem("트랜스포머의") == "트랜스포머"
    assert efftx_book.korean_stem("쿼리를") == "쿼리"
    assert efftx_book.korean_stem("키") == "키"  # too short to strip anything
    lang = efftx_book.SearchKorean({})
    assert lang.stem("어텐션으로") == "어텐션" and lang.stem("attention") == lang.english.stem("attention")
    assert "Stemmer" in efftx_book.JS_KOREAN_STEMMER and "어텐션" not in efftx_book.JS_KOREAN_STEMMER


def test_search_snippets_script_is_registered() -> None:
    """efftx-search.js is shipped and added to every page (search-as-you-type runs on every page)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    static = [ROOT / p for p in config["sphinx"]["config"]["html_static_path"]]
    assert any((d / efftx_book.SEARCH_SNIPPETS_JS).is_file() for d in static), static

    class App:
        js: list[str] = []

        def add_config_value(self, *args) -> None: ...
        def add_directive(self, *args) -> None: ...
        def add_search_language(self, *args) -> None: ...
        def connect(self, *args, **kwargs) -> None: ...
        def add_js_file(self, name: str, **kwargs) -> None:
            self.js.append(name)

    app = App()
    efftx_book.setup(app)
    assert app.js == [efftx_book.SEARCH_SNIPPETS_JS]


def test_lang_switch_targets() -> None:
    assert efftx_book.twin_pagename("chapters/en/01_attention", "en", "ko") == "chapters/ko/01_attention"
    assert efftx_book.twin_pagename("book/ko/intro", "ko", "en") == "book/en/intro"


# ------------------------------------------------------------------------------------------------------
# the toc and the chapters on disk
# ------------------------------------------------------------------------------------------------------
def test_toc_lists_every_chapter_and_only_existing_files(book_build) -> None:
    toc = _toc()
    for lang in LANGS:
        files = book_build.toc_files(book_build.edition_toc(toc, lang))
        missing = [f for f in files if not (ROOT / f"{f}.md").is_file()]
        assert not missing, f"{lang} toc lists files that do not exist: {missing}"
        chapters = sorted(p.relative_to(ROOT).with_suffix("").as_posix()
                          for p in (ROOT / "chapters" / lang).glob("*.md"))
        absent = [c for c in chapters if c not in files]
        assert not absent, f"chapters not in _toc.yml (they would be neither built nor tested): {absent}"


# ------------------------------------------------------------------------------------------------------
# the smoke build
# ------------------------------------------------------------------------------------------------------
@pytest.mark.book
def test_site_layout(smoke_site: Path, book_build) -> None:
    chooser = (smoke_site / "index.html").read_text(encoding="utf-8")
    assert 'href="en/index.html"' in chooser and 'href="ko/index.html"' in chooser
    assert "<script" not in chooser
    for lang in LANGS:
        assert (smoke_site / lang / "index.html").is_file()
        for doc in book_build.toc_files(book_build.edition_toc(_toc(), lang)):
            page = smoke_site / lang / f"{doc}.html"
            assert page.is_file(), f"missing page {page}"
            html = page.read_text(encoding="utf-8")
            assert f'<html lang="{lang}"' in html, f"{page}: wrong html lang"
        other = "ko" if lang == "en" else "en"
        assert not list((smoke_site / lang).rglob(f"{other}/*.html")), f"{lang} edition contains {other} pages"


@pytest.mark.book
def test_korean_theme_ui_is_korean(smoke_site: Path) -> None:
    html = (smoke_site / "ko" / "book" / "ko" / "intro.html").read_text(encoding="utf-8")
    assert "검색" in html, "the Korean edition's theme strings are not Korean (language: ko)"
    en = (smoke_site / "en" / "book" / "en" / "intro.html").read_text(encoding="utf-8")
    assert "검색" not in en


@pytest.mark.book
def test_language_switch_reaches_the_same_page(smoke_site: Path, book_build) -> None:
    toc = _toc()
    for lang in LANGS:
        other = "ko" if lang == "en" else "en"
        for doc in book_build.toc_files(book_build.edition_toc(toc, lang)):
            page = smoke_site / lang / f"{doc}.html"
            links = _links(page.read_text(encoding="utf-8"), "efftx-lang-switch")
            assert len(links) == 1, f"{page}: expected one language switch, got {links}"
            target = (page.parent / links[0]).resolve()
            assert target == (smoke_site / other / f"{book_build.swap_lang(doc, other, lang)}.html").resolve()
            assert target.is_file(), f"{page}: language switch leads to missing {target}"
        for extra in ("search.html", "genindex.html"):
            links = _links((smoke_site / lang / extra).read_text(encoding="utf-8"), "efftx-lang-switch")
            assert links and (smoke_site / lang / links[0]).resolve().is_file()


def _chapters(lang: str) -> list[Path]:
    """The chapter files of one edition that _toc.yml lists (the ones the site builds)."""
    build = sys.modules.get("efftx_book_build")
    assert build is not None, "the book_build fixture loads book/build.py"
    files = build.toc_files(build.edition_toc(_toc(), lang))
    return [ROOT / f"{f}.md" for f in files if f.startswith("chapters/")]


@pytest.mark.book
def test_chapter_pages_offer_ipynb_download_and_launch(smoke_site: Path, book_build) -> None:
    chapters = [c for lang in LANGS for c in _chapters(lang)]
    if not chapters:
        pytest.fail("no chapter in chapters/en or chapters/ko: nothing to check")
    for chapter in chapters:
        lang = chapter.parent.name
        doc = chapter.relative_to(ROOT).with_suffix("").as_posix()
        page = smoke_site / lang / f"{doc}.html"
        html = page.read_text(encoding="utf-8")
        links = _links(html, "efftx-ipynb")
        assert len(links) == 1, f"{page}: no .ipynb download link"
        target = (page.parent / links[0]).resolve()
        assert target.is_file(), f"{page}: .ipynb link leads to missing {target}"
        nb = nbformat.read(target, as_version=4)
        nbformat.validate(nb)
        source = jupytext.read(chapter)
        assert [c.source.strip() for c in nb.cells if c.cell_type == "code"] == \
            [c.source.strip() for c in source.cells if c.cell_type == "code"], f"{target}: not this chapter's code"
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{target} was not executed"
        raw = [m for c in nb.cells if c.cell_type == "markdown" for m in RAW_MARKUP.findall(c.source)]
        assert not raw, f"{target}: MyST roles left for the reader in the download (issue 25): {raw[:5]}"
        if os.environ.get("EFFTX_REPOSITORY_URL"):
            assert "/hub/user-redirect/git-pull?" in html and f"{doc}.md" in html, f"{page}: no JupyterHub button"
        else:  # a local build knows no repository: no repository or JupyterHub button rather than a wrong one
            assert "/hub/user-redirect/git-pull?" not in html, f"{page}: a JupyterHub button without a repository"
            assert "source-repository-button" not in html and "executablebooks" not in html, f"{page}: a repo button"
        assert "download-notebook-button" in html, f"{page}: the theme's download menu lacks the .ipynb"


@pytest.mark.book
def test_korean_edition_reuses_the_english_execution(smoke_build, book_build) -> None:
    """Every Korean chapter matches a record of the smoke cache, and the Korean build executed nothing."""
    from jupyter_cache import get_cache

    cache = get_cache(str(ROOT / "_build" / "smoke" / "cache"))
    assert _chapters("ko"), "_toc.yml lists no chapter"
    for chapter in _chapters("ko"):
        nb = jupytext.read(chapter)
        record = cache.match_cache_notebook(nb)  # KeyError if the cache has no matching notebook
        assert record.pk
    lines = [line for line in smoke_build.output.splitlines() if line.startswith("[book] ko:") and "executed" in line]
    assert lines, smoke_build.output[-3000:]
    assert re.search(r"notebooks executed 0\b", lines[0]), f"the Korean edition executed notebooks: {lines[0]}"


def _search_terms(site: Path, lang: str) -> dict:
    text = (site / lang / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1: text.rindex(")")])
    return index["terms"]


@pytest.mark.book
def test_search_index_covers_both_languages(smoke_site: Path) -> None:
    en, ko = _search_terms(smoke_site, "en"), _search_terms(smoke_site, "ko")
    assert "transform" in en or "transformer" in en
    # Korean words are indexed without their particles: 트랜스포머(transformer)가 -> 트랜스포머
    assert "트랜스포머" in ko and "어텐션" in ko, sorted(t for t in ko if re.search("[가-힣]", t))[:50]
    language_data = (smoke_site / "ko" / "_static" / "language_data.js").read_text(encoding="utf-8")
    assert "EfftxJosa" in language_data, "the Korean search stemmer is not in the Korean edition"


@pytest.mark.book
def test_search_snippet_source_is_the_article_without_buttons(smoke_site: Path, book_build) -> None:
    """efftx-search.js takes snippets from article.bd-article: every page has one, it holds the page title
    and none of the header buttons (the [role=main] text Sphinx uses by default starts with them)."""
    for lang in LANGS:
        for doc in book_build.toc_files(book_build.edition_toc(_toc(), lang)):
            page = smoke_site / lang / f"{doc}.html"
            html = page.read_text(encoding="utf-8")
            assert efftx_book.SEARCH_SNIPPETS_JS in html, f"{page}: search snippet script not loaded"
            start = html.find('<article class="bd-article"')
            assert start > 0, f"{page}: no article.bd-article"
            article = html[start: html.index("</article>", start)]
            assert "<h1" in article, f"{page}: the article does not hold the page title"
            for button in ("efftx-lang-switch", "efftx-ipynb", "article-header-buttons"):
                assert button not in article, f"{page}: {button} inside the article would enter the snippets"
