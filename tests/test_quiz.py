"""The quiz bank (book/quiz.py): every chapter's self-check (questions with their answers) in both languages plus
the multiple-choice questions of book/quiz.yml, exported as Moodle XML and CSV that read back to the same bank."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("efftx_quiz", ROOT / "book" / "quiz.py")
quiz = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = quiz  # dataclasses look their module up
spec.loader.exec_module(quiz)

LANGS = ("en", "ko")
EXTRA = yaml.safe_load((ROOT / "book" / "quiz.yml").read_text(encoding="utf-8"))["questions"]


@pytest.fixture(scope="module")
def banks() -> dict[str, list]:
    return {lang: quiz.bank(lang) for lang in LANGS}


def test_every_chapter_contributes_its_self_check_in_both_languages(banks) -> None:
    chapters = [p.name[:2] for p in quiz.chapter_files("en")]
    assert len(chapters) >= 15
    en, ko = banks["en"], banks["ko"]
    assert [(q.id, q.kind) for q in en] == [(q.id, q.kind) for q in ko]
    for nn in chapters:
        essays = [q for q in en if q.chapter == nn and q.kind == "essay"]
        assert len(essays) >= 3, f"chapter {nn}: {len(essays)} self-check questions"
    for q in en + ko:
        assert q.question.strip() and q.answer.strip() and q.chapter_title.strip(), q.id
        assert ":::" not in q.question + q.answer and "{dropdown}" not in q.answer, q.id
    for a, b in zip(en, ko, strict=True):
        assert re.search(r"[가-힣]", b.question) and not re.search(r"[가-힣]", a.question), a.id


def test_multiple_choice_entries_are_well_formed() -> None:
    toc_chapters = {p.name[:2] for p in quiz.chapter_files("en")}
    assert {e["chapter"] for e in EXTRA} == toc_chapters, "one or more multiple-choice questions per chapter"
    for e in EXTRA:
        assert len(e["options"]) >= 3 and 0 <= e["correct"] < len(e["options"]), e["question"]["en"]
        for lang in LANGS:
            texts = [o[lang] for o in e["options"]]
            assert len(set(texts)) == len(texts) and all(t.strip() for t in texts)
            assert e["question"][lang].strip() and e["why"][lang].strip()
            assert not any("all of the above" in t.lower() or "모두 맞" in t for t in texts)
        assert "세요" not in e["question"]["ko"] + "".join(o["ko"] for o in e["options"])


def test_option_order_is_the_same_in_both_languages_and_keeps_the_right_answer(banks) -> None:
    by_id = {q.id: q for q in banks["ko"]}
    extra = iter(EXTRA)
    for q in banks["en"]:
        if q.kind != "multichoice":
            continue
        e = next(extra)
        assert q.options[q.correct] == e["options"][e["correct"]]["en"]
        ko = by_id[q.id]
        assert ko.correct == q.correct and ko.options[ko.correct] == e["options"][e["correct"]]["ko"]
    places = {q.correct for q in banks["en"] if q.kind == "multichoice"}
    assert len(places) > 1, "the right option is always at one place"


@pytest.mark.parametrize("lang", LANGS)
def test_moodle_export_reads_back(banks, lang: str) -> None:
    questions = banks[lang]
    root = ET.fromstring(quiz.to_moodle(questions))
    items = [q for q in root.iter("question") if q.get("type") != "category"]
    cats = [q.find("category/text").text for q in root.iter("question") if q.get("type") == "category"]
    assert len(items) == len(questions) and len(cats) == len({q.chapter for q in questions})
    for el, q in zip(items, questions, strict=True):
        assert el.get("type") == q.kind and el.find("name/text").text == q.id
        text = el.find("questiontext/text").text
        assert "$" not in text.replace("$course$", "") and text == quiz._lms_html(q.question)
        if q.kind == "essay":
            assert el.find("graderinfo/text").text == quiz._lms_html(q.answer)
        else:
            answers = el.findall("answer")
            right = [a.find("text").text for a in answers if a.get("fraction") == "100"]
            assert len(answers) == len(q.options) and right == [quiz._lms_html(q.options[q.correct])]


@pytest.mark.parametrize("lang", LANGS)
def test_csv_export_reads_back(banks, lang: str) -> None:
    rows = list(csv.DictReader(io.StringIO(quiz.to_csv(banks[lang]))))
    assert len(rows) == len(banks[lang])
    for row, q in zip(rows, banks[lang], strict=True):
        assert (row["id"], row["question"], row["answer"]) == (q.id, q.question, q.answer)
        if q.kind == "multichoice":
            assert row["options"].split(" | ")[ord(row["correct"]) - ord("a")] == q.options[q.correct]


def test_html_and_maths_for_the_lms() -> None:
    got = quiz._lms_html(r"*not* $a*b < c$ and $$x = 1$$, `f(x)` <b> **bold**, price \$5")
    assert got == (r"<p><em>not</em> \(a*b &lt; c\) and \[x = 1\], <code>f(x)</code> &lt;b&gt; "
                   r"<strong>bold</strong>, price \$5</p>")


def test_self_check_parser_refuses_a_missing_answer() -> None:
    ok = ":class: selfcheck\n1. A?\n2. B?\n   more\n:::{dropdown} Answers\n:class-container: selfcheck-answers\n" \
         "1. a\n2. b\n   more b\n:::\n::::\n"
    assert quiz.self_check(ok) == (["A?", "B? more"], ["a", "b more b"])
    with pytest.raises(ValueError, match="2 questions and 1 answers"):
        quiz.self_check(ok.replace("2. b\n   more b\n", ""))
    with pytest.raises(ValueError, match="out of order"):
        quiz.self_check(ok.replace("2. B?", "3. B?"))


def test_the_bank_is_not_part_of_the_site() -> None:
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "quiz" not in toc, "the bank holds the answer key: it is exported for the LMS, not published"


def test_korean_questions_use_the_glossary_terms(banks) -> None:
    from test_glossary import load_terms, violations

    extra = "\n".join(e["why"]["ko"] for e in EXTRA)
    text = "\n".join(f"{q.question}\n{' '.join(q.options)}" for q in banks["ko"] if q.kind == "multichoice")
    assert not violations(text + "\n" + extra, load_terms())
