"""The syllabus (issue 25 §4): two timetables whose hours the prose quotes from the plan, a buffer week, self-study
computed from each chapter's measured prose and exercises, readings that resolve to references.bib entries with
authors, year and a link, every chapter's exercises scheduled, and a CPU fallback for the week that needs a GPU.

The numbers of book/{en,ko}/syllabus.md come from the ``{course}`` role, its tables from ``{course-hours}`` and
``{course-plan}`` (book/_ext/efftx_course.py). ``test_prose_and_tables_agree`` builds the two pages alone with Sphinx
(a few seconds) and compares the rendered prose with the rendered tables.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import efftx_course  # noqa: E402

COURSE = yaml.safe_load((ROOT / "book" / "course.yml").read_text(encoding="utf-8"))
LABS = yaml.safe_load((ROOT / "labs" / "labs.yml").read_text(encoding="utf-8"))["labs"]
TEXTS = {p.name[:2]: p.read_text(encoding="utf-8") for p in sorted((ROOT / "chapters" / "en").glob("[0-9][0-9]_*.md"))}

# A chapter in the book's format, counted by hand: the heading (3 words: "#" has no letter), the paragraph without
# its inline math and its citation (4: Two, words, and, here.), the key-point item (2: one, point; the fences, the
# option line and the display math are not prose); the code cell, the Exercises and the References do not count.
# Exercises: 2 ({exercise} directives, whatever their fence).
HAND_COUNTED = """---
jupytext:
  text_representation: {extension: .md}
---

# A title here

Two words $x^2 + y$ and {footcite}`vaswani2017attention` here.

```{code-cell} ipython3
print("code is not read as prose")
```

$$
a = b \\frac{c}{d}
$$

:::{admonition} In short
:class: keypoints
- one point 3
:::

## Exercises

```{exercise}
:label: ex-1
Do something now.
```

````{solution} ex-1
:class: dropdown
Answer words.
````

::::{exercise}
Second one.
::::

## References

