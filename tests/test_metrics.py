"""BLEU against Papineni et al. 2002's own examples, hand-computed values and NLTK's documented results."""

import math

import pytest

from efftx_mini.metrics import brevity_penalty, corpus_bleu, exact_match, modified_precision, sentence_bleu

# Papineni et al. 2002, Example 1 (tokenised as in NLTK's documentation)
C1 = "It is a guide to action which ensures that the military always obeys the commands of the party".split()
C2 = "It is to insure the troops forever hearing the activity guidebook that party direct".split()
R1 = "It is a guide to action that ensures that the military will forever heed Party commands".split()
R2 = ("It is the guiding principle which guarantees the military forces always being under the command of "
      "the Party").split()
R3 = "It is the practical guide for the army always to heed the directions of the party".split()


def test_modified_precision_papineni():
    # §2.1: "the the the the the the the" has modified unigram precision 2/7
    cand = "the the the the the the the".split()
    refs = ["the cat is on the mat".split(), "there is a cat on the mat".split()]  # lower-cased, as in the paper
    assert modified_precision(cand, refs, 1) == (2, 7)
    # §2.1, Example 1: candidate 1 gets 17/18 unigrams and 10/17 bigrams; candidate 2 8/14 and 1/13
    assert modified_precision(C1, [R1, R2, R3], 1) == (17, 18)
    assert modified_precision(C1, [R1, R2, R3], 2) == (10, 17)
    assert modified_precision(C2, [R1, R2, R3], 1) == (8, 14)
    assert modified_precision(C2, [R1, R2, R3], 2) == (1, 13)


def test_sentence_bleu_hand_value_and_nltk():
    # p1..p4 = 17/18, 10/17, 7/16, 4/15; |c| = 18 = |R2| so BP = 1
    hand = (17 / 18 * 10 / 17 * 7 / 16 * 4 / 15) ** 0.25
    assert sentence_bleu(C1, [R1, R2, R3]) == pytest.approx(hand, rel=1e-12)
    assert sentence_bleu(C1, [R1, R2, R3]) == pytest.approx(0.5045666840058485, rel=1e-12)  # NLTK docs


def test_corpus_bleu_nltk_example():
    hyp2 = "he read the book because he was interested in world history".split()
    ref2 = "he was interested in world history because he read the book".split()
    assert corpus_bleu([C1, hyp2], [[R1, R2, R3], [ref2]]) == pytest.approx(0.5920778868801042, rel=1e-12)
    # corpus BLEU pools counts; it is not the mean of sentence BLEUs
    mean = (sentence_bleu(C1, [R1, R2, R3]) + sentence_bleu(hyp2, [ref2])) / 2
    assert abs(corpus_bleu([C1, hyp2], [[R1, R2, R3], [ref2]]) - mean) > 1e-3


def test_brevity_penalty():
    assert brevity_penalty(10, 8) == 1.0
    assert brevity_penalty(8, 10) == pytest.approx(math.exp(1 - 10 / 8))
    ref = "a b c d e f g h".split()
    short = "a b c d".split()  # every n-gram matches, p_n = 1, only the brevity penalty remains
    assert sentence_bleu(short, [ref]) == pytest.approx(math.exp(1 - 8 / 4))
    # the closest reference length counts (ties → the shorter)
    assert sentence_bleu(short, [ref, "a b c d".split()]) == 1.0


def test_bleu_extremes_and_errors():
    assert corpus_bleu([["x", "y", "z", "w"]], [[["x", "y", "z", "w"]]]) == 1.0
    assert corpus_bleu([["a", "b", "c", "d"]], [[["e", "f", "g", "h"]]]) == 0.0
    with pytest.raises(ValueError, match="2 hyps and 1 refs"):
        corpus_bleu([["a"], ["b"]], [[["a"]]])
    with pytest.raises(TypeError, match="list of token lists"):
        corpus_bleu([["a"]], [["a"]])


def test_exact_match():
    assert exact_match(["삼", "사", "오"], ["삼", "사", "육"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="2 and 1"):
        exact_match(["a", "b"], ["a"])
