"""Variant exercises: per chapter, exercises whose numbers come from a seed the instructor chooses, in English and
Korean, each with its worked answer (issue 25: gradable work in an open book).

The solutions of the book's own exercises are public; these are not fixed: an instructor picks a seed
(``EFFTX_VARIANT=<seed>`` or ``--seed``), hands out the questions and keeps the answer key:

    python -m efftx_mini.variants --seed 2026 --lang ko              # the students' sheet (questions only)
    python -m efftx_mini.variants --seed 2026 --lang ko --answers    # the instructor's answer key

The same seed gives the same numbers on every machine (``random.Random`` seeded with a string).
"""

from __future__ import annotations

import os

from . import part1, part2, part3  # noqa: F401  (registers the variants)
from ._core import REGISTRY, Exercise, Variant, fmt, fmt_int, rng_for, variant

__all__ = ["ENV", "REGISTRY", "Exercise", "Variant", "chapters", "draw", "seed_from_env", "render", "variant",
           "rng_for", "fmt", "fmt_int"]

ENV = "EFFTX_VARIANT"
LANGS = ("en", "ko")
HEAD = {"en": ("Chapter {ch}: variant exercises (seed {seed})", "Answer"),
        "ko": ("{ch}장 변형 연습 문제 (시드 {seed})", "답")}


def chapters() -> list[str]:
    """The chapters ("01" …) that have variant exercises, in order."""
    return sorted(REGISTRY)


def draw(chapter: str, seed: int) -> list[Exercise]:
    """The variant exercises of one chapter for one seed."""
    if chapter not in REGISTRY:
        raise KeyError(f"no variant exercises for chapter {chapter!r}; chapters with variants: {chapters()}")
    return [v.draw(seed) for v in REGISTRY[chapter]]


def seed_from_env(default: int = 0) -> int:
    """The seed in ``$EFFTX_VARIANT`` (a non-negative integer), else ``default``."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"${ENV} must be a non-negative integer seed, got {raw!r}")
    return int(raw)


def render(seed: int, lang: str = "en", answers: bool = False, only: list[str] | None = None) -> str:
    """The variant exercises of the chapters ``only`` (default: all) as Markdown; with ``answers`` each question
    is followed by its worked answer (the instructor's key), without them it is the students' sheet."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    title, answer_word = HEAD[lang]
    parts = []
    for ch in only or chapters():
        lines = [f"## {title.format(ch=int(ch), seed=seed)}", ""]
        for n, ex in enumerate(draw(ch, seed), start=1):
            lines.append(f"{n}. {ex.question[lang]}")
            if answers:
                lines += ["", f"   **{answer_word}.** {ex.answer[lang]}"]
            lines.append("")
        parts.append("\n".join(lines))
    return "\n".join(parts)
