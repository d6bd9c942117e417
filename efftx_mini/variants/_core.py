"""What every variant exercise shares: the registry, the seeded random numbers, number formatting."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Text", "Exercise", "Variant", "REGISTRY", "variant", "rng_for", "fmt", "fmt_int"]

#: {"en": ..., "ko": ...}: MyST Markdown ($…$ maths allowed), the same numbers in both languages
Text = dict[str, str]


@dataclass(frozen=True)
class Exercise:
    """One variant exercise drawn for one seed: the question and its worked answer, in both languages."""

    id: str
    chapter: str
    seed: int
    question: Text
    answer: Text
    numbers: dict[str, float]


@dataclass(frozen=True)
class Variant:
    """A family of exercises: ``make(rng)`` draws the numbers and returns (question, answer, numbers)."""

    id: str
    chapter: str
    make: Callable[[random.Random], tuple[Text, Text, dict[str, float]]]

    def draw(self, seed: int) -> Exercise:
        question, answer, numbers = self.make(rng_for(seed, self.id))
        for name, text in (("question", question), ("answer", answer)):
            if set(text) != {"en", "ko"} or not all(s.strip() for s in text.values()):
                raise ValueError(f"variant {self.id}: the {name} needs non-empty 'en' and 'ko' texts")
        return Exercise(self.id, self.chapter, seed, question, answer, numbers)


#: chapter ("01" … "15") -> its variants, in the order they are printed
REGISTRY: dict[str, list[Variant]] = {}


def variant(chapter: str, name: str):
    """Register ``make(rng) -> (question, answer, numbers)`` as variant ``<chapter>-<name>``."""

    def register(make: Callable[[random.Random], tuple[Text, Text, dict[str, float]]]):
        vid = f"{chapter}-{name}"
        if any(v.id == vid for v in REGISTRY.get(chapter, [])):
            raise ValueError(f"variant {vid} is registered twice")
        REGISTRY.setdefault(chapter, []).append(Variant(vid, chapter, make))
        return make

    return register


def rng_for(seed: int, variant_id: str) -> random.Random:
    """The random numbers of one variant for one seed: independent across variants, the same on every machine
    (a string seed is hashed with SHA-512 by ``random.Random``)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"the variant seed must be a non-negative int, got {seed!r}")
    return random.Random(f"efftx-variant:{seed}:{variant_id}")


def fmt(x: float, digits: int = 3) -> str:
    """A number as the exercises print it: ``digits`` decimals, trailing zeros kept (the same in both languages)."""
    return f"{x:.{digits}f}"


def fmt_int(n: int) -> str:
    """An integer with thousands separators: 1,234,567."""
    return f"{n:,}"
