"""Bad input gets a clear ValueError/TypeError that names the expected and the actual shape or dtype."""

from __future__ import annotations

import re

import pytest
import torch

from efftx_mini.attention import MultiHeadAttention, scaled_dot_product_attention
from efftx_mini.masks import causal_mask, padding_mask
from efftx_mini.transformer import EncoderLayer, Transformer

mha = MultiHeadAttention(8, 2)
model = Transformer(10, 10, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0)
x = torch.randn(2, 5, 8)
q = torch.randn(2, 2, 5, 4)
tok = torch.randint(1, 10, (2, 5))

# (call, exception type, regexes that must all appear in the message)
CASES = {
    "wrong rank to MHA": (lambda: mha(x[0], x[0], x[0]), ValueError, [r"\(B, T, d_model=8\)", r"\(5, 8\)"]),
    "d_model mismatch": (lambda: mha(torch.randn(2, 5, 6), x, x), ValueError, [r"d_model=8", r"\(2, 5, 6\)"]),
    "heads do not divide d_model": (lambda: MultiHeadAttention(10, 4), ValueError, [r"d_model=10", r"n_heads=4"]),
    "heads do not divide (Transformer)": (
        lambda: Transformer(5, 5, d_model=10, n_heads=3), ValueError, [r"d_model=10", r"n_heads=3"]),
    "float mask to MHA": (lambda: mha(x, x, x, mask=torch.ones(5, 5)), TypeError, [r"bool", r"torch\.float32"]),
    "float mask to sdpa": (lambda: scaled_dot_product_attention(q, q, q, torch.ones(5, 5)), TypeError,
                           [r"bool", r"torch\.float32"]),
    "int mask to sdpa": (lambda: scaled_dot_product_attention(q, q, q, torch.ones(5, 5, dtype=torch.long)),
                         TypeError, [r"bool", r"torch\.int64"]),
    "mask shape does not broadcast (MHA)": (
        lambda: mha(x, x, x, mask=torch.ones(4, 5, dtype=torch.bool)), ValueError,
        [r"\(4, 5\)", r"\(B, H, T_q, T_k\)", r"\(2, 2, 5, 5\)"]),
    "mask shape does not broadcast (sdpa)": (
        lambda: scaled_dot_product_attention(q, q, q, torch.ones(3, 1, 5, 5, dtype=torch.bool)), ValueError,
        [r"\(3, 1, 5, 5\)", r"\(2, 2, 5, 5\)"]),
    "mismatched batch sizes (MHA)": (lambda: mha(x, torch.randn(3, 5, 8), torch.randn(3, 5, 8)), ValueError,
                                     [r"batch size", r"\(2, 5, 8\)", r"\(3, 5, 8\)"]),
    "mismatched batch sizes (Transformer)": (
        lambda: model(tok, torch.randint(1, 10, (3, 4))), ValueError, [r"\(2, 5\)", r"\(3, 4\)"]),
    "empty sequence (MHA)": (lambda: mha(torch.randn(2, 0, 8), torch.randn(2, 0, 8), torch.randn(2, 0, 8)),
                             ValueError, [r"at least one position", r"\(2, 0, 8\)"]),
    "empty sequence (tokens)": (lambda: model(torch.zeros(2, 0, dtype=torch.long), tok), ValueError,
                                [r"at least one position", r"\(2, 0\)"]),
    "empty sequence (sdpa)": (lambda: scaled_dot_product_attention(q, q[..., :0, :], q[..., :0, :]), ValueError,
                              [r"at least one", r"\(2, 2, 0, 4\)"]),
    "float token ids": (lambda: model(tok.float(), tok), TypeError, [r"integer token ids", r"torch\.float32"]),
    "float token ids to padding_mask": (lambda: padding_mask(tok.float(), 0), TypeError, [r"torch\.float32"]),
    "token ids of wrong rank": (lambda: model.encode(tok[0]), ValueError, [r"\(B, T\)", r"\(5,\)"]),
    "q/k width mismatch": (lambda: scaled_dot_product_attention(q, q[..., :3], q), ValueError,
                           [r"\(2, 2, 5, 4\)", r"\(2, 2, 5, 3\)"]),
    "k/v length mismatch": (lambda: scaled_dot_product_attention(q, q, q[..., :4, :]), ValueError,
                            [r"T_k", r"\(2, 2, 4, 4\)"]),
    "int tensors to sdpa": (lambda: scaled_dot_product_attention(tok, tok, tok), TypeError,
                            [r"floating-point", r"torch\.int64"]),
    "encoder layer width": (lambda: EncoderLayer(8, 2, 16)(torch.randn(2, 5, 4)), ValueError,
                            [r"\(B, T, 8\)", r"\(2, 5, 4\)"]),
    "causal_mask of non-positive length": (lambda: causal_mask(0), ValueError, [r"positive", r"0"]),
    "causal_mask of float length": (lambda: causal_mask(3.0), TypeError, [r"int", r"float"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_raises_a_clear_error(name):
    call, exc, patterns = CASES[name]
    with pytest.raises(exc) as info:
        call()
    msg = str(info.value)
    for pat in patterns:
        assert re.search(pat, msg), f"{name}: {pat!r} not in {msg!r}"


def test_there_are_at_least_twelve_cases():
    assert len(CASES) >= 12
