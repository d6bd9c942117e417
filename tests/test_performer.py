"""Chapter 10: Performer (FAVOR+) — unbiased softmax-kernel estimate with variance ∝ 1/m, orthogonal blocks,
equal to its quadratic form (values and gradients, fp64), causal prefix sums, feature redraw."""

import math

import pytest
import torch

from efftx_mini.attention import scaled_dot_product_attention
from efftx_mini.efficient import ATTENTIONS, get_attention
from efftx_mini.efficient.linear_time import LINEAR_TIME_ATTENTIONS
from efftx_mini.efficient.lra_model import LRAClassifier, redraw_features
from efftx_mini.efficient.performer import (
    Performer,
    default_n_features,
    orthogonal_gaussian,
    performer_attention,
    performer_features,
)


def _phi(x, w):
    """φ(x) = exp(ωᵀx' − ‖x'‖²/2) / √m, x' = x / d^{1/4}, written out without any stabiliser (Lemma 1)."""
    m, d = w.shape[-2:]
    xs = x / d ** 0.25
    return torch.exp(xs @ w.transpose(-2, -1) - (xs * xs).sum(-1, keepdim=True) / 2) / math.sqrt(m)


def _estimates(q, k, m, draws, orthogonal, seed=0):
    """φ(q)·φ(k) for ``draws`` independent projections of m features (m a multiple of d): (draws,) estimates.

    One call draws draws·m rows; its blocks of d rows are independent, so consecutive groups of m rows are
    independent projections of m features, each with m/d orthogonal blocks."""
    d = q.shape[-1]
    assert m % d == 0
    w = orthogonal_gaussian(m * draws, d, generator=torch.Generator().manual_seed(seed), orthogonal=orthogonal,
                            dtype=torch.float64).reshape(draws, m, d)
    return (_phi(q, w) * _phi(k, w)).sum(-1)


def _qk(d=8, seed=3, scale=0.6):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(d, generator=g, dtype=torch.float64) for _ in range(2))


@pytest.mark.parametrize("orthogonal", [True, False])
def test_feature_map_is_an_unbiased_estimate_of_the_softmax_kernel(orthogonal):
    """The mean over random draws of φ(q)·φ(k) approaches exp(q·k/√d) within a few standard errors."""
    q, k = _qk()
    true = math.exp(float(q @ k) / math.sqrt(q.numel()))
    est = _estimates(q, k, m=16, draws=20_000, orthogonal=orthogonal)
    se = float(est.std()) / math.sqrt(est.numel())
    assert se < 0.005 * true  # enough draws that the test has power: a 4-SE band of at most ±2 %
    assert abs(float(est.mean()) - true) < 4 * se, (float(est.mean()), true, se)
    # the same estimator without the −‖x‖²/2 correction is biased far outside that band (the test can fail)
    d = q.numel()
    w = orthogonal_gaussian(16 * 2000, d, generator=torch.Generator().manual_seed(1), orthogonal=orthogonal,
                            dtype=torch.float64).reshape(2000, 16, d)
    biased = (torch.exp(q / d ** 0.25 @ w.transpose(-2, -1)) * torch.exp(k / d ** 0.25 @ w.transpose(-2, -1)))
    assert abs(float(biased.sum(-1).mean() / 16) - true) > 20 * se


@pytest.mark.parametrize("orthogonal", [True, False])
def test_variance_falls_as_one_over_m(orthogonal):
    """Var[φ(q)·φ(k)] ∝ 1/m: log-log slope −1 ± 0.15 over m = d … 16d, and ratio ≈ 4 between m and 4m."""
    q, k = _qk()
    d, draws = q.numel(), 20_000
    ms = [d, 2 * d, 4 * d, 8 * d, 16 * d]
    var = [float(_estimates(q, k, m, draws, orthogonal, seed=10 + i).var()) for i, m in enumerate(ms)]
    x = torch.log(torch.tensor(ms, dtype=torch.float64))
    y = torch.log(torch.tensor(var, dtype=torch.float64))
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
    assert -1.15 < slope < -0.85, (slope, var)
    for m_small, m_big in ((0, 2), (2, 4)):  # m and 4m
        assert 3.2 < var[m_small] / var[m_big] < 5.0, var


