"""The course kit: self-checks, the semester plan, student/instructor builds, slide decks, PDF handouts, and the
kernel-free explorers (efftx_mini.static_explorer).

The unit tests need no build. The `book` tests read the smoke build (`smoke_site`, the instructor build with
solutions) and a second smoke build with `--solutions hide` (the student build, `student_site`, which reuses the
execution cache). Everything is checked for every chapter `_toc.yml` lists, so new chapters are covered as they
are added.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from efftx_mini.positional import RotaryEmbedding, sinusoidal_encoding
from efftx_mini.static_explorer import (
    attention_explorer_static,
    clock_explorer_static,
    figure_explorer,
    heatmap_explorer,
    query_explorer_static,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import efftx_course  # noqa: E402

LANGS = ("en", "ko")
SELFCHECK = {"en": ("Self-check", "Answers", "## Exercises"), "ko": ("스스로 점검", "답", "## 연습 문제")}


def _toc_chapters(book_build, lang: str) -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [f for f in book_build.toc_files(book_build.edition_toc(toc, lang)) if f.startswith("chapters/")]


def _solution_snippets(text: str) -> list[str]:
    """Runs of plain words (>= 30 characters) said only in the solutions and self-check answers of a chapter."""
    rest = efftx_course.strip_answers(text)
    kept, prose = set(rest.split("\n")), " ".join(rest.split())
    snippets = []
    for line in text.split("\n"):
        if line in kept:
            continue
        run: list[str] = []
        for token in [*line.split(), "\0"]:
            if re.fullmatch(r"[A-Za-z가-힣]+[,.;]?", token):
                run.append(token)
                continue
            if len(" ".join(run)) >= 30 and " ".join(run) not in prose:  # not also said outside the answers
                snippets.append(" ".join(run))
            run = []
    return snippets


# ------------------------------------------------------------------------------------------------------
# sources
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_every_chapter_has_a_self_check_before_its_exercises(book_build, lang: str) -> None:
    title, answers, exercises = SELFCHECK[lang]
    for doc in _toc_chapters(book_build, lang):
        text = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
        block = re.search(
            rf"::::{{admonition}} {title}\n:class: selfcheck\n(?P<q>(?:.+\n)+?):::{{dropdown}} {answers}\n"
            rf":class-container: selfcheck-answers\n(?P<a>(?:.+\n)+?):::\n::::\n\n{exercises}\n", text)
        assert block, f"{doc}: no self-check block in the book's format just before '{exercises}'"
        assert text.count(":class: selfcheck\n") == 1, f"{doc}: more than one self-check block"
        questions = re.findall(r"^\d+\. ", block["q"], flags=re.M)
        assert len(questions) >= 2 and len(questions) == len(re.findall(r"^\d+\. ", block["a"], flags=re.M)), doc


KEYPOINTS_TITLE = {"en": "In short", "ko": "핵심 정리"}
_BOX = re.compile(r"^:::\{admonition\} (?P<title>[^\n]+)\n:class: (?P<cls>keypoints[^\n]*)\n"
                  r"(?P<items>(?:(?:- |  )[^\n]*\n)+):::$", re.M)


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of every level-2 section of a MyST chapter, outside code fences."""
    out: list[tuple[str, list[str]]] = []
    fence = None
    for line in text.split("\n"):
        m = re.match(r"^(`{3,}|~{3,})", line)
        if m and fence is None and line.startswith("```{code-cell"):
            fence = m.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is None and line.startswith("## "):
            out.append((line[3:].strip(), []))
            continue
        if out:
            out[-1][1].append(line)
    return [(h, "\n".join(body)) for h, body in out]


def _keypoint_boxes(body: str) -> list[tuple[str, list[str], int]]:
    """(title, classes, number of bullets) of the "In short" boxes in a section's text."""
    return [(m["title"], m["cls"].split(), len(re.findall(r"^- ", m["items"], re.M))) for m in _BOX.finditer(body)]


