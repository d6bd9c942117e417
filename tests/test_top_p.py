"""Top-p (nucleus) truncation at the cut-off (issue 19, bug 2): ties, p exactly on a token boundary, and
``transformers``' TopPLogitsWarper where the two definitions agree.

The definition (Holtzman et al. 2020, §3.1, Eq. (2)): keep the smallest set of most probable tokens whose mass is
≥ p; a token is dropped when the tokens ranked above it already hold mass ≥ p.
"""

from __future__ import annotations

import math

import pytest
import torch

from efftx_mini.generate import filter_logits, next_token_probs


def kept(logits: torch.Tensor, p: float) -> int:
    return int(torch.isfinite(filter_logits(logits, top_p=p)).sum())


def test_issue_cases_ties_and_two_levels() -> None:
    # 50 equal tokens, p = 0.5: the first 25 hold exactly 0.5, so the nucleus is 25 tokens (float32 sums kept 26)
    assert kept(torch.zeros(1, 50), 0.5) == 25
    # 32,000 tokens at two logit levels: 9,566 at 2.0, the rest at 0.0; by the definition in exact arithmetic,
    # 9,566 + ⌈0.9·Z − 9,566·e²⌉ with Z = 9,566·e² + 22,434 (float32 sums from the top kept 22,686)
    n_hi, r = 9566, math.exp(2.0)
    Z = n_hi * r + (32000 - n_hi)
    expected = n_hi + math.ceil(0.9 * Z - n_hi * r)
    assert expected == 22689
    z = torch.zeros(1, 32000)
    z[:, :n_hi] = 2.0
    assert kept(z, 0.9) == expected


@pytest.mark.parametrize("n", [2, 3, 5, 6, 7, 10, 12, 13, 50, 99, 100, 128])
def test_p_on_a_token_boundary_with_ties_keeps_exactly_k(n: int) -> None:
    """n equal tokens and p = k/n: the first k hold exactly p, so exactly k stay, for every k."""
    z = torch.zeros(1, n)
    for k in range(1, n):
        assert kept(z, k / n) == k, (n, k)
        if k / n + 1e-6 < 1:  # just past the boundary: one more token is needed
            assert kept(z, k / n + 1e-6) == k + 1, (n, k)


def test_ties_at_the_cut_are_ranked_by_token_id_and_the_top_token_always_stays() -> None:
    z = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]])  # two tokens of mass e/(2e+3) each, three of 1/(2e+3)
    e = math.e
    p = (2 * e + 1) / (2 * e + 3)  # exactly the two large ones and one small one
    out = filter_logits(z, top_p=p)
    assert torch.isfinite(out).tolist() == [[True, True, False, True, False]]  # the small one with the lowest id
    assert torch.isfinite(filter_logits(torch.tensor([[5.0, 0.0, 0.0]]), top_p=1e-9)).sum() == 1


def test_float64_logits_and_batches_and_the_probabilities_renormalise() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 300, generator=g, dtype=torch.float64) * 2
    for p in (0.1, 0.5, 0.9, 0.99):
        out = filter_logits(z, top_p=p)
        probs = torch.softmax(z, -1)
        for b in range(4):
            keep = torch.isfinite(out[b])
            mass = float(probs[b][keep].sum())
            smallest = float(probs[b][keep].min())
            assert mass >= p and mass - smallest < p  # ≥ p, and minimal: without its least token it falls short
        q = next_token_probs(z, top_p=p)
        torch.testing.assert_close(q.sum(-1), torch.ones(4, dtype=q.dtype))


# --------------------------------------------------------------------------- against transformers

transformers = pytest.importorskip("transformers")
TopPLogitsWarper = transformers.generation.logits_process.TopPLogitsWarper


def hf_kept(logits: torch.Tensor, p: float) -> torch.Tensor:
    return torch.isfinite(TopPLogitsWarper(p, min_tokens_to_keep=1)(None, logits.clone()))


@pytest.mark.parametrize("seed", range(5))
def test_same_nucleus_as_transformers_where_the_definitions_agree(seed: int) -> None:
    """Distinct logits, no p within 1e-6 of a token boundary: the same set of tokens, row by row."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(8, 1000, generator=g) * 3
    probs = torch.softmax(z.double(), -1).sort(-1, descending=True).values.cumsum(-1)
    for p in (0.05, 0.3, 0.7, 0.9, 0.95):
        assert (probs - p).abs().min() > 1e-6  # away from a boundary, where float32 and float64 sums could disagree
        assert torch.equal(torch.isfinite(filter_logits(z, top_p=p)), hf_kept(z, p))


def test_where_transformers_differs_on_a_boundary() -> None:
    """TopPLogitsWarper sums float32 probabilities from the bottom and compares with 1 − p: on an exact boundary it
    can keep one token more than the definition (6 equal tokens, p = 1/6: 2 instead of 1). Documented in chapter 6."""
    z = torch.zeros(1, 6)
    assert int(hf_kept(z, 1 / 6).sum()) == 2
    assert kept(z, 1 / 6) == 1
    mismatches = sum(int(hf_kept(torch.zeros(1, n), k / n).sum()) != k for n in range(2, 60) for k in range(1, n))
    assert mismatches > 0  # so the comparison above must stay away from boundaries
