"""Positional encodings against the papers' formulas (Vaswani et al. §3.5; Su et al. Eq. 34)."""

from __future__ import annotations

import math

import pytest
import torch

from efftx_mini.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_encoding,
)


@pytest.mark.parametrize("T,d", [(50, 16), (7, 6), (3, 5)])
def test_sinusoidal_table_is_the_papers_formula(T, d):
    pe = sinusoidal_encoding(T, d)
    assert pe.shape == (T, d)
    for pos in range(T):
        for j in range(d):
            i = j // 2
            angle = pos / 10000 ** (2 * i / d)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert pe[pos, j].item() == pytest.approx(expected, abs=1e-6)


def test_sinusoidal_module_adds_the_table():
    m = SinusoidalPositionalEncoding(8, max_len=20)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(m(x), x + sinusoidal_encoding(5, 8))
    assert list(m.parameters()) == []
    with pytest.raises(ValueError, match=r"exceeds max_len=20"):
        m(torch.randn(1, 21, 8))


def test_learned_embedding_adds_trainable_rows():
    m = LearnedPositionalEmbedding(4, max_len=10)
    x = torch.zeros(3, 6, 4)
    torch.testing.assert_close(m(x), m.weight[:6].expand(3, 6, 4))
    m(x).sum().backward()
    assert torch.all(m.weight.grad[:6] == 3) and torch.all(m.weight.grad[6:] == 0)


def rope_complex_reference(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """RoFormer Eq. (34) as complex multiplication: (x_{2i} + i x_{2i+1}) · e^{i m θ_i}."""
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    z = torch.complex(x[..., 0::2].double(), x[..., 1::2].double())
    rot = torch.polar(torch.ones_like(theta), positions.double()[:, None] * theta)
    out = torch.view_as_real(z * rot)  # (..., T, d/2, 2)
    return out.flatten(-2).to(x.dtype)


def test_rope_matches_complex_rotation():
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 3, 11, 8)
    pos = torch.arange(11)
    torch.testing.assert_close(rope(x), rope_complex_reference(x, pos), atol=1e-5, rtol=1e-5)
    shifted = torch.arange(5, 16)
    torch.testing.assert_close(rope(x, shifted), rope_complex_reference(x, shifted), atol=1e-5, rtol=1e-5)


def test_rope_relative_property():
    """⟨R_m q, R_n k⟩ depends on m and n only through m − n."""
    torch.manual_seed(0)
    rope = RotaryEmbedding(16)
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    rope = rope.double()

    def score(m: int, n: int) -> float:
        rq = rope(q[None, :].float(), torch.tensor([m])).double()
        rk = rope(k[None, :].float(), torch.tensor([n])).double()
        return float((rq * rk).sum())

    for offset in (-3, 0, 5):
        ref = score(10 + offset, 10)
        for m in (0, 7, 40):
            if m + offset >= 0:
                assert score(m + offset, m) == pytest.approx(ref, abs=1e-4)
    assert score(3, 0) != pytest.approx(score(0, 3), abs=1e-3)  # not symmetric in general
    # rotation keeps norms
    torch.testing.assert_close(rope(q[None].float()).norm(), q.float().norm())


def test_rope_rejects_odd_head_dim():
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7)