def _box_problems(doc: str, lang: str) -> list[str]:
    """What is wrong with the key-points boxes of one chapter: one box of 2-4 points per lecture section."""
    problems = []
    for heading, body in _sections((ROOT / f"{doc}.md").read_text(encoding="utf-8")):
        boxes = _keypoint_boxes(body)
        if not efftx_course.is_lecture_section(heading):
            if boxes:
                problems.append(f"{doc} '{heading}': not a lecture section, but has a key-points box")
            continue
        if len(boxes) != 1:
            problems.append(f"{doc} '{heading}': {len(boxes)} key-points boxes, expected one")
            continue
        title, classes, n = boxes[0]
        if title != KEYPOINTS_TITLE[lang] or not 2 <= n <= 4:
            problems.append(f"{doc} '{heading}': box {title!r} with {n} points (expected "
                            f"{KEYPOINTS_TITLE[lang]!r}, 2-4 points)")
        if not all(re.fullmatch(r"keypoints|(eq|fig)-(\d+|none)", c) for c in classes):
            problems.append(f"{doc} '{heading}': unknown classes {classes}")
    return problems


@pytest.mark.parametrize("lang", LANGS)
def test_every_lecture_section_ends_with_an_in_short_box(book_build, lang: str) -> None:
    """The slides' key points are written in the chapter: one box of 2-4 points per lecture section."""
    problems = [p for doc in _toc_chapters(book_build, lang) for p in _box_problems(doc, lang)]
    assert not problems, "\n".join(problems)


def test_in_short_boxes_are_the_same_in_both_editions(book_build) -> None:
    for en_doc, ko_doc in zip(_toc_chapters(book_build, "en"), _toc_chapters(book_build, "ko"), strict=True):
        en = [_keypoint_boxes(b) for h, b in _sections((ROOT / f"{en_doc}.md").read_text(encoding="utf-8"))
              if efftx_course.is_lecture_section(h)]
        ko = [_keypoint_boxes(b) for h, b in _sections((ROOT / f"{ko_doc}.md").read_text(encoding="utf-8"))
              if efftx_course.is_lecture_section(h)]
        assert len(en) == len(ko), f"{en_doc}: {len(en)} lecture sections in English, {len(ko)} in Korean"
        for a, b in zip(en, ko, strict=True):
            assert [(c, n) for _, c, n in a] == [(c, n) for _, c, n in b], f"{en_doc}: boxes differ: {a} vs {b}"


