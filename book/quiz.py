"""The quiz bank (issue 25 §3): every chapter's self-check questions with their answers (read from the chapters,
so the bank follows the book) plus the multiple-choice questions of book/quiz.yml, exported for a
learning-management system. The exports hold the answer key: they are the instructor's; the student site never
shows self-check answers (book/_ext/efftx_course.py) and does not contain this bank.

    python book/quiz.py --lang ko --format moodle -o quiz-ko.xml   # Moodle XML (essay + multichoice questions)
    python book/quiz.py --lang en --format csv -o quiz-en.csv       # CSV: one row per question, answer included

Maths stays LaTeX: the Moodle export is HTML in which ``$…$`` becomes ``\\(…\\)`` (Moodle's MathJax filter); the CSV
keeps the chapters' Markdown as it is.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import random
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LANGS = ("en", "ko")
FORMATS = ("moodle", "csv")
CSV_COLUMNS = ["id", "chapter", "chapter_title", "type", "question", "answer", "options", "correct"]


@dataclass(frozen=True)
class Question:
    """One question of the bank: ``essay`` (a self-check question, answered in words) or ``multichoice``."""

    id: str
    chapter: str
    chapter_title: str
    kind: str
    question: str
    answer: str  # the self-check answer, or the explanation of a multiple-choice question
    options: list[str] = field(default_factory=list)
    correct: int = -1


def _numbered(block: str) -> list[str]:
    """The items of a Markdown numbered list (``1. …`` with indented continuation lines), joined per item."""
    items: list[list[str]] = []
    for line in block.splitlines():
        m = re.match(r"^(\d+)\. (.*)$", line)
        if m:
            if int(m.group(1)) != len(items) + 1:
                raise ValueError(f"numbered list out of order at {line!r}")
            items.append([m.group(2)])
        elif line.strip() and items:
            items[-1].append(line.strip())
        elif line.strip():
            raise ValueError(f"text before the first numbered item: {line!r}")
    return [" ".join(parts) for parts in items]


def chapter_title(text: str) -> str:
    m = re.search(r"^# (.+)$", text, re.M)
    if not m:
        raise ValueError("the chapter has no '# title' line")
    return m.group(1).strip()


def self_check(text: str) -> tuple[list[str], list[str]]:
    """(questions, answers) of a chapter's self-check block (``:class: selfcheck`` … answers dropdown)."""
    start = text.find(":class: selfcheck\n")
    if start < 0:
        raise ValueError("the chapter has no self-check (an admonition with ':class: selfcheck')")
    body = text[start + len(":class: selfcheck\n"):]
    questions_part, _, rest = body.partition(":::{dropdown}")
    answers_part = rest.split(":class-container: selfcheck-answers\n", 1)[1].split("\n:::", 1)[0]
    questions, answers = _numbered(questions_part), _numbered(answers_part)
    if not questions or len(questions) != len(answers):
        raise ValueError(f"self-check has {len(questions)} questions and {len(answers)} answers")
    return questions, answers


def chapter_files(lang: str, root: Path = ROOT) -> list[Path]:
    """The chapters of the edition, in the order of _toc.yml."""
    toc = (root / "_toc.yml").read_text(encoding="utf-8")
    files = re.findall(r"file: (chapters/en/\S+)", toc)
    return [root / (f.replace("/en/", f"/{lang}/") + ".md") for f in files]


