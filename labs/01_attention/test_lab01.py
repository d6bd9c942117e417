"""Lab 01's public tests: your functions against efftx_mini's reference implementations and PyTorch's, on inputs
generated here, for values and gradients (float64). Run: ``make lab-check LAB=01`` or
``python -m pytest labs/01_attention``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from labtools import forbidden_uses

from efftx_mini.attention import MultiHeadAttention, scaled_dot_product_attention
from efftx_mini.masks import causal_mask, padding_mask

f64 = torch.float64


def test_does_not_call_the_reference(lab) -> None:
    uses = forbidden_uses(lab.IMPL_FILE, attributes=("scaled_dot_product_attention", "MultiheadAttention",
                                                     "multi_head_attention_forward"))
    assert not uses, f"{lab.IMPL_FILE.name} calls what the tests compare against: {uses}"


@pytest.mark.parametrize("T", [1, 2, 7])
def test_causal_mask(lab, T: int) -> None:
    got = lab.run_causal_mask(T)
    assert got.dtype == torch.bool and got.shape == (T, T)
    assert torch.equal(got, causal_mask(T))


def test_padding_mask(lab) -> None:
    tokens = torch.tensor([[5, 6, 0, 0], [1, 0, 2, 3]])
    got = lab.run_padding_mask(tokens, 0)
    assert got.dtype == torch.bool and got.shape == (2, 1, 1, 4)
    assert torch.equal(got, padding_mask(tokens, 0))


def _qkv(B=2, H=3, T_q=5, T_k=6, d=8, d_v=4):
    q = torch.randn(B, H, T_q, d, dtype=f64, requires_grad=True)
    k = torch.randn(B, H, T_k, d, dtype=f64, requires_grad=True)
    v = torch.randn(B, H, T_k, d_v, dtype=f64, requires_grad=True)
    return q, k, v


MASKS = {
    "none": lambda B, H, T_q, T_k: None,
    "causal": lambda B, H, T_q, T_k: torch.ones(T_q, T_k, dtype=torch.bool).tril(),
    "random (B, H, T_q, T_k)": lambda B, H, T_q, T_k: torch.rand(B, H, T_q, T_k) > 0.4,
    "keys (B, 1, 1, T_k)": lambda B, H, T_q, T_k: torch.rand(B, 1, 1, T_k) > 0.3,
}


@pytest.mark.parametrize("kind", list(MASKS))
def test_sdpa_values_and_weights(lab, kind: str) -> None:
    q, k, v = _qkv()
    mask = MASKS[kind](2, 3, 5, 6)
    out, weights = lab.run_scaled_dot_product_attention(q, k, v, mask)
    ref, ref_w = scaled_dot_product_attention(q, k, v, mask, need_weights=True)
    assert out.shape == ref.shape and weights.shape == ref_w.shape
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(weights, ref_w)
    if kind == "none":  # PyTorch's fused kernel agrees too
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("kind", list(MASKS))
def test_sdpa_gradients(lab, kind: str) -> None:
    q, k, v = _qkv()
    mask = MASKS[kind](2, 3, 5, 6)
    g = torch.randn(2, 3, 5, 4, dtype=f64)
    got = torch.autograd.grad(lab.run_scaled_dot_product_attention(q, k, v, mask)[0], (q, k, v), g)
    ref = torch.autograd.grad(scaled_dot_product_attention(q, k, v, mask, need_weights=True)[0], (q, k, v), g)
    for a, b, name in zip(got, ref, "qkv", strict=True):
        torch.testing.assert_close(a, b, msg=lambda m, name=name: f"gradient of {name}: {m}")


def test_fully_masked_row_gives_zeros_not_nan(lab) -> None:
    q, k, v = _qkv(B=1, H=1, T_q=3, T_k=4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False  # query 1 may attend to nothing
    out, weights = lab.run_scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    assert torch.equal(out[0, 0, 1], torch.zeros_like(out[0, 0, 1]))
    assert float(weights[0, 0, 1].detach().abs().sum()) == 0
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    assert all(torch.isfinite(g).all() for g in grads)
    assert float(grads[0][0, 0, 1].abs().sum()) == 0.0


@pytest.mark.parametrize("bad", ["width", "length"])
def test_sdpa_rejects_mismatched_shapes(lab, bad: str) -> None:
    q, k, v = (t.detach() for t in _qkv())
    if bad == "width":
        k = k[..., :5]
    else:
        v = v[..., :4, :]
    with pytest.raises(ValueError, match=r"\d+, \d+"):
        lab.run_scaled_dot_product_attention(q, k, v)


def test_split_and_merge_heads(lab) -> None:
    x = torch.randn(2, 5, 12)
    heads = lab.run_split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads[:, 1], x[..., 4:8])
    torch.testing.assert_close(lab.run_merge_heads(heads), x)
    with pytest.raises(ValueError):
        lab.run_split_heads(x, 5)


@pytest.mark.parametrize("cross", [False, True])
def test_multi_head_attention_matches_the_package(lab, cross: bool) -> None:
    d, H = 12, 3
    mha = MultiHeadAttention(d, H).double()
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    x = torch.randn(2, 5, d, dtype=f64, requires_grad=True)
    mem = torch.randn(2, 7, d, dtype=f64, requires_grad=True) if cross else x
    mask = None if cross else causal_mask(5)
    got = lab.run_multi_head_attention(x, mem, mem, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight,
                                       mha.out_proj.bias, H, mask)
    ref, _ = mha(x, mem, mem, mask)
    torch.testing.assert_close(got, ref)
    g = torch.randn_like(ref)
    params = [x, mha.in_proj_weight, mha.out_proj.weight] + ([mem] if cross else [])
    for a, b in zip(torch.autograd.grad(got, params, g), torch.autograd.grad(ref, params, g), strict=True):
        torch.testing.assert_close(a, b)
