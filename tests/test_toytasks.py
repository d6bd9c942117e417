"""Toy tasks (chapters 2–3) give the right answers, are deterministic, and the tiny model is correct."""

from __future__ import annotations

import math

import pytest
import torch

from efftx_mini.positional import RotaryEmbedding
from efftx_mini.tiny import TinyAttention, TinyEncoder, accuracy, fit
from efftx_mini.toytasks import (
    IGNORE,
    kv_lookup,
    kv_vocab_size,
    pair_id,
    previous_token,
    query_id,
    reverse,
    sort_tokens,
    which_first,
)

# -- data correctness ----------------------------------------------------------------------------


def test_kv_lookup_answers_are_the_stored_values():
    n_keys, n_values, n_pairs = 6, 5, 4
    tokens, targets = kv_lookup(300, n_pairs, n_keys, n_values, seed=3)
    assert tokens.shape == (300, n_pairs + 1) and targets.shape == (300,)
    assert tokens.dtype == targets.dtype == torch.long
    assert int(tokens.max()) < kv_vocab_size(n_keys, n_values)
    for row, target in zip(tokens.tolist(), targets.tolist(), strict=True):
        pairs, q = row[:-1], row[-1]
        store = {p // n_values: p % n_values for p in pairs}
        assert len(store) == n_pairs, "keys must be distinct"
        assert all(p < n_keys * n_values for p in pairs)
        k = q - n_keys * n_values
        assert 0 <= k < n_keys and q == query_id(k, n_keys, n_values)
        assert store[k] == target
        assert pair_id(k, target, n_values) in pairs


def test_previous_token_targets():
    tokens, targets = previous_token(50, 9, 7, offset=2, seed=1)
    assert (targets[:, :2] == IGNORE).all()
    assert torch.equal(targets[:, 2:], tokens[:, :-2])
    assert int(tokens.max()) < 7 and int(tokens.min()) >= 0


def test_reverse_and_sort_targets():
    t, y = reverse(40, 6, 9, seed=2)
    for row, out in zip(t.tolist(), y.tolist(), strict=True):
        assert out == row[::-1]
    t, y = sort_tokens(40, 6, 9, seed=2)
    for row, out in zip(t.tolist(), y.tolist(), strict=True):
        assert out == sorted(row)


def test_which_first_targets():
    tokens, targets = which_first(200, 10, 12, seed=5)
    for row, y in zip(tokens.tolist(), targets.tolist(), strict=True):
        assert row.count(0) == 1 and row.count(1) == 1
        assert y == int(row.index(0) < row.index(1))
    assert 0.3 < targets.float().mean() < 0.7


@pytest.mark.parametrize(
    "make",
    [
        lambda s: kv_lookup(64, 3, 8, 8, seed=s),
        lambda s: previous_token(64, 8, 16, seed=s),
        lambda s: reverse(64, 8, 16, seed=s),
        lambda s: sort_tokens(64, 8, 16, seed=s),
        lambda s: which_first(64, 8, 16, seed=s),
    ],
)
def test_generators_are_deterministic_by_seed(make):
    a, b, c = make(7), make(7), make(8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_bad_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="n_pairs must be <= n_keys"):
        kv_lookup(4, 9, 8, 8)
    with pytest.raises(ValueError, match="length must be positive"):
        reverse(4, 0)
    with pytest.raises(TypeError, match="n must be an int"):
        which_first(2.5)
    with pytest.raises(ValueError, match="length >= 2"):
        which_first(4, 1)


# -- the tiny model ------------------------------------------------------------------------------


@pytest.mark.parametrize("positional", ["none", "sinusoidal", "learned", "rope"])
def test_tiny_encoder_shapes(positional):
    torch.manual_seed(0)
    x = torch.randint(0, 11, (3, 7))
    for readout, shape in (("all", (3, 7, 5)), ("last", (3, 5)), ("mean", (3, 5))):
        m = TinyEncoder(11, 5, 16, 2, 2, 32, positional=positional, max_len=10, readout=readout)
        assert m(x).shape == shape


def test_tiny_encoder_rejects_bad_input():
    m = TinyEncoder(11, 5, 16, 2, 1, 32, positional="learned", max_len=6)
    with pytest.raises(ValueError, match="max_len=6"):
        m(torch.zeros(2, 7, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        m(torch.full((2, 3), 11))
    with pytest.raises(TypeError, match="integer token ids"):
        m(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="positional must be one of"):
        TinyEncoder(11, 5, positional="alibi")


def test_without_positions_the_model_is_permutation_equivariant():
    torch.manual_seed(0)
    m = TinyEncoder(13, 4, 16, 2, 2, 32, positional="none").eval()
    x = torch.randint(0, 13, (4, 9))
    perm = torch.randperm(9)
    torch.testing.assert_close(m(x[:, perm]), m(x)[:, perm])
    pooled = TinyEncoder(13, 4, 16, 2, 2, 32, positional="none", readout="mean").eval()
    torch.testing.assert_close(pooled(x[:, perm]), pooled(x))


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope"])
def test_with_positions_the_model_is_not_permutation_equivariant(positional):
    torch.manual_seed(0)
    m = TinyEncoder(13, 4, 16, 2, 1, 32, positional=positional, max_len=16).eval()
    x = torch.randint(0, 13, (4, 9))
    perm = torch.arange(9).flip(0)
    assert (m(x[:, perm]) - m(x)[:, perm]).abs().max() > 1e-3


def _reference_attention(x, attn, rotary=None):
    """softmax(q kᵀ/√d_h) v W_O + b_O written out from the paper's formulas (Eq. 1, §3.2.2)."""
    d, H = attn.d_model, attn.n_heads
    w, b = attn.in_proj_weight, attn.in_proj_bias
    wq, wk, wv = w[:d], (w[:d] if attn.tie_qk else w[d : 2 * d]), w[2 * d :]
    bq, bk, bv = b[:d], (b[:d] if attn.tie_qk else b[d : 2 * d]), b[2 * d :]
    B, T, _ = x.shape

    def heads(t):
        return t.reshape(B, T, H, d // H).transpose(1, 2)

    q, k, v = heads(x @ wq.T + bq), heads(x @ wk.T + bk), heads(x @ wv.T + bv)
    if rotary is not None:
        q, k = rotary(q), rotary(k)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d // H)
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, d)
    return out @ attn.out_proj.weight.T + attn.out_proj.bias, scores


def test_tied_qk_matches_reference_values_and_gradients():
    torch.manual_seed(0)
    attn = TinyAttention(8, 2, tie_qk=True).double()
    with torch.no_grad():
        attn.in_proj_bias.normal_()
    x = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)
    out, weights = attn(x, x, x, need_weights=True)
    ref, scores = _reference_attention(x, attn)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(weights, scores.softmax(-1))
    torch.testing.assert_close(scores, scores.transpose(-1, -2))  # tied → symmetric scores
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, attn.in_proj_weight, attn.in_proj_bias), g)
    want = torch.autograd.grad(ref, (x, attn.in_proj_weight, attn.in_proj_bias), g)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    assert got[1][8:16].abs().max() == 0  # the unused key rows get no gradient
    assert torch.autograd.gradcheck(lambda t: attn(t, t, t)[0], (x[:1, :3].detach().requires_grad_(),))