```{footbibliography}
```
"""


def test_words_and_exercises_of_a_chapter_counted_by_hand() -> None:
    assert efftx_course.prose_words(HAND_COUNTED) == 9
    assert efftx_course.exercise_count(HAND_COUNTED) == 2
    # the real chapters, counted by hand: chapter 5 has exercises ex-05-training-1..5, chapter 10 six
    assert efftx_course.exercise_count(TEXTS["05"]) == 5
    assert all(f"ex-05-training-{i}" in TEXTS["05"] for i in range(1, 6))
    assert efftx_course.exercise_count(TEXTS["10"]) == 6
    for nn, text in TEXTS.items():  # prose is most of a chapter, never all of it (code, math, exercises removed)
        assert 0.3 * len(text.split()) < efftx_course.prose_words(text) < len(text.split()), nn


def test_self_study_formula_by_hand() -> None:
    course = {"study": {"words_per_minute": 3, "minutes_per_exercise": 30, "graded_lab_hours": 4},
              "formats": {"long": {"lecture": {"count": 2, "minutes": 75}, "lab": {"count": 1, "minutes": 120}},
                          "short": {"lecture": {"count": 1, "minutes": 120}, "lab": {"count": 1, "minutes": 60}}},
              "weeks": [{"week": 1, "chapters": ["01"], "project": [1, 1]}, {"week": 2, "chapters": [], "buffer": True},
                        {"week": 3, "chapters": []}]}
    labs = [{"week": 1, "due": 3}]  # 4 h over weeks 1 and 2
    w1, w2, w3 = efftx_course.week_hours(course, labs, {"01": HAND_COUNTED})
    # week 1: 9 words / 3 = 3 min, 2 exercises = 60 min, lab 120 min, project 60 min: 243 min = 4.05 h -> 4
    assert (w1["words"], w1["exercises"], w1["self"]["long"], w1["contact"]["long"]) == (9, 2, 4.0, 4.5)
    # the short format's lab is 60 min shorter: finished at home, 303 min -> 5
    assert (w1["self"]["short"], w1["contact"]["short"]) == (5.0, 3.0)
    assert (w2["contact"]["long"], w2["self"]["long"], w2["self"]["short"]) == (0.0, 2.0, 2.0)  # buffer: no class
    assert (w3["self"]["long"], w3["self"]["short"], w3["contact"]["short"]) == (0.0, 0.0, 3.0)
    assert efftx_course.half_hours(45) == 1.0 and efftx_course.half_hours(44) == 0.5
    # chapter 5's week, from the real book
    (week5,) = [r for r in efftx_course.week_hours(COURSE, LABS, TEXTS) if r["week"] == 5]
    study = COURSE["study"]
    labs5 = sum(60 * study["graded_lab_hours"] / (lab["due"] - lab["week"]) for lab in LABS
                if lab["week"] <= 5 < lab["due"])
    minutes = (efftx_course.prose_words(TEXTS["05"]) / study["words_per_minute"]
               + 5 * study["minutes_per_exercise"] + labs5 + 60 * COURSE["weeks"][4]["project"][1])
    assert week5["self"]["separate"] == efftx_course.half_hours(minutes)


def test_two_formats_and_a_buffer_week() -> None:
    weeks = COURSE["weeks"]
    assert [w["week"] for w in weeks] == list(range(1, len(weeks) + 1)) and 15 <= len(weeks) <= 16
    minutes = {name: sum(efftx_course.contact_minutes(f)) for name, f in COURSE["formats"].items()}
    assert minutes == {"separate": 2 * 75 + 120, "compact": 180}  # the compact one fits three contact hours
    buffers = [w for w in weeks if w.get("buffer")]
    assert len(buffers) == 1
    (buffer,) = buffers
    assert not buffer["chapters"] and not buffer.get("project") and 4 < buffer["week"] < len(weeks) - 3
    assert all(lab["due"] != buffer["week"] and lab["week"] != buffer["week"] for lab in LABS)
    rows = efftx_course.week_hours(COURSE, LABS, TEXTS)
    assert all(r["contact"]["separate"] == 0 for r in rows if r["buffer"])
    assert all(r["self"]["compact"] >= r["self"]["separate"] for r in rows)


def test_every_reading_resolves_to_a_bib_entry_with_authors_year_and_link() -> None:
    entries = efftx_course.bib_entries(ROOT / "book" / "references.bib")
    for week in COURSE["weeks"]:
        if week.get("buffer"):
            assert week["reading"] == [], "a buffer week assigns nothing new"
            continue
        assert week["reading"], f"week {week['week']} has no reading"
        for item in week["reading"]:
            key = item.split()[0]
            assert key in entries, f"week {week['week']}: {key} is not in book/references.bib"
            label, url, title, sections = efftx_course.reading_parts(item, entries, "en")
            assert re.fullmatch(r"\S.* (1[89]|20)\d\d", label), label
            assert url.startswith(("https://", "http://")) and title, (key, url)
            assert not sections or sections.startswith("§"), item
    assert efftx_course.reading_parts("su2021roformer §3", entries, "ko")[0] == "Su 등 2021"
    assert efftx_course.reading_parts("tay2022efficient", entries, "en")[1] == "https://doi.org/10.1145/3530811"
    with pytest.raises(KeyError):
        efftx_course.reading_parts("nobody2099", entries, "en")


def test_every_chapters_exercises_are_scheduled() -> None:
    for week in COURSE["weeks"]:
        keys = [int(k) for k in week["chapters"]]
        if not keys:
            continue
        span = f"{keys[0]}" if len(keys) == 1 else f"{keys[0]}–{keys[-1]}"
        assert re.match(rf"Chapters? {span} exercises", week["work"]["en"]), week["work"]["en"]
        assert week["work"]["ko"].startswith(f"{span}장 연습 문제"), week["work"]["ko"]
    scheduled = {k for w in COURSE["weeks"] for k in w["chapters"]}
    assert {"05", "10"} <= scheduled and set(TEXTS) <= scheduled


def test_the_gpu_week_has_a_cpu_fallback_in_both_languages() -> None:
    gpu_weeks = [w for w in COURSE["weeks"] if "gpu preset" in w["lab"]["en"] or "torchrun" in w["lab"]["en"]]
    assert gpu_weeks and all(w.get("gpu") for w in gpu_weeks)
    for week in gpu_weeks:
        files = {}
        for lang in ("en", "ko"):
            text = week["gpu"][lang]
            assert "EFFTX_PRESET=cpu" in text and "--preset cpu" in text, lang
            files[lang] = re.findall(r"`([^`\s]+\.(?:csv|json))`", text)
        assert files["en"] == files["ko"] and files["en"]
        folder = ROOT
        for name in files["en"]:  # a bare name lives in the folder of the path before it
            path = ROOT / name if "/" in name else folder / name
            assert path.is_file(), path
            folder = path.parent


# Numbers of time in the pages' prose must come from the {course} role (the plan), never be typed.
TYPED = {"en": re.compile(r"\b\d+(?:\.\d+)?(?:–\d+)?\s*(?:[a-z-]+\s+)?(?:hours?|h|minutes?|weeks?)\b|\bweeks? \d+"),
         "ko": re.compile(r"\d+(?:\.\d+)?(?:~\d+)?\s*(?:시간|분|주)")}
ALLOWED = {"en": ["at most 3 minutes on 2 CPU cores"],  # rules of the code: the cpu preset's limit, the rounding
           "ko": ["3분을 넘지 않습니다", "30분 단위로 반올림"]}


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_no_typed_hours_or_weeks_in_the_syllabus(lang: str) -> None:
    text = (ROOT / "book" / lang / "syllabus.md").read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"\{course\}`[^`]+`", "N", text)
    for phrase in ALLOWED[lang]:
        text = text.replace(phrase, "")
    assert not TYPED[lang].findall(text), f"typed numbers in book/{lang}/syllabus.md: {TYPED[lang].findall(text)}"


def _build(lang: str, out: Path) -> str:
    src = out / "src"
    src.mkdir(parents=True)
    (src / "index.md").write_text((ROOT / "book" / lang / "syllabus.md").read_text(encoding="utf-8"), encoding="utf-8")
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_parser', 'efftx_course']\nmyst_enable_extensions = ['colon_fence', 'dollarmath']\n"
        f"language = {lang!r}\nefftx_course = {str(ROOT / 'book' / 'course.yml')!r}\n"
        f"efftx_course_bib = {str(ROOT / 'book' / 'references.bib')!r}\n"
        f"efftx_labs = {str(ROOT / 'labs' / 'labs.yml')!r}\n"
        f"efftx_course_chapters = {str(ROOT / 'chapters' / 'en')!r}\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(out / "html")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    problems = [line for line in run.stderr.splitlines() if "unknown document" not in line and line.strip()]
    assert not problems, problems  # only the links to the other course pages, absent from this one-page build
    return (out / "html" / "index.html").read_text(encoding="utf-8")


def _rows(page: str, cls: str) -> list[list[str]]:
    table = re.search(rf'<table class="[^"]*{cls}.*?</table>', page, re.S)
    assert table, cls
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S)
    cell = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cell.findall(r)] for r in rows]


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_prose_and_tables_agree(lang: str, tmp_path: Path) -> None:
    page = _build(lang, tmp_path)
    plan, hours = _rows(page, "efftx-course-plan"), _rows(page, "efftx-course-hours")
    weeks = COURSE["weeks"]
    assert len(plan) == len(hours) - 1 == 1 + len(weeks)  # header + weeks (+ the total row of the hours)
    prose = re.sub(r"<table.*?</table>", "", page, flags=re.S)
    prose = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", prose)).split())
    body, total = hours[1:-1], hours[-1]
    teaching = [r for r, w in zip(body, weeks, strict=True) if not w.get("buffer")]
    num = [float(x) for x in total[3:]]
    for i, name in enumerate(COURSE["formats"]):
        contact, self_total = num[2 * i], num[2 * i + 1]
        assert contact == sum(float(r[3 + 2 * i]) for r in body)
        assert self_total == sum(float(r[4 + 2 * i]) for r in body)
        per_week = float(teaching[0][3 + 2 * i])
        lo = min(float(r[4 + 2 * i]) for r in teaching)
        hi = max(float(r[4 + 2 * i]) for r in teaching)
        g = efftx_course.number
        if lang == "en":
            want = [f"{g(per_week)} contact hours a week and {g(contact)} in the semester",
                    f"{g(lo)} to {g(hi)} hours", f"({g(self_total)} in all)",
                    f"{len(weeks) - 1} weeks of teaching and one buffer week, {len(weeks)} weeks in all"]
        else:
            want = [f"주당 {g(per_week)}시간, 한 학기에 {g(contact)}시간", f"{g(lo)}~{g(hi)}시간",
                    f"모두 {g(self_total)}시간",
                    f"수업하는 주 {len(weeks) - 1}주와 예비 주간 한 주, 모두 {len(weeks)}주"]
        for phrase in want:
            assert phrase in prose, (lang, name, phrase)
    buffer = next(w["week"] for w in weeks if w.get("buffer"))
    assert hours[buffer][0].startswith(str(buffer)) and plan[buffer][0].startswith(str(buffer))
    gpu = next(w["week"] for w in weeks if w.get("gpu"))
    assert ("Week {} without a GPU server" if lang == "en" else "{}주차에 GPU 서버가 없을 때").format(gpu) in prose
    assert "EFFTX_PRESET=cpu" in prose
    links = re.findall(r'<a class="efftx-course-reading[^"]*" href="(https?://[^"]+)"', page)
    assert len(links) == sum(len(w["reading"]) for w in weeks)


def test_the_assessment_page_gives_the_plans_project_weeks() -> None:
    """The assessment pages type their milestone weeks; the projects' spans there must be the plan's."""
    rows = efftx_course.week_hours(COURSE, LABS, TEXTS)
    for lang, pattern in (("en", r"\*\*Project (\d) \(weeks ([\d–]+)\)"), ("ko", r"\*\*프로젝트 (\d)\(([\d~]+)주\)")):
        values = efftx_course.course_values(COURSE, rows, lang)
        text = (ROOT / "book" / lang / "assessment.md").read_text(encoding="utf-8")
        spans = dict(re.findall(pattern, text))
        assert spans == {p: values[f"project-{p}"] for p in ("1", "2")}, (lang, spans)
