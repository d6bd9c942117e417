"""Greedy decoding and beam search: beam 1 = greedy, beam beats greedy on a toy model, length penalty."""

import math

import pytest
import torch

from efftx_mini import seed_everything
from efftx_mini.decode import beam_search, beam_search_steps, greedy_decode, length_penalty
from efftx_mini.transformer import Transformer

BOS, EOS, PAD, A, B = 1, 2, 0, 3, 4
V = 5


def table_model(table):
    """A hand-built next-token model: probabilities by the prefix of generated tokens (without <bos>)."""

    def step(ys, rows):
        out = torch.full((ys.shape[0], V), -1e9)
        for i, y in enumerate(ys.tolist()):
            probs = table.get(tuple(y[1:]))
            if probs is not None:
                for tok, p in probs.items():
                    out[i, tok] = math.log(p)
        return out

    return step


# Greedy takes A (0.6), but every continuation of A is weak (best 0.3): P(A EOS) = 0.18.
# B (0.4) is followed by EOS with 0.9: P(B EOS) = 0.36, the best sequence.
TOY = {
    (): {A: 0.6, B: 0.4},
    (A,): {EOS: 0.3, A: 0.25, B: 0.25, PAD: 0.2},
    (B,): {EOS: 0.9, A: 0.1},
    (A, A): {EOS: 1.0}, (A, B): {EOS: 1.0}, (B, A): {EOS: 1.0},
}


def run(table, k, alpha=0.0, max_len=6):
    out, score = beam_search_steps(table_model(table), 1, k, max_len, BOS, EOS, PAD, alpha)
    return out[0].tolist(), float(score[0])


def strip(seq):
    return seq[: seq.index(EOS) + 1] if EOS in seq else seq


def test_length_penalty_formula():
    assert float(length_penalty(1, 0.6)) == pytest.approx(1.0)
    assert float(length_penalty(7, 0.6)) == pytest.approx(2.0**0.6)
    assert float(length_penalty(10, 0.0)) == 1.0


def test_beam_finds_what_greedy_misses():
    greedy, g_score = run(TOY, 1)
    beam, b_score = run(TOY, 2)
    assert strip(greedy) == [BOS, A, EOS] and g_score == pytest.approx(math.log(0.18), rel=1e-5)
    assert strip(beam) == [BOS, B, EOS] and b_score == pytest.approx(math.log(0.36), rel=1e-5)


def test_length_penalty_changes_ranking():
    # short: A EOS with P = 0.5 · 0.5 = 0.25 (|Y| = 2; A's other continuation is a dead end);
    # long: B B B EOS with P = 0.5 · 0.7³ = 0.1715 (|Y| = 4), less probable overall, better per token
    table = {
        (): {A: 0.5, B: 0.5},
        (A,): {EOS: 0.5, A: 0.5},
        (B,): {B: 0.7, EOS: 0.3}, (B, B): {B: 0.7, EOS: 0.3}, (B, B, B): {EOS: 0.7, B: 0.3},
        (B, B, B, B): {EOS: 1.0},
    }
    short, long_ = [BOS, A, EOS], [BOS, B, B, B, EOS]
    lp_short, lp_long = math.log(0.25), math.log(0.5 * 0.7**3)
    assert lp_short > lp_long  # without a penalty the short one wins …
    assert strip(run(table, 4, alpha=0.0)[0]) == short
    alpha = 2.0  # … with α = 2 the long one does: log P / ((5 + |Y|)/6)^α
    assert lp_long / ((5 + 4) / 6) ** alpha > lp_short / ((5 + 2) / 6) ** alpha
    best, score = run(table, 4, alpha=alpha)
    assert strip(best) == long_ and score == pytest.approx(lp_long / 1.5**alpha, rel=1e-5)


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second intra-op thread only adds contention
    yield
    torch.set_num_threads(n)


def test_beam_one_equals_greedy_on_a_transformer(one_thread):
    seed_everything(0)
    model = Transformer(12, 12, d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.0).eval()
    src = torch.randint(3, 12, (6, 7))
    src[0, 5:] = 0  # some padding
    g = greedy_decode(model, src, 9, BOS, EOS)
    b = beam_search(model, src, beam_size=1, max_len=9, bos=BOS, eos=EOS, alpha=0.6)
    for gi, bi in zip(g.tolist(), b.tolist(), strict=True):
        assert strip(gi) == strip(bi)
    # a wider beam never finds a less probable sequence than greedy (α = 0: plain log-probability)
    b4 = beam_search(model, src, beam_size=4, max_len=9, bos=BOS, eos=EOS, alpha=0.0)

    @torch.no_grad()
    def logp(seq):
        s = torch.tensor([seq])
        return float(torch.log_softmax(model(src[i : i + 1], s[:, :-1]), -1)[0].gather(-1, s[0, 1:, None]).sum())

    for i in range(src.shape[0]):
        gi, bi = strip(g[i].tolist()), strip(b4[i].tolist())
        assert logp(bi) >= logp(gi) - 1e-5


def test_beam_errors():
    with pytest.raises(ValueError, match="beam_size"):
        beam_search_steps(table_model(TOY), 1, 0, 5, BOS, EOS, PAD)
    model = Transformer(8, 8, d_model=16, n_heads=2, n_layers=1, d_ff=32)
    with pytest.raises(TypeError, match="integer"):
        beam_search(model, torch.zeros(2, 3), 2, 5, BOS, EOS)
