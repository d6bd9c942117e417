"""Our corpus BLEU (efftx_mini.metrics) against sacrebleu, the reference implementation, on the same corpora:
the book's English → Korean numerals task (character tokens, hypotheses with seeded edits) and NLTK's
three-reference example. sacrebleu runs with no tokenisation and no smoothing, so both compute the paper's BLEU."""

from __future__ import annotations

import random

import pytest

from efftx_mini.data import NumbersTask
from efftx_mini.metrics import corpus_bleu

sacrebleu = pytest.importorskip("sacrebleu")


def sacre(hyps: list[list[str]], refs: list[list[list[str]]]) -> float:
    n_refs = len(refs[0])
    streams = [[" ".join(r[k]) for r in refs] for k in range(n_refs)]
    score = sacrebleu.corpus_bleu([" ".join(h) for h in hyps], streams, tokenize="none", smooth_method="none",
                                  force=True)
    return score.score / 100


def edited(tokens: list[str], rng: random.Random, alphabet: list[str]) -> list[str]:
    """Drop, replace or duplicate characters at random, as a half-trained model would."""
    out: list[str] = []
    for t in tokens:
        u = rng.random()
        if u < 0.08:
            continue
        out.append(rng.choice(alphabet) if u < 0.16 else t)
        if u > 0.95:
            out.append(t)
    return out or tokens[:1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corpus_bleu_matches_sacrebleu_on_the_numbers_task(seed: int) -> None:
    task = NumbersTask(max_value=1_000_000, n_valid=200, n_test=200)
    rng, alphabet = random.Random(seed), list("영일이삼사오육칠팔구십백천만")
    refs = [list(ko) for _, ko in task.examples("valid")]
    hyps = [edited(r, rng, alphabet) for r in refs]
    ours = corpus_bleu(hyps, [[r] for r in refs])
    assert 0.2 < ours < 0.95  # an informative range, not a trivial 0 or 1
    assert ours == pytest.approx(sacre(hyps, [[r] for r in refs]), abs=1e-9)


def test_corpus_bleu_matches_sacrebleu_with_several_references() -> None:
    hyp1 = ("It is a guide to action which ensures that the military always obeys the commands of the party").split()
    r1 = "It is a guide to action that ensures that the military will forever heed Party commands".split()
    r2 = "It is the guiding principle which guarantees the military forces always being under the command of the Party"
    r3 = "It is the practical guide for the army always to heed the directions of the party".split()
    hyp2 = "he read the book because he was interested in world history".split()
    ref2 = "he was interested in world history because he read the book".split()
    hyps, refs = [hyp1, hyp2], [[r1, r2.split(), r3], [ref2, ref2, ref2]]
    assert corpus_bleu(hyps, refs) == pytest.approx(sacre(hyps, refs), abs=1e-9)
    # a brevity penalty in play: short hypotheses against the closest reference length
    short = [hyp1[:9], hyp2[:7]]
    assert corpus_bleu(short, refs) == pytest.approx(sacre(short, refs), abs=1e-9)
    assert 0 < corpus_bleu(short, refs) < 0.5