def test_readme_shows_one_projected_slide() -> None:
    """The README's course-kit section shows a slide as projected: a 1280x720 PNG committed under book/."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    kit = readme[readme.index("## Course kit"):]
    kit = kit[:kit.index("\n## ")]
    images = re.findall(r"!\[[^\]]+\]\((book/[^)]+\.png)\)", kit)
    assert images, "no screenshot of a slide in the README's course-kit section"
    png = (ROOT / images[0]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", images[0]
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1280, 720), images[0]


def test_lecture_sections_leave_out_exercises_summary_references_and_differences() -> None:
    assert efftx_course.is_lecture_section("Attention is a weighted sum")
    assert efftx_course.is_lecture_section("On a lab server")
    for title in ("Exercises", "Summary", "References", "연습 문제", "요약", "참고 문헌",
                  "Differences from the papers and the authors' code, and why", "Differences from the papers and why",
                  "논문 및 저자 코드와의 차이, 그리고 그 이유", "논문과 다른 점과 그 이유",
                  "논문, 저자 코드와 다른 점과 그 이유"):
        assert not efftx_course.is_lecture_section(title), title


def test_slide_text_estimates_split_long_lists() -> None:
    short, long = "a short point", "word " * 60
    assert efftx_course.text_lines(short, 28, 1112) == 1
    assert efftx_course.text_lines(long, 28, 1112) >= 3
    assert efftx_course.text_lines("한국어 " * 30, 28, 1112) > efftx_course.text_lines("abc " * 30, 28, 1112)
    chunks = efftx_course.chunk_items([long] * 5, 28, 1112, 11)
    assert len(chunks) > 1 and sum(len(c) for c in chunks) == 5


def test_strip_answers_removes_solutions_and_self_check_answers_only() -> None:
    text = "\n".join([
        "```{exercise}", ":label: ex-1", "Prove it.", "```",
        "````{solution} ex-1", ":class: dropdown", "SECRET one", "```python", "x = 1", "```", "````",
        "::::{admonition} Self-check", ":class: selfcheck", "1. Question?",
        ":::{dropdown} Answers", ":class-container: selfcheck-answers", "1. SECRET two", ":::", "::::",
        ":::{dropdown} Other", "kept dropdown", ":::", "after",
    ])
    out = efftx_course.strip_answers(text)
    assert "SECRET" not in out and "x = 1" not in out
    for kept in ("Prove it.", "1. Question?", "kept dropdown", "after", "::::{admonition} Self-check"):
        assert kept in out
    assert out.count("::::") == 2 and efftx_course.strip_answers(out) == out


def test_progress_bars_become_text_and_other_widgets_stay() -> None:
    def model(name: str, **state: object) -> dict:
        return {"model_name": name, "state": state}

    state = {
        "box": model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
        "l": model("HTMLModel", value="train: 50%"), "p": model("FloatProgressModel", value=20.0, max=40.0),
        "r": model("HTMLModel", value=" 20/40"),
        "explorer": model("VBoxModel", children=["IPY_MODEL_s"]), "s": model("IntSliderModel", value=1),
    }
    assert efftx_course.progress_bar_text(state, "box") == "train: 50%|█████     | 20/40"
    assert efftx_course.progress_bar_text(state, "explorer") is None
    assert efftx_course.progress_bar_text(state, "missing") is None


def test_course_plan_covers_the_semester_and_every_chapter(book_build) -> None:
    course = yaml.safe_load((ROOT / "book" / "course.yml").read_text(encoding="utf-8"))
    assert [w["week"] for w in course["weeks"]] == list(range(1, len(course["weeks"]) + 1))
    assert 15 <= len(course["weeks"]) <= 16
    for week in course["weeks"]:
        assert all(k in course["chapters"] for k in week["chapters"]), week
        assert "hours" not in week, "self-study is computed (efftx_course.week_hours), not typed"
        assert all(week[f][lang] for f in ("lab", "work") for lang in LANGS)
    taught = {k for w in course["weeks"] for k in w["chapters"]}
    for lang in LANGS:
        for doc in _toc_chapters(book_build, lang):
            number = Path(doc).name.split("_")[0]
            assert number in course["chapters"], f"{doc}: add chapter {number} to book/course.yml"
            assert number in taught, f"{doc}: chapter {number} is in no week of book/course.yml"
    works = " ".join(w["work"]["en"] for w in course["weeks"])
    assert "Project 1" in works and "Project 2" in works


def test_dependency_map_draws_one_arrow_per_prerequisite() -> None:
    course = yaml.safe_load((ROOT / "book" / "course.yml").read_text(encoding="utf-8"))
    svg = efftx_course.dependency_svg(course, "en", lambda key: (key == "01", "x.html"))
    edges = sum(len(c.get("requires", [])) for c in course["chapters"].values())
    assert edges >= len(course["chapters"]) - 1
    assert svg.count("<line ") == edges and svg.count("<rect ") == len(course["chapters"])
    assert svg.count('<a href="x.html">') == 1  # only existing chapters are links
    with pytest.raises(ValueError, match="cycle"):
        efftx_course.dependency_svg({"chapters": {"01": {"title": {"en": "a"}, "requires": ["02"]},
                                                  "02": {"title": {"en": "b"}, "requires": ["01"]}}}, "en",
                                    lambda key: (False, ""))


def test_student_build_has_its_own_folders_and_config(book_build, tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "efftx_course" in config["sphinx"]["config"]["extensions"]
    student = book_build.course_config(book_build.edition_config(config, "ko", "smoke", ROOT), "hide")
    public = book_build.course_config(book_build.edition_config(config, "ko", "smoke", ROOT))
    student, public = student["sphinx"]["config"], public["sphinx"]["config"]
    assert student["efftx_solutions"] == "hide" and public["efftx_solutions"] == "show"
    assert student["html_copy_source"] is False and public.get("html_copy_source", True) is True
    assert book_build.site_dir("cpu", ROOT, "hide") == ROOT / "_build" / "student" / "html"
    assert book_build.site_dir("cpu", ROOT) == ROOT / "_build" / "html"
    assert book_build.edition_dir("smoke", "en", ROOT, "hide") != book_build.edition_dir("smoke", "en", ROOT)
    with pytest.raises(SystemExit, match="solutions"):
        book_build.build("smoke", root=tmp_path, solutions="secret")


def test_changed_extensions_rewrite_the_pages_but_keep_the_cache(book_build, tmp_path: Path) -> None:
    (tmp_path / "book" / "_ext").mkdir(parents=True)
    (tmp_path / "book" / "_ext" / "x.py").write_text("A = 1\n")
    doctrees = book_build.edition_dir("smoke", "ko", tmp_path, "hide") / "_build" / ".doctrees"
    cache = book_build.cache_dir("smoke", tmp_path)
    for folder in (doctrees, cache):
        folder.mkdir(parents=True)
    assert book_build.invalidate_stale_pages("smoke", tmp_path) is False  # first build
    assert book_build.invalidate_stale_pages("smoke", tmp_path) is False and doctrees.exists()
    (tmp_path / "book" / "_ext" / "x.py").write_text("A = 2\n")
    assert book_build.invalidate_stale_pages("smoke", tmp_path) is True
    assert not doctrees.exists() and cache.exists()


# ------------------------------------------------------------------------------------------------------
# the kernel-free explorer
# ------------------------------------------------------------------------------------------------------
def test_static_explorer_embeds_every_view_and_reads_back_within_quantisation() -> None:
    torch.manual_seed(0)
    maps = [torch.softmax(torch.randn(1, 3, 5, 4), dim=-1) for _ in range(2)]
    ex = attention_explorer_static(maps, list("abcde"), list("wxyz"))
    controls = ex.payload["controls"]
    assert [c["name"] for c in controls] == ["layer", "head"]
    assert controls[0]["slider"] and not controls[1]["slider"]
    assert len(ex.payload["views"]) == 2 * (3 + 1)
    (lo, hi), = ex.payload["ranges"]
    step = (hi - lo) / 255
    for layer in range(2):
        for head in range(3):
            got = ex.view(layer, head)[0]
            assert np.abs(got - maps[layer][0, head].numpy()).max() <= step / 2 + 1e-9
        assert np.abs(ex.view(layer, "mean")[0] - maps[layer][0].mean(0).numpy()).max() <= step / 2 + 1e-9
    html = ex._repr_html_()
    assert html.count("<script") == 2 and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert ex.element_id in html and attention_explorer_static(maps, list("abcde"), list("wxyz")).element_id == \
        ex.element_id  # deterministic: a rebuild gives the same page


def test_static_explorer_rejects_bad_input() -> None:
    good = {("a", 0): [np.zeros((2, 2))], ("a", 1): [np.ones((2, 2))]}
    heatmap_explorer(good, ["x", "y"], ["p"])
    with pytest.raises(ValueError, match="every combination"):
        heatmap_explorer({("a", 0): [np.zeros((2, 2))], ("b", 1): [np.zeros((2, 2))]}, ["x", "y"], ["p"])
    with pytest.raises(ValueError, match="one per panel"):
        heatmap_explorer(good, ["x", "y"], ["p", "q"])
    with pytest.raises(ValueError, match="shape"):
        heatmap_explorer({("a",): [np.zeros((2, 2))], ("b",): [np.zeros((3, 2))]}, ["x"], ["p"])
    with pytest.raises(ValueError, match="NaN"):
        heatmap_explorer({("a",): [np.full((2, 2), np.nan)]}, ["x"], ["p"])
    own = heatmap_explorer({("a",): [np.zeros((2, 2)), np.full((2, 2), 50.0)]}, ["x"], ["map", "image"],
                           vmin=0.0, vmax=1.0, panel_ranges=[None, (0.0, 100.0)])
    assert own.payload["ranges"] == [[0.0, 1.0], [0.0, 100.0]]
    assert np.allclose(own.view("a")[1], 50.0, atol=100 / 255)  # not clipped to the shared 0..1
    with pytest.raises(ValueError, match="panel_ranges"):
        heatmap_explorer(good, ["x", "y"], ["p"], panel_ranges=[None, None])
    with pytest.raises(ValueError, match="x_labels"):
        heatmap_explorer(good, ["x", "y"], ["p"], x_labels=["only one"])
    with pytest.raises(ValueError, match=r"\(H, T_q, T_k\)"):
        attention_explorer_static([torch.zeros(4, 4)], list("abcd"))


def test_query_explorer_draws_the_query_and_its_softmax_weights() -> None:
    angles = torch.tensor([0.0, 1.3, 2.4, 3.6, 5.0])
    keys = torch.stack([angles.cos(), angles.sin()], dim=1)
    ex = query_explorer_static(keys, angles=(0, 90, 200), lengths=(1.0, 4.0))
    assert [c["name"] for c in ex.payload["controls"]] == ["|q|", "angle"]
    assert not ex.payload["controls"][0]["slider"] and ex.payload["controls"][1]["slider"]
    for length in (1.0, 4.0):
        for angle in (0, 90, 200):
            arrows, bars = ex.view(f"{length:g}", angle)
            q = length * torch.tensor([np.cos(np.radians(angle)), np.sin(np.radians(angle))], dtype=torch.float32)
            want = torch.softmax(keys @ q, dim=0).numpy()  # the chapter's soft lookup at tau = 1
            assert np.allclose(bars["values"], want, atol=5e-3)
            assert np.allclose(arrows["arrows"][-1], q.numpy(), atol=5e-3)
            assert np.allclose(arrows["arrows"][:5], keys.numpy(), atol=5e-3)
    sharp = max(ex.view("4", 0)[1]["values"])
    assert sharp > max(ex.view("1", 0)[1]["values"])  # a longer query sharpens the choice
    html = ex._repr_html_()
    assert html.count("<script") == 2 and "http" not in html.replace("http://www.w3.org/2000/svg", "")


def test_clock_explorer_matches_the_sinusoidal_table_and_rotary_scores() -> None:
    torch.manual_seed(0)
    d = 16
    q, k = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    ex = clock_explorer_static(q, k, m=3, positions=(0, 5, 9), pairs=(0, 3))
    assert [c["name"] for c in ex.payload["controls"]] == ["encoding", "pair", "n"]
    table = sinusoidal_encoding(16, d).double()
    rope = RotaryEmbedding(d)
    for n in (0, 5, 9):
        hands, bars = ex.view("sinusoidal", "i=3", n)
        assert np.isclose(sum(bars["values"]), float(table[3] @ table[n]), atol=0.02)  # sum_i cos((n-m) w_i)
        w3 = 10000.0 ** (-6 / d)
        assert np.allclose(hands["arrows"][1], [np.cos(n * w3), np.sin(n * w3)], atol=2e-3)  # (PE(n,7), PE(n,6))
        assert np.allclose(hands["arrows"][1][::-1], table[n, 6:8].numpy(), atol=2e-3)
        hands, bars = ex.view("rotary", "i=0", n)
        score = (rope(q[None], torch.tensor([3])) @ rope(k[None], torch.tensor([n])).T).item()
        assert np.isclose(sum(bars["values"]), score, atol=0.05), (n, sum(bars["values"]), score)
        assert bars["highlight"] == 0
        # the key's pair 0 at n, rotated by n*theta_0 = n radians
        kz = complex(k[0], k[1]) * np.exp(1j * n)
        assert np.allclose(hands["arrows"][1], [kz.real, kz.imag], atol=5e-3)
    with pytest.raises(ValueError, match="even"):
        clock_explorer_static(torch.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match="pairs"):
        clock_explorer_static(q, k, pairs=(8,))


def test_figure_explorer_rejects_bad_input() -> None:
    arrows = {"kind": "arrows", "labels": ["a"], "colours": ["#000000"]}
    good = {("x", 0): [{"arrows": [[1, 0]]}], ("x", 1): [{"arrows": [[0, 1]]}]}
    assert figure_explorer(good, ["menu", "slider"], [arrows]).view("x", 1)[0]["arrows"] == [[0.0, 1.0]]
    with pytest.raises(ValueError, match="every combination"):
        figure_explorer({("x", 0): good[("x", 0)], ("y", 1): good[("x", 1)]}, ["m", "s"], [arrows])
    with pytest.raises(ValueError, match="kind"):
        figure_explorer(good, ["m", "s"], [{"kind": "pie"}])
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        figure_explorer({("x",): [{"arrows": [[1, 0], [0, 1]]}]}, ["m"], [arrows])
    with pytest.raises(ValueError, match="NaN"):
        figure_explorer({("x",): [{"values": [float("nan")]}]}, ["m"], [{"kind": "bars", "labels": ["a"]}])


# ------------------------------------------------------------------------------------------------------
# the builds
# ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def student_site(book_build, smoke_build) -> Path:
    """The smoke build with solutions hidden (after the instructor build, so the execution cache is warm)."""
    cmd = [sys.executable, str(ROOT / "book" / "build.py"), "--preset", "smoke", "--quiet", "--solutions", "hide",
           "--handouts", "off"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        pytest.fail(f"the student build failed: {' '.join(cmd)}\n{(proc.stdout + proc.stderr)[-15000:]}",
                    pytrace=False)
    return book_build.site_dir("smoke", ROOT, "hide")


def _site_text(site: Path, lang: str) -> str:
    files = [*(site / lang).rglob("*.html"), *(site / lang).rglob("*.ipynb"), *(site / lang).rglob("*.js"),
             *(site / lang / "_sources").rglob("*")]
    return "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files
                     if f.is_file() and "_static" not in f.parts)


@pytest.mark.book
@pytest.mark.parametrize("lang", LANGS)
def test_student_build_has_no_solutions_and_instructor_build_has_them(book_build, smoke_site: Path,
                                                                      student_site: Path, lang: str) -> None:
    assert student_site != smoke_site and (student_site / lang / "index.html").is_file()
    student, instructor = _site_text(student_site, lang), _site_text(smoke_site, lang)
    every = []
    for doc in _toc_chapters(book_build, lang):
        source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
        snippets = _solution_snippets(source)
        assert snippets, f"{doc}: found no solution text to look for"
        every += snippets
        page = (student_site / lang / f"{doc}.html").read_text(encoding="utf-8")
        assert "exercise" in page, f"{doc}: the student page lost its exercises"
        if ":class: selfcheck" in source:
            assert "selfcheck" in page, f"{doc}: the student page lost its self-check questions"
        assert "selfcheck-answers" not in page and not re.search(r'class="[^"]*\bsolution\b', page), doc
        notebook = student_site / lang / "_sources" / f"{doc}.ipynb"
        assert notebook.is_file(), f"the student build lost the .ipynb download of {doc}"
    leaked = [s for s in every if s in student]
    assert not leaked, f"the student build ({lang}) still shows solution text: {leaked[:5]}"
    found = sum(s in instructor for s in every)
    assert found >= 0.8 * len(every), f"the instructor build shows only {found} of {len(every)} solution lines"


@pytest.mark.book
@pytest.mark.parametrize("lang", LANGS)
def test_every_chapter_has_a_slide_deck_linked_from_its_page(book_build, smoke_site: Path, lang: str) -> None:
    for doc in _toc_chapters(book_build, lang):
        page = smoke_site / lang / f"{doc}.html"
        html = page.read_text(encoding="utf-8")
        links = re.findall(r'<a class="[^"]*\befftx-slides\b[^"]*" href="([^"]+)"', html)
        decks = [link for link in links if link.endswith(".html")]  # the deck; beside it its printed PDF
        assert len(decks) == 1, f"{page}: expected one slides link, got {links}"
        assert all(link.endswith("-slides.pdf") for link in links if link not in decks), links
        links = decks
        deck = (page.parent / links[0]).resolve()
        assert deck == (smoke_site / lang / "slides" / f"{Path(doc).name}.html").resolve() and deck.is_file()
        text = deck.read_text(encoding="utf-8")
        assert f'<html lang="{lang}"' in text and "Reveal.initialize" in text
        assert "_static/vendor/reveal/dist/reveal.js" in text and "_static/vendor/mathjax/tex-mml-chtml.js" in text
        # nothing loads from the network (a link the reader may follow, as the licence line's, loads nothing)
        loads = re.search(r'(?:\bsrc|<link\b[^>]*\bhref)="https?://', text)
        assert not loads, f"{deck}: loads something from the network"
        # a title slide, one key-points slide per lecture section with the box's points and the section's opening
        # paragraph as speaker notes, each figure of the lecture sections at slide size
        source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
        lectures = [(h, b) for h, b in _sections(source) if efftx_course.is_lecture_section(h)]
        assert text.count('<section class="efftx-title"') == 1, f"{deck}: no title slide"
        points = re.findall(r'<section class="efftx-points"[^>]*><div class="efftx-frame"><h2>.*?</h2><ul>(.*?)</ul>'
                            r'.*?</div>(<aside class="notes">.*?</aside>)?</section>', text, re.S)
        assert len(points) == len(lectures), f"{deck}: {len(points)} key-point slides for {len(lectures)} sections"
        for (heading, body), (items, notes) in zip(lectures, points, strict=True):
            want = sum(n for _, _, n in _keypoint_boxes(body))
            assert items.count("<li>") == want, f"{deck} '{heading}': {items.count('<li>')} points, box has {want}"
            assert notes, f"{deck} '{heading}': no speaker notes"
        page_figures = set(re.findall(r'<img[^>]+src="[./]*(_images/[^"]+)"', html))
        deck_figures = set(re.findall(r'<img class="figure" src="\.\./(_images/[^"]+)"', text))
        # every figure of the lecture sections (exercises, summary and references have none in this book)
        assert deck_figures <= page_figures, f"{deck}: figures that are not the chapter's"
        assert len(deck_figures) >= 0.8 * len(page_figures), f"{deck}: {len(deck_figures)} of {len(page_figures)}"
        for rel in deck_figures:
            assert (smoke_site / lang / rel).is_file(), f"{deck}: missing figure {rel}"
        if "\\[" in text or "\\begin" in text:
            assert "class=\"math\"" in text


@pytest.mark.book
@pytest.mark.parametrize("lang", LANGS)
def test_syllabus_page_in_both_editions(smoke_site: Path, lang: str) -> None:
    page = smoke_site / lang / "book" / lang / "syllabus.html"
    html = page.read_text(encoding="utf-8")
    table = re.search(r'<table class="[^"]*efftx-course-plan.*?</table>', html, re.S)
    weeks = yaml.safe_load((ROOT / "book" / "course.yml").read_text(encoding="utf-8"))["weeks"]
    assert table and len(re.findall(r"<tr", table.group(0))) == 1 + len(weeks)  # header + one row a week
    links = re.findall(r'href="([^"]+)"[^>]*>\s*\d+\. ', table.group(0)) or \
        re.findall(r'<a class="reference internal efftx-course-chapter" href="([^"]+)"', table.group(0))
    assert links, "the plan links no chapter"
    for link in links:
        assert (page.parent / link.split("#")[0]).resolve().is_file(), f"{page}: broken chapter link {link}"
    assert '<figure class="efftx-course-map"><svg' in html and "<line " in html
    caption = {"en": "Course", "ko": "강의 자료"}[lang]
    assert f"caption-text\">{caption}</span>" in html, "the table of contents has no Course part"


def _pdf_text(data: bytes) -> bytes:
    blobs = [data]
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            blobs.append(zlib.decompress(m.group(1)))
        except zlib.error:
            pass
    return b"\n".join(blobs)


@pytest.mark.book
@pytest.mark.parametrize("lang", LANGS)
def test_pdf_handouts_exist_and_embed_a_korean_font(book_build, smoke_site: Path, lang: str) -> None:
    if book_build.chromium_path() is None:
        pytest.skip("no Chromium: the smoke build printed no handouts")
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    docs = book_build.handout_docs(toc, lang)
    assert any(d.endswith("/syllabus") for d in docs)
    for doc in docs:
        pdf = smoke_site / lang / "handouts" / f"{Path(doc).name}.pdf"
        assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-", f"missing handout {pdf}"
        html = (smoke_site / lang / f"{doc}.html").read_text(encoding="utf-8")
        link = re.findall(r'<a class="[^"]*\befftx-pdf\b[^"]*" href="([^"]+)"', html)
        assert link and (smoke_site / lang / Path(doc).parent / link[0]).resolve() == pdf.resolve()
        if not doc.startswith("chapters/"):
            continue
        # the printed deck, beside the handout: one page per slide, linked from the chapter page
        deck_pdf = smoke_site / lang / "handouts" / f"{Path(doc).name}{book_build.SLIDES_PDF_SUFFIX}"
        assert deck_pdf.is_file() and deck_pdf.read_bytes()[:5] == b"%PDF-", f"missing printed deck {deck_pdf}"
        slides = (smoke_site / lang / "slides" / f"{Path(doc).name}.html").read_text(encoding="utf-8")
        pages = len(re.findall(rb"/Type\s*/Page\b", deck_pdf.read_bytes()))
        assert pages == slides.count("<section "), f"{deck_pdf}: {pages} pages for {slides.count('<section ')} slides"
        link = re.findall(r'<a class="[^"]*\befftx-slides-pdf\b[^"]*" href="([^"]+)"', html)
        assert link and (smoke_site / lang / Path(doc).parent / link[0]).resolve() == deck_pdf.resolve()
    if lang == "ko":
        data = _pdf_text((smoke_site / "ko" / "handouts" / f"{Path(docs[0]).name}.pdf").read_bytes())
        assert b"CJK" in data, "the Korean handout embeds no CJK font (apt-get install fonts-noto-cjk)"