def test_untied_scores_are_not_symmetric():
    torch.manual_seed(0)
    attn = TinyAttention(8, 2)
    x = torch.randn(2, 5, 8)
    _, scores = _reference_attention(x, attn)
    assert (scores - scores.transpose(-1, -2)).abs().max() > 1e-3


def test_rope_option_matches_rotary_embedding_by_hand():
    torch.manual_seed(0)
    attn = TinyAttention(16, 2, rope=True).double()
    x = torch.randn(3, 6, 16, dtype=torch.float64, requires_grad=True)
    out, weights = attn(x, x, x, need_weights=True)
    ref, scores = _reference_attention(x, attn, RotaryEmbedding(8).double())
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(weights, scores.softmax(-1))
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, attn.in_proj_weight), g)
    want = torch.autograd.grad(ref, (x, attn.in_proj_weight), g)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def test_tiny_attention_is_self_attention_only():
    attn = TinyAttention(8, 2)
    x, y = torch.randn(1, 3, 8), torch.randn(1, 3, 8)
    with pytest.raises(ValueError, match="self-attention only"):
        attn(x, y, y)


def test_fit_learns_and_accuracy_skips_ignored_positions():
    torch.manual_seed(0)
    m = TinyEncoder(kv_vocab_size(4, 4), 4, 32, 1, 1, 64, readout="last")
    x, y = kv_lookup(128, 2, 4, 4, seed=0)
    losses = fit(m, [(x, y)] * 80, steps=80, lr=1e-2, progress=False)
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy(m, x, y) > 0.9
    tagger = TinyEncoder(5, 5, 8, 1, 1, 8, readout="all")
    t, tgt = previous_token(4, 6, 5, seed=0)
    pred = tagger(t).argmax(-1)
    expected = (pred[:, 1:] == tgt[:, 1:]).float().mean().item()
    assert accuracy(tagger, t, tgt) == pytest.approx(expected)
    assert accuracy(tagger, t, torch.where(tgt == IGNORE, IGNORE, pred)) == 1.0
    with pytest.raises(ValueError, match="steps must be positive"):
        fit(m, [(x, y)], steps=0)

