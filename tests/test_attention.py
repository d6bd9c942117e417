"""Attention against independent references: PyTorch's fused kernel, the paper's formula, nn.MultiheadAttention."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from efftx_mini.attention import MultiHeadAttention, scaled_dot_product_attention

pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)



def formula(q, k, v, mask=None):
    """softmax(QKᵀ/√d)V written from Eq. (1), with masked scores set to −∞."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v, torch.softmax(scores, -1)


def rand_qkv(*lead, Tq=5, Tk=7, d=8, dv=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*lead, Tq, d, generator=g, requires_grad=True)
    k = torch.randn(*lead, Tk, d, generator=g, requires_grad=True)
    v = torch.randn(*lead, Tk, dv, generator=g, requires_grad=True)
    return q, k, v


def grads(out, *inputs, seed=1):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(out.shape, generator=g)
    return torch.autograd.grad((out * w).sum(), inputs)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_sdpa_matches_torch_and_formula(need_weights, with_mask):
    q, k, v = rand_qkv(2, 3)
    mask = None
    if with_mask:
        mask = torch.rand(2, 1, 5, 7, generator=torch.Generator().manual_seed(3)) > 0.4
        mask[..., 0] = True  # no fully-masked rows here: the references would give NaN
    out, w = scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
    ref_torch = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref_formula, ref_w = formula(q, k, v, mask)
    torch.testing.assert_close(out, ref_torch)
    torch.testing.assert_close(out, ref_formula)
    if need_weights:
        torch.testing.assert_close(w, ref_w)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5))
    else:
        assert w is None
    for a, b in zip(grads(out, q, k, v), grads(ref_formula, q, k, v), strict=True):
        torch.testing.assert_close(a, b)


def test_weights_are_probabilities_and_masked_entries_zero():
    q, k, v = rand_qkv(4)
    mask = torch.ones(5, 7, dtype=torch.bool).tril()
    _, w = scaled_dot_product_attention(q, k, v, mask, need_weights=True)
    assert torch.all(w[..., ~mask] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 5))


@pytest.mark.parametrize("need_weights", [False, True])
def test_fully_masked_row_gives_zeros_not_nan(need_weights):
    q, k, v = rand_qkv(2)
    mask = torch.ones(2, 5, 7, dtype=torch.bool)
    mask[0, 2] = False  # query 2 of batch 0 may attend to nothing
    out, w = scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
    assert not torch.isnan(out).any()
    assert torch.all(out[0, 2] == 0)
    if need_weights:
        assert torch.all(w[0, 2] == 0) and not torch.isnan(w).any()
    # the other rows are exactly what the unmasked formula gives
    ref, _ = formula(q, k, v)
    keep = torch.ones(2, 5, dtype=torch.bool)
    keep[0, 2] = False
    torch.testing.assert_close(out[keep], ref[keep])
    gq, gk, gv = grads(out, q, k, v)
    for g in (gq, gk, gv):
        assert torch.isfinite(g).all()
    assert torch.all(gq[0, 2] == 0)


def test_dropout_only_in_given_probability_range():
    q, k, v = rand_qkv()
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    torch.manual_seed(0)
    out, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5, need_weights=True)
    ref, ref_w = formula(q, k, v)
    torch.testing.assert_close(w, ref_w)  # returned weights are the pre-dropout ones
    assert not torch.allclose(out, ref)


def torch_mha_like(ours: MultiHeadAttention, bias=True) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(ours.d_model, ours.n_heads, batch_first=True, bias=bias)
    ref.load_state_dict(ours.state_dict())
    return ref


@pytest.mark.parametrize("kind", ["self", "cross", "separate"])
@pytest.mark.parametrize("bias", [True, False])
def test_mha_matches_torch_multihead_attention(kind, bias):
    torch.manual_seed(0)
    ours = MultiHeadAttention(16, 4, bias=bias)
    ref = torch_mha_like(ours, bias)
    x = torch.randn(3, 5, 16, requires_grad=True)
    mem = torch.randn(3, 6, 16, requires_grad=True)
    val = torch.randn(3, 6, 16, requires_grad=True)
    q, k, v = {"self": (x, x, x), "cross": (x, mem, mem), "separate": (x, mem, val)}[kind]
    out, w = ours(q, k, v, need_weights=True)
    ref_out, ref_w = ref(q, k, v, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)
    params = list(ours.parameters())
    ref_params = [dict(ref.named_parameters())[n] for n, _ in ours.named_parameters()]
    inputs = list({id(t): t for t in (q, k, v)}.values())  # the distinct input tensors
    g_ours = grads(out, *inputs, *params)
    g_ref = grads(ref_out, *inputs, *ref_params)
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b)
    fast, none = ours(q, k, v)
    assert none is None
    torch.testing.assert_close(fast, out)


def test_mha_masks_match_torch_convention():
    """Our True = may attend; torch's attn_mask/key_padding_mask use True = blocked."""
    torch.manual_seed(1)
    ours = MultiHeadAttention(12, 3)
    ref = torch_mha_like(ours)
    x = torch.randn(2, 6, 12)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    keep = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    out, w = ours(x, x, x, mask=causal & keep[:, None, None, :], need_weights=True)
    ref_out, ref_w = ref(x, x, x, attn_mask=~causal, key_padding_mask=~keep, need_weights=True,
                         average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)


def test_mha_dropout_is_off_in_eval_and_on_in_train():
    torch.manual_seed(0)
    m = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 4, 8)
    m.eval()
    a, b = m(x, x, x)[0], m(x, x, x)[0]
    torch.testing.assert_close(a, b)
    m.train()
    assert not torch.allclose(m(x, x, x)[0], a)
