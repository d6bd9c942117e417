"""Exact match and corpus BLEU-4 with the brevity penalty (Papineni et al. 2002, §2.1–§2.3)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

__all__ = ["ngrams", "modified_precision", "brevity_penalty", "corpus_bleu", "sentence_bleu", "exact_match"]

Tokens = Sequence[str]


def ngrams(tokens: Tokens, n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def modified_precision(hyp: Tokens, refs: Sequence[Tokens], n: int) -> tuple[int, int]:
    """Clipped n-gram matches and n-gram count of one hypothesis (§2.1): (numerator, denominator)."""
    counts = ngrams(hyp, n)
    max_ref: Counter[tuple[str, ...]] = Counter()
    for r in refs:
        for g, c in ngrams(r, n).items():
            max_ref[g] = max(max_ref[g], c)
    clipped = sum(min(c, max_ref[g]) for g, c in counts.items())
    return clipped, sum(counts.values())


def _closest_ref_len(hyp_len: int, refs: Sequence[Tokens]) -> int:
    # the reference length closest to the hypothesis length; ties go to the shorter one
    return min((abs(len(r) - hyp_len), len(r)) for r in refs)[1]


def brevity_penalty(c: int, r: int) -> float:
    """BP = 1 if c > r else exp(1 − r/c) (§2.2.2); c = candidate corpus length, r = effective reference length."""
    if c > r:
        return 1.0
    if c == 0:
        return 0.0
    return math.exp(1 - r / c)


def corpus_bleu(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]], max_n: int = 4) -> float:
    """BLEU = BP · exp(Σₙ ¼ log pₙ) over the whole corpus (§2.3), in [0, 1].

    ``hyps[i]`` is a token list; ``refs[i]`` is a list of reference token lists for it. Counts are summed
    over the corpus before dividing (corpus-level, as in the paper); no smoothing, so a zero pₙ gives 0.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"need one list of references per hypothesis, got {len(hyps)} hyps and {len(refs)} refs")
    if len(hyps) == 0:
        raise ValueError("corpus_bleu needs at least one hypothesis, got 0")
    for i, r in enumerate(refs):
        if len(r) == 0 or isinstance(r[0], str):
            raise TypeError(f"refs[{i}] must be a non-empty list of token lists, got {type(r[0]).__name__ if r else r}")
    num, den = [0] * max_n, [0] * max_n
    c = r_len = 0
    for h, rs in zip(hyps, refs, strict=True):
        c += len(h)
        r_len += _closest_ref_len(len(h), rs)
        for n in range(1, max_n + 1):
            a, b = modified_precision(h, rs, n)
            num[n - 1] += a
            den[n - 1] += b
    if min(num) == 0:
        return 0.0
    log_p = sum(math.log(a / b) for a, b in zip(num, den, strict=True)) / max_n
    return brevity_penalty(c, r_len) * math.exp(log_p)


def sentence_bleu(hyp: Tokens, refs: Sequence[Tokens], max_n: int = 4) -> float:
    """BLEU of one sentence (a corpus of one)."""
    return corpus_bleu([hyp], [refs], max_n)


def exact_match(hyps: Sequence[object], refs: Sequence[object]) -> float:
    """Fraction of hypotheses identical to their reference."""
    if len(hyps) != len(refs):
        raise ValueError(f"need as many hypotheses as references, got {len(hyps)} and {len(refs)}")
    if len(hyps) == 0:
        raise ValueError("exact_match needs at least one pair, got 0")
    return sum(h == r for h, r in zip(hyps, refs, strict=True)) / len(hyps)
