"""Lab 02's public tests: top-p truncation, the sampling distribution and the KV cache against efftx_mini's
reference implementations, on inputs generated here. Run: ``make lab-check LAB=02`` or
``python -m pytest labs/02_generation``."""

from __future__ import annotations

import pytest
import torch
from labtools import forbidden_uses

from efftx_mini.attention import scaled_dot_product_attention
from efftx_mini.generate import filter_logits, next_token_probs
from efftx_mini.masks import causal_mask

f64 = torch.float64


def test_does_not_call_the_reference(lab) -> None:
    uses = forbidden_uses(lab.IMPL_FILE, attributes=("scaled_dot_product_attention",))
    assert not uses, f"{lab.IMPL_FILE.name} calls what the tests compare against: {uses}"


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9, 0.999, 1.0])
def test_top_p_matches_the_package(lab, p: float) -> None:
    logits = torch.randn(6, 50) * 3
    got = lab.run_top_p_filter(logits, p)
    ref = filter_logits(logits, top_p=p)
    assert got.shape == logits.shape
    assert torch.equal(torch.isinf(got), torch.isinf(ref)), "a different set of tokens was kept"
    torch.testing.assert_close(got[~torch.isinf(ref)], logits[~torch.isinf(ref)])


def test_top_p_keeps_the_nucleus_on_an_exact_boundary(lab) -> None:
    logits = torch.zeros(1, 50)  # 50 equal tokens: p = 0.5 is reached by exactly 25 of them
    kept = ~torch.isinf(lab.run_top_p_filter(logits, 0.5))
    assert int(kept.sum()) == 25 and bool(kept[0, :25].all()), "ties go by token id; 25 tokens hold mass 0.5"
    one = torch.tensor([[10.0, 0.0, 0.0]])  # the top token alone holds more than p
    assert int((~torch.isinf(lab.run_top_p_filter(one, 0.2))).sum()) == 1


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5])
def test_top_p_rejects_bad_p(lab, p: float) -> None:
    with pytest.raises(ValueError):
        lab.run_top_p_filter(torch.randn(2, 5), p)


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, None), (0.7, 0.9), (1.5, 0.5), (0.2, None)])
def test_next_token_probs(lab, temperature: float, top_p: float | None) -> None:
    logits = torch.randn(4, 30) * 2
    got = lab.run_next_token_probs(logits, temperature, top_p)
    torch.testing.assert_close(got, next_token_probs(logits, temperature=temperature, top_p=top_p))
    torch.testing.assert_close(got.sum(-1), torch.ones(4))
    with pytest.raises(ValueError):
        lab.run_next_token_probs(logits, 0.0, top_p)


def test_cache_stores_and_returns_every_position(lab) -> None:
    cache = lab.make_cache(2, 3, 10, 4, f64)
    k1, v1 = torch.randn(2, 3, 4, 4, dtype=f64), torch.randn(2, 3, 4, 4, dtype=f64)
    k2, v2 = torch.randn(2, 3, 1, 4, dtype=f64), torch.randn(2, 3, 1, 4, dtype=f64)
    lab.run_cache_append(cache, k1, v1)
    keys, values = lab.run_cache_append(cache, k2, v2)
    assert lab.cache_length(cache) == 5 and keys.shape == (2, 3, 5, 4)
    torch.testing.assert_close(keys, torch.cat([k1, k2], 2))
    torch.testing.assert_close(values, torch.cat([v1, v2], 2))
    with pytest.raises(ValueError):
        lab.run_cache_append(cache, torch.randn(2, 3, 6, 4, dtype=f64), torch.randn(2, 3, 6, 4, dtype=f64))
    with pytest.raises(ValueError):
        lab.run_cache_append(cache, torch.randn(2, 2, 1, 4, dtype=f64), torch.randn(2, 2, 1, 4, dtype=f64))


@pytest.mark.parametrize("pieces", [[9], [1] * 9, [4, 1, 1, 3], [2, 5, 2]])
def test_cached_attention_equals_full_causal_attention(lab, pieces: list[int]) -> None:
    T = sum(pieces)
    q, k, v = (torch.randn(2, 3, T, 8, dtype=f64) for _ in range(3))
    ref, _ = scaled_dot_product_attention(q, k, v, causal_mask(T), need_weights=True)
    cache = lab.make_cache(2, 3, 16, 8, f64)
    outs, s = [], 0
    for n in pieces:
        outs.append(lab.run_cached_causal_attention(q[:, :, s:s + n], k[:, :, s:s + n], v[:, :, s:s + n], cache))
        s += n
    torch.testing.assert_close(torch.cat(outs, dim=2), ref)
    assert lab.cache_length(cache) == T