def test_orthogonal_features_have_lower_variance_than_iid():
    """§2.4, Theorem 2 (§3): orthogonal random features lower the estimator's variance (by about 12 % at m = d here)."""
    q, k = _qk()
    v_ort = float(_estimates(q, k, 8, 40_000, True, seed=5).var())
    v_iid = float(_estimates(q, k, 8, 40_000, False, seed=6).var())
    assert v_ort < 0.93 * v_iid, (v_ort, v_iid)


def test_projection_blocks_are_orthogonal_with_gaussian_lengths():
    d, m = 6, 20  # three full blocks and a partial one
    g = torch.Generator().manual_seed(0)
    w = orthogonal_gaussian(m, d, generator=g, dtype=torch.float64)
    assert w.shape == (m, d)
    for b in range(0, m, d):
        blk = w[b:b + d]
        gram = blk @ blk.T
        off = gram - torch.diag(torch.diagonal(gram))
        assert off.abs().max() < 1e-10 * gram.abs().max()  # rows of one block: exactly orthogonal
    cross = (w[:d] @ w[d:2 * d].T).abs().max()
    assert cross > 0.1  # rows of different blocks are independent, not orthogonal
    norms = w.norm(dim=-1)
    assert norms.std() > 0.1  # lengths vary (χ_d), not a constant √d
    many = torch.cat([orthogonal_gaussian(d, d, generator=g, dtype=torch.float64) for _ in range(2000)])
    assert abs(float((many ** 2).sum(-1).mean()) - d) < 0.15  # E‖ω‖² = d, as for a Gaussian row
    assert abs(float(many.mean())) < 0.02 and abs(float(many.var()) - 1) < 0.05  # each coordinate ~ N(0, 1)


def _qkv(B=2, H=2, T=13, d=4, dv=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, H, T, n, generator=g, dtype=torch.float64, requires_grad=True)
                 for n in (d, d, dv))


def _quadratic(q, k, v, w, causal, keep=None):
    """Q'K'ᵀ written out with the same features (no stabilisers): (A V) / rowsum(A)."""
    a = _phi(q, w) @ _phi(k, w).transpose(-2, -1)
    if causal:
        a = a * torch.ones(a.shape[-2:], dtype=torch.bool).tril()
    if keep is not None:
        a = a * keep
    return (a @ v) / a.sum(-1, keepdim=True)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("chunk", [1, 5, 64])
@pytest.mark.parametrize("padding", [False, True])
def test_equals_its_quadratic_form_values_and_gradients(causal, chunk, padding):
    """Non-causal right product and causal chunked prefix sums = the explicit Q'K'ᵀ attention (fp64)."""
    q, k, v = _qkv()
    w = orthogonal_gaussian(12, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mask = keep = None
    if padding:
        mask = torch.ones(2, 1, 1, 13, dtype=torch.bool)
        mask[1, ..., 9:] = False
        keep = mask.double()
    out = performer_attention(q, k, v, mask, causal=causal, projection=w, chunk=chunk, eps=0.0)[0]
    ref = _quadratic(q, k, v, w, causal, keep)
    assert torch.allclose(out, ref, atol=1e-10, rtol=1e-8), (out - ref).abs().max()
    gw = torch.randn_like(out)
    g1 = torch.autograd.grad((out * gw).sum(), (q, k, v))
    g2 = torch.autograd.grad((ref * gw).sum(), (q, k, v))
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, atol=1e-9, rtol=1e-7), (a - b).abs().max()