def bank(lang: str, root: Path = ROOT) -> list[Question]:
    """Every question of the bank in one language: per chapter, its self-check, then its multiple-choice ones."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    extra = yaml.safe_load((root / "book" / "quiz.yml").read_text(encoding="utf-8"))["questions"]
    out: list[Question] = []
    for path in chapter_files(lang, root):
        text = path.read_text(encoding="utf-8")
        nn, title = path.name[:2], chapter_title(text)
        for k, (q, a) in enumerate(zip(*self_check(text), strict=True), start=1):
            out.append(Question(f"{nn}-sc{k}", nn, title, "essay", q, a))
        for k, item in enumerate((e for e in extra if e["chapter"] == nn), start=1):
            qid = f"{nn}-mc{k}"
            # the options in an order drawn from the id (the same in both languages), so the right one is not
            # always first in the exports
            order = list(range(len(item["options"])))
            random.Random(f"efftx-quiz:{qid}").shuffle(order)
            options = [item["options"][i][lang] for i in order]
            out.append(Question(qid, nn, title, "multichoice", item["question"][lang], item["why"][lang], options,
                                order.index(int(item["correct"]))))
    return out


_MATHS = re.compile(r"\$\$(.+?)\$\$|(?<!\\)\$(.+?)(?<!\\)\$", re.S)


def _inline_html(text: str) -> str:
    """Markdown emphasis and code of the self-checks as HTML, the rest escaped."""
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)


def _lms_html(text: str) -> str:
    """One paragraph of HTML for the LMS: maths $…$ -> \\(…\\), $$…$$ -> \\[…\\] (Moodle's MathJax filter),
    kept out of the Markdown conversion; the LaTeX itself is only HTML-escaped."""
    out, pos = [], 0
    for m in _MATHS.finditer(text):
        out.append(_inline_html(text[pos:m.start()]))
        display = m.group(1) is not None
        tex = html.escape(m.group(1) if display else m.group(2), quote=False)
        out.append(f"\\[{tex}\\]" if display else f"\\({tex}\\)")
        pos = m.end()
    out.append(_inline_html(text[pos:]))
    return "<p>" + "".join(out) + "</p>"


def _text(parent: ET.Element, tag: str, value: str, fmt: str | None = "html") -> ET.Element:
    el = ET.SubElement(parent, tag, {"format": fmt} if fmt else {})
    ET.SubElement(el, "text").text = value
    return el


def to_moodle(questions: list[Question], course: str = "efftx") -> str:
    """Moodle XML: a category per chapter, self-checks as essay questions (the answer in the grader information),
    multiple-choice questions with one correct option (100%) and the explanation as general feedback."""
    quiz = ET.Element("quiz")
    current = None
    for q in questions:
        if q.chapter != current:
            current = q.chapter
            cat = ET.SubElement(quiz, "question", {"type": "category"})
            _text(cat, "category", f"$course$/{course}/{q.chapter} {q.chapter_title}", None)
        el = ET.SubElement(quiz, "question", {"type": q.kind})
        _text(el, "name", q.id, None)
        _text(el, "questiontext", _lms_html(q.question))
        ET.SubElement(el, "defaultgrade").text = "1"
        if q.kind == "essay":
            _text(el, "generalfeedback", "")
            _text(el, "graderinfo", _lms_html(q.answer))
            ET.SubElement(el, "responseformat").text = "editor"
            ET.SubElement(el, "responsefieldlines").text = "8"
        else:
            _text(el, "generalfeedback", _lms_html(q.answer))
            ET.SubElement(el, "single").text = "true"
            ET.SubElement(el, "shuffleanswers").text = "true"
            ET.SubElement(el, "answernumbering").text = "abc"
            for i, option in enumerate(q.options):
                ans = _text(el, "answer", _lms_html(option))
                ans.set("fraction", "100" if i == q.correct else "0")
    ET.indent(quiz)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="unicode") + "\n"


def to_csv(questions: list[Question]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for q in questions:
        writer.writerow({"id": q.id, "chapter": q.chapter, "chapter_title": q.chapter_title, "type": q.kind,
                         "question": q.question, "answer": q.answer, "options": " | ".join(q.options),
                         "correct": "" if q.correct < 0 else chr(ord("a") + q.correct)})
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", choices=LANGS, default="en")
    parser.add_argument("--format", choices=FORMATS, default="moodle")
    parser.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    questions = bank(args.lang)
    text = to_moodle(questions) if args.format == "moodle" else to_csv(questions)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"{len(questions)} questions -> {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