def test_stabilisers_cancel_and_large_inputs_stay_finite():
    q, k, v = _qkv(T=7)
    w = orthogonal_gaussian(8, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    plain = _quadratic(q, k, v, w, False)
    with torch.no_grad():
        big_q, big_k = 40 * q, 40 * k  # exp(ωᵀx') alone would overflow float32
        out = performer_attention(big_q.float(), big_k.float(), v.float(), projection=w.float())[0]
    assert torch.isfinite(out).all()
    fq, fk = performer_features(q, w, is_query=True), performer_features(k, w, is_query=False)
    assert (fq > 0).all() and (fk > 0).all()
    stab = (fq @ fk.transpose(-2, -1)) @ v / (fq @ fk.transpose(-2, -1)).sum(-1, keepdim=True)
    assert torch.allclose(stab, plain, atol=1e-12)


def test_approaches_softmax_attention_as_m_grows():
    q, k, v = (t.detach() * 0.5 for t in _qkv(T=16, d=8, seed=4))
    exact = scaled_dot_product_attention(q, k, v)[0]

    def err(m, seed):
        w = orthogonal_gaussian(m, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        return float((performer_attention(q, k, v, projection=w)[0] - exact).abs().mean())

    small = sum(err(8, s) for s in range(20)) / 20
    large = sum(err(512, s) for s in range(20)) / 20
    assert large < small / 4, (small, large)


def test_registry_and_module_share_the_family_call():
    assert "performer" in LINEAR_TIME_ATTENTIONS and "performer" in ATTENTIONS
    q, k, v = (t.detach() for t in _qkv(T=9))
    for causal in (False, True):
        out = get_attention("performer")(q, k, v, None, causal=causal)
        assert out.shape == (2, 2, 9, 3) and torch.isfinite(out).all()
        att = Performer(4, 8, seed=0).double()
        out2, weights = att(q, k, v, None, causal=causal, need_weights=True)
        assert out2.shape == (2, 2, 9, 3) and weights.shape == (2, 2, 9, 9)
        assert torch.allclose(weights @ v, out2, atol=1e-6)
    assert default_n_features(16) == 48 and default_n_features(32) == 128


def test_feature_redraw_explicit_every_n_steps_and_resume():
    q, k, v = (t.detach().float() for t in _qkv(T=9))
    a, b = Performer(4, 8, seed=7), Performer(4, 8, seed=7)
    assert torch.equal(a.projection, b.projection)  # seeded: reproducible
    p0 = a.projection.clone()
    out0 = a(q, k, v)[0]
    a.redraw()
    assert not torch.allclose(a.projection, p0) and not torch.allclose(a(q, k, v)[0], out0)
    b.load_state_dict(a.state_dict())  # the draw counter and the features travel with the state dict
    assert torch.equal(a(q, k, v)[0], b(q, k, v)[0])
    a.redraw(), b.redraw()
    assert torch.equal(a.projection, b.projection)  # resumes the same sequence of draws

    c = Performer(4, 8, redraw_every=3, seed=1)
    seen = []
    for _ in range(7):
        seen.append(c.projection.clone())
        c(q, k, v)
    changes = [i for i in range(1, 7) if not torch.equal(seen[i], seen[i - 1])]
    assert changes == [4], changes  # calls 0-2 share the first draw, 3-5 the second (redrawn before call 3)
    c.eval()
    p = c.projection.clone()
    for _ in range(5):
        c(q, k, v)
    assert torch.equal(c.projection, p)  # no redraw outside training
    with pytest.raises(ValueError, match="redraw_every"):
        Performer(4, redraw_every=0)


def test_model_layers_draw_their_own_features_and_leave_the_global_rng_alone():
    torch.manual_seed(0)
    soft = LRAClassifier(20, 3, 16, "softmax", d_model=8, n_heads=2, n_layers=2, d_ff=16)
    torch.manual_seed(0)
    perf = LRAClassifier(20, 3, 16, "performer", d_model=8, n_heads=2, n_layers=2, d_ff=16)
    shared = {n: t for n, t in soft.state_dict().items()}
    for n, t in perf.state_dict().items():
        if n in shared:
            assert torch.equal(t, shared[n]), n  # same seed, same weights as the softmax model
    p = [m.fn.projection.clone() for m in (layer.self_attn for layer in perf.layers)]
    assert not torch.equal(p[0], p[1])  # each layer has its own features
    assert redraw_features(perf) == 2
    assert not torch.equal(perf.layers[0].self_attn.fn.projection, p[0])
    x = torch.randint(1, 20, (2, 10))
    assert perf(x).shape == (2, 3)


def test_clear_errors():
    q, k, v = (t.detach() for t in _qkv(T=6))
    with pytest.raises(ValueError, match=r"projection must have shape \(m, d\)"):
        performer_attention(q, k, v, projection=torch.randn(8, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="key-padding"):
        performer_attention(q, k, v, torch.ones(6, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="positive number of features"):
        orthogonal_gaussian(0, 4)
