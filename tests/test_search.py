"""Chapter 15: the search space, every proxy against a hand-computed value on a two-layer model, the rank
correlations against scipy, the supernet's slicing against a standalone model loaded by hand, the evolution."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats as st
import torch
import torch.nn.functional as F
from torch import nn

from efftx_mini.search.correlation import kendall_tau, paired_difference, rank_correlation, spearman_rho, tau_null_se
from efftx_mini.search.evolution import crossover, evolve, mutate
from efftx_mini.search.proxies import PROXIES, dss, flops, grad_norm, jacob_cov, naswot, ntk, params, snip, synflow
from efftx_mini.search.space import Arch, SearchSpace, arch_flops, build, closed_form_flops, space_for
from efftx_mini.search.supernet import SuperViT, UniformSampling, inherited_accuracy

SMALL = SearchSpace(patches=(7, 14), d_models=(8, 16), depths=(1, 2), heads=(1, 2), mlp_ratios=(1, 2))


# ----------------------------------------------------------------------------- the space

def test_space_size_sampler_and_keys() -> None:
    members = {Arch(p, d, hs, rs) for p in SMALL.patches for d in SMALL.d_models for L in SMALL.depths
               for hs in itertools.product(SMALL.heads, repeat=L)
               for rs in itertools.product(SMALL.mlp_ratios, repeat=L)}
    assert SMALL.size() == len(members) == 2 * 2 * (4 + 16)
    a = SMALL.sample_many(30, seed=3)
    assert a == SMALL.sample_many(30, seed=3) and a != SMALL.sample_many(30, seed=4)
    assert len(set(a)) == 30 and all(x in members for x in a)
    assert all(Arch.from_key(x.key) == x for x in a)
    assert space_for("cpu").size() == 3 * 4 * sum(9**L for L in (1, 2, 3, 4))
    with pytest.raises(ValueError, match="only 80"):
        SMALL.sample_many(81, seed=0)
    with pytest.raises(ValueError, match="must divide d_model"):
        Arch(7, 16, (3,), (1,))
    with pytest.raises(ValueError, match="not in the space"):
        build(Arch(4, 16, (1,), (1,)), SMALL)
    with pytest.raises(ValueError, match="architecture key"):
        Arch.from_key("vit-small")


def test_build_has_per_block_heads_and_widths_and_flops_match_the_counter() -> None:
    a = Arch(7, 16, (2, 1), (1, 2))
    m = build(a, SMALL)
    assert [b.n_heads for b in m.blocks] == [2, 1] and [b.d_ff for b in m.blocks] == [16, 32]
    assert m(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    cpu = space_for("cpu")
    for x in cpu.sample_many(6, seed=1):
        assert closed_form_flops(x, cpu) == arch_flops(x, cpu)


# ----------------------------------------------------------------------------- proxies on a two-layer model

class TwoLayer(nn.Module):
    """x (B, 3) → fc2(relu(first(x))) (B, 2); the first layer is named ``first`` (``fc1`` or ``proj``)."""

    def __init__(self, first: str = "fc1") -> None:
        super().__init__()
        self.first = first
        setattr(self, first, nn.Linear(3, 3, bias=False))
        self.fc2 = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            getattr(self, first).weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 3.0]]))
            self.fc2.weight.copy_(torch.tensor([[1.0, -1.0, 2.0], [0.5, 1.0, -1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(getattr(self, self.first)(x)))


W1 = np.array([[1.0, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 3.0]])
W2 = np.array([[1.0, -1.0, 2.0], [0.5, 1.0, -1.0]])
X = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 2.0], [-1.0, 0.5, 1.0], [2.0, 1.0, -1.0]])
Y = np.array([0, 1, 1, 0])


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(X, dtype=torch.float32), torch.tensor(Y)


def _manual_ce_grads() -> tuple[np.ndarray, np.ndarray]:
    """∂L/∂W1 and ∂L/∂W2 of the mean cross-entropy, by hand: δ = (softmax − onehot)/N, backprop through ReLU."""
    pre = X @ W1.T
    h = np.maximum(pre, 0)
    z = h @ W2.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    delta = (p - np.eye(2)[Y]) / len(X)
    g2 = delta.T @ h
    g1 = ((delta @ W2) * (pre > 0)).T @ X
    return g1, g2


def test_synflow_is_twice_the_path_sum() -> None:
    # |W|, ones input: every unit is active, R = 1ᵀ|W2||W1|1 and Σ|W ⊙ ∂R/∂W| = R for each of the two layers
    R = np.ones(2) @ np.abs(W2) @ np.abs(W1) @ np.ones(3)
    assert R == 1.5 * 1 + 2 * 2 + 3 * 3 == 14.5  # 1ᵀ|W2| = (1.5, 2, 3), |W1|1 = (1, 2, 3)
    assert synflow.score(TwoLayer(), _batch()) == pytest.approx(2 * R, rel=1e-12)
    # the batch only gives the input shape: a batch of negative images (a ReLU would zero them) scores the same
    x, y = _batch()
    assert synflow.score(TwoLayer(), (-x, y)) == pytest.approx(2 * R, rel=1e-12)


def test_synflow_makes_biases_positive_and_scores_the_weights_only() -> None:
    # fc1 bias b1 = (−0.5, −5, 1), fc2 bias (−1, 2): with |b1| every unit stays active (with b1 unit 2 would not),
    # h = |W1|1 + |b1|, R = 1ᵀ(|W2| h + |b2|); Σ|W1 ⊙ ∂R/∂W1| = (1ᵀ|W2|)|W1|1, Σ|W2 ⊙ ∂R/∂W2| = 1ᵀ|W2| h
    net = TwoLayer()
    net.fc1.bias = nn.Parameter(torch.tensor([-0.5, -5.0, 1.0]))
    net.fc2.bias = nn.Parameter(torch.tensor([-1.0, 2.0]))
    u = np.ones(2) @ np.abs(W2)
    want = u @ np.abs(W1) @ np.ones(3) + u @ (np.abs(W1) @ np.ones(3) + np.array([0.5, 5.0, 1.0]))
    assert want == 14.5 + 28.25
    assert synflow.score(net, _batch()) == pytest.approx(want, rel=1e-12)


def test_dss_nuclear_norm_on_attention_projections_and_saliency_elsewhere() -> None:
    R = 14.5
    assert dss.score(TwoLayer("fc1"), _batch()) == pytest.approx(2 * R, rel=1e-12)  # no attention: saliency only
    # proj: ∂R/∂W1 = (|W2|ᵀ1) 1ᵀ has rank one, ‖·‖_nuc = ‖|W2|ᵀ1‖·√3; ‖|W1|‖_nuc = 1 + 2 + 3 (diagonal)
    diversity = np.linalg.norm(np.abs(W2).T @ np.ones(2)) * math.sqrt(3) * 6.0
    t = dss.terms(TwoLayer("proj"), _batch())
    assert t["diversity"] == pytest.approx(diversity, rel=1e-12) and t["saliency"] == pytest.approx(R, rel=1e-12)
    assert dss.score(TwoLayer("proj"), _batch()) == pytest.approx(diversity + R, rel=1e-12)
    x, y = _batch()  # a ones input, whatever the batch holds
    assert dss.score(TwoLayer("proj"), (-x, y)) == pytest.approx(diversity + R, rel=1e-12)


class TwoTokens(nn.Module):
    """x (B, 3) → two tokens x + P_t → proj (3 → 3) → ReLU → flattened (B, 6) → fc2 (6 → 2): the gradient of
    ``proj`` sums one outer product per token, so it has rank two and its nuclear and Frobenius norms differ."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("P", torch.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 1.0]]))
        self.proj = nn.Linear(3, 3, bias=False)
        self.fc2 = nn.Linear(6, 2, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.tensor(W1, dtype=torch.float32))
            self.fc2.weight.copy_(torch.tensor(W2_TOKENS, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.proj(x[:, None, :] + self.P)).flatten(1))


W2_TOKENS = np.array([[1.0, -1.0, 2.0, 0.5, 0.0, -3.0], [0.5, 1.0, -1.0, -2.0, 1.0, 0.0]])


def test_dss_diversity_is_a_nuclear_norm_of_a_rank_two_gradient() -> None:
    # ones input, |θ|: token t enters proj as h_t = 1 + P_t; ∂R/∂W1 = Σ_t g_t h_tᵀ with g_t = the t-th block of
    # 1ᵀ|W2|; fc2 sees a = (|W1| h_0, |W1| h_1), its saliency is 1ᵀ|W2| a
    h = 1.0 + np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 1.0]])
    u = np.ones(2) @ np.abs(W2_TOKENS)
    G = sum(np.outer(u[3 * t:3 * t + 3], h[t]) for t in range(2))
    nuc = np.linalg.svd(G, compute_uv=False).sum()
    assert nuc > 1.01 * np.linalg.norm(G)  # rank two: the nuclear norm is not the Frobenius norm
    a = np.concatenate([np.abs(W1) @ h[0], np.abs(W1) @ h[1]])
    t = dss.terms(TwoTokens(), _batch())
    assert t["diversity"] == pytest.approx(nuc * 6.0, rel=1e-12)  # ‖|W1|‖_nuc = 1 + 2 + 3
    assert t["saliency"] == pytest.approx(u @ a, rel=1e-12)


def test_snip_and_grad_norm_from_hand_backprop() -> None:
    g1, g2 = _manual_ce_grads()
    assert snip.score(TwoLayer(), _batch()) == pytest.approx(np.abs(W1 * g1).sum() + np.abs(W2 * g2).sum(), rel=1e-5)
    assert grad_norm.score(TwoLayer(), _batch()) == pytest.approx(np.linalg.norm(g1) + np.linalg.norm(g2), rel=1e-5)


def test_jacob_cov_from_hand_jacobians() -> None:
    codes = (X @ W1.T > 0).astype(float)
    J = np.stack([W1.T @ (c * (W2.T @ np.ones(2))) for c in codes])  # ∂(Σ_k y_k)/∂x_i = W1ᵀ diag(c_i) W2ᵀ 1
    v = np.linalg.eigvalsh(np.corrcoef(J))
    want = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
    assert jacob_cov.score(TwoLayer(), _batch()) == pytest.approx(want, rel=1e-4)


def test_naswot_counts_agreeing_units() -> None:
    codes = (X @ W1.T > 0).astype(int)  # [[1,0,1],[1,1,1],[0,0,1],[1,0,0]]
    assert codes.tolist() == [[1, 0, 1], [1, 1, 1], [0, 0, 1], [1, 0, 0]]
    K = np.array([[3 - int(np.abs(a - b).sum()) for b in codes] for a in codes])  # N_A − Hamming
    assert K.tolist() == [[3, 2, 2, 2], [2, 3, 1, 1], [2, 1, 3, 1], [2, 1, 1, 3]]
    assert naswot.score(TwoLayer(), _batch()) == pytest.approx(math.log(np.linalg.det(K)), rel=1e-12)
    with pytest.raises(ValueError, match="no MLP layer named 'fc1'"):
        naswot.score(TwoLayer("proj"), _batch())


@pytest.mark.parametrize("method", ["autograd", "func"])
def test_ntk_from_hand_gradients(method: str) -> None:
    # g(x) = 1ᵀ W2 relu(W1 x): ∂g/∂W2 = 1 hᵀ, ∂g/∂W1 = (c ⊙ W2ᵀ1) xᵀ → Θ_ij = 2 h_i·h_j + (u_i·u_j)(x_i·x_j)
    c = (X @ W1.T > 0).astype(float)
    h, u = np.maximum(X @ W1.T, 0), c * (W2.T @ np.ones(2))
    theta = 2 * h @ h.T + (u @ u.T) * (X @ X.T)
    got = ntk.ntk_matrix(TwoLayer().double(), torch.tensor(X), method)
    np.testing.assert_allclose(got.numpy(), theta, rtol=1e-12)
    ev = np.linalg.eigvalsh(theta)
    assert ntk.score(TwoLayer().double(), (torch.tensor(X), torch.tensor(Y))) == pytest.approx(-ev[-1] / ev[0])


def test_ntk_two_ways_agree_on_a_vit() -> None:
    torch.manual_seed(0)
    m = build(Arch(14, 8, (2,), (2,)), SMALL).double()
    x = torch.rand(5, 1, 28, 28, dtype=torch.float64)
    a, b = ntk.ntk_matrix(m, x, "autograd"), ntk.ntk_matrix(m, x, "func")
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="method"):
        ntk.ntk_matrix(m, x, "finite-differences")


def test_baselines_and_that_no_proxy_changes_the_model() -> None:
    assert params.score(TwoLayer(), _batch()) == 9 + 6
    assert flops.score(TwoLayer(), _batch()) == 2 * (9 + 6)
    torch.manual_seed(0)
    m = build(Arch(7, 16, (2, 1), (2, 1)), SMALL)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    for name, fn in PROXIES.items():
        v = fn(m, (x, y))
        assert math.isfinite(v), name
        assert all(torch.equal(before[k], t) for k, t in m.state_dict().items()), name
        assert all(p.grad is None for p in m.parameters()), name


def test_bad_batches_name_what_was_expected() -> None:
    m = TwoLayer()
    with pytest.raises(ValueError, match="pair"):
        synflow.score(m, torch.rand(4, 3))
    with pytest.raises(ValueError, match="int64 of shape"):
        snip.score(m, (torch.rand(4, 3), torch.zeros(3, dtype=torch.long)))
    with pytest.raises(ValueError, match="at least 2"):
        jacob_cov.score(m, (torch.rand(1, 3), torch.zeros(1, dtype=torch.long)))


# ----------------------------------------------------------------------------- rank correlation

def test_tau_and_rho_match_scipy_with_ties_and_keep_the_sign() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 40).astype(float)
    y = x + rng.normal(size=40)
    assert kendall_tau(x, y) == pytest.approx(st.kendalltau(x, y).statistic, abs=1e-12)
    assert spearman_rho(x, y) == pytest.approx(st.spearmanr(x, y).statistic, abs=1e-12)
    assert kendall_tau(-x, y) == pytest.approx(-kendall_tau(x, y))
    r = rank_correlation(x, y, n_boot=500)
    assert r.tau_lo <= r.tau <= r.tau_hi and r.rho_lo <= r.rho <= r.rho_hi and r.tau > 0
    d, lo, hi = paired_difference(x, -x, y, n_boot=500)
    assert d == pytest.approx(2 * kendall_tau(x, y)) and lo > 0
    assert tau_null_se(48) == pytest.approx(0.0997, abs=1e-4)
    # the null SE matches a permutation experiment
    taus = [kendall_tau(rng.permutation(48), np.arange(48)) for _ in range(2000)]
    assert np.std(taus) == pytest.approx(tau_null_se(48), rel=0.08)
    with pytest.raises(ValueError, match="finite"):
        kendall_tau([1.0, float("nan")], [1.0, 2.0])


# ----------------------------------------------------------------------------- the supernet

def _slices_by_hand(sup: SuperViT, a: Arch) -> dict[str, torch.Tensor]:
    """The standalone state dict written out slice by slice (independent of SuperViT.extract)."""
    d, D = a.d_model, max(SMALL.d_models)
    st_: dict[str, torch.Tensor] = {
        "embed.proj.weight": sup.embeds[str(a.patch)].weight[:d], "embed.proj.bias": sup.embeds[str(a.patch)].bias[:d],
        "extra_tokens": sup.cls[:, :d], "positions.table": sup.positions[str(a.patch)][:, :d],
        "norm.weight": sup.norm.weight[:d], "norm.bias": sup.norm.bias[:d],
        "head.weight": sup.head.weight[:, :d], "head.bias": sup.head.bias}
    for i, r in enumerate(a.mlp_ratios):
        b = sup.blocks[i]
        q, k, v = b.qkv.weight[:D], b.qkv.weight[D:2 * D], b.qkv.weight[2 * D:]
        qb, kb, vb = b.qkv.bias[:D], b.qkv.bias[D:2 * D], b.qkv.bias[2 * D:]
        st_.update({
            f"blocks.{i}.norm1.weight": b.norm1.weight[:d], f"blocks.{i}.norm1.bias": b.norm1.bias[:d],
            f"blocks.{i}.qkv.weight": torch.cat([q[:d, :d], k[:d, :d], v[:d, :d]]),
            f"blocks.{i}.qkv.bias": torch.cat([qb[:d], kb[:d], vb[:d]]),
            f"blocks.{i}.proj.weight": b.proj.weight[:d, :d], f"blocks.{i}.proj.bias": b.proj.bias[:d],
            f"blocks.{i}.norm2.weight": b.norm2.weight[:d], f"blocks.{i}.norm2.bias": b.norm2.bias[:d],
            f"blocks.{i}.fc1.weight": b.fc1.weight[:r * d, :d], f"blocks.{i}.fc1.bias": b.fc1.bias[:r * d],
            f"blocks.{i}.fc2.weight": b.fc2.weight[:d, :r * d], f"blocks.{i}.fc2.bias": b.fc2.bias[:d]})
    return {k: v.detach().clone() for k, v in st_.items()}


def test_a_sliced_subnetwork_is_the_standalone_model_with_the_same_slices() -> None:
    torch.manual_seed(0)
    sup = SuperViT(SMALL).double()
    with torch.no_grad():  # non-trivial norms and biases, so that a wrong slice shows
        for p in sup.parameters():
            if p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    for a in SMALL.sample_many(12, seed=0):
        m = build(a, SMALL).double()
        m.load_state_dict(_slices_by_hand(sup, a), strict=True)
        torch.testing.assert_close(sup(x, a), m(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(sup.extract(a)(x), m(x), rtol=1e-12, atol=1e-12)


def test_weights_outside_the_slice_neither_matter_nor_learn() -> None:
    torch.manual_seed(0)
    sup = SuperViT(SMALL)
    a = Arch(7, 8, (2,), (1,))
    x = torch.rand(2, 1, 28, 28)
    before = sup(x, a)
    with torch.no_grad():
        sup.blocks[0].fc1.weight[8:] += 5.0  # hidden units 8.. belong only to wider sub-networks
        sup.blocks[1].qkv.weight += 5.0  # the second block is not used at depth 1
    torch.testing.assert_close(sup(x, a), before)
    sup(x, a).sum().backward()
    g = sup.blocks[0].fc1.weight.grad
    assert g[:8, :8].abs().sum() > 0 and g[8:].abs().sum() == 0 and g[:, 8:].abs().sum() == 0
    assert sup.blocks[1].qkv.weight.grad is None


def test_uniform_sampling_draws_a_new_subnetwork_per_training_call() -> None:
    torch.manual_seed(0)
    wrap = UniformSampling(SuperViT(SMALL), seed=1)
    x = torch.rand(2, 1, 28, 28)
    seen = set()
    for _ in range(8):
        wrap(x)
        seen.add(wrap.last)
    assert len(seen) > 4 and all(SMALL.contains(a) for a in seen)
    wrap.eval()
    torch.testing.assert_close(wrap(x), wrap.supernet(x, SMALL.largest))
    acc = inherited_accuracy(wrap.supernet, Arch(14, 8, (1,), (1,)), x, torch.tensor([0, 1]))
    assert acc in (0.0, 0.5, 1.0)


# ----------------------------------------------------------------------------- evolution

def test_mutation_and_crossover_stay_in_the_space() -> None:
    import random
    rng = random.Random(0)
    a, b = Arch(7, 8, (1, 2), (1, 2)), Arch(14, 16, (2, 2), (2, 1))
    for _ in range(50):
        assert SMALL.contains(mutate(a, SMALL, rng, 0.5, 0.5))
        c = crossover(a, b, rng)
        assert SMALL.contains(c) and c.depth == 2
    with pytest.raises(ValueError, match="same depth"):
        crossover(a, Arch(7, 8, (1,), (1,)), rng)


def test_evolution_respects_the_budget_and_beats_its_first_population() -> None:
    budget = 60_000
    legal = lambda a: closed_form_flops(a, SMALL) <= budget  # noqa: E731
    fit = lambda a: float(sum(p.numel() for p in build(a, SMALL).parameters()))  # noqa: E731
    res = evolve(SMALL, fit, legal, population=6, select=2, mutation=2, crossover_n=2, generations=4, seed=0)
    assert all(legal(Arch.from_key(k)) for k in res.scored)
    first = list(res.scored.values())[:6]
    assert res.best_fitness >= max(first) and res.best_fitness == max(res.scored.values())
    best_legal = max(fit(a) for a in SMALL.sample_many(SMALL.size(), 0) if legal(a))
    assert res.best_fitness == best_legal  # the small space is searched well enough to find the optimum
    again = evolve(SMALL, fit, legal, population=6, select=2, mutation=2, crossover_n=2, generations=4, seed=0)
    assert again.scored == res.scored
    with pytest.raises(ValueError, match="no legal"):
        evolve(SMALL, fit, lambda a: False, population=4, select=2, mutation=1, crossover_n=1, generations=1,
               max_tries=50)


def test_proxy_scores_are_finite_on_the_cpu_space() -> None:
    cpu = space_for("cpu")
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    for a in cpu.sample_many(2, seed=5):
        torch.manual_seed(0)
        m = build(a, cpu)
        assert all(math.isfinite(fn(m, (x, y))) for fn in PROXIES.values())


def test_snip_equals_mask_sensitivity() -> None:
    """|∂L/∂c| at c = 1 for a mask c on the weights (Lee et al.'s definition) equals |W ⊙ ∂L/∂W|."""
    m = TwoLayer()
    x, y = _batch()
    c1 = torch.ones(3, 3, requires_grad=True)
    c2 = torch.ones(2, 3, requires_grad=True)
    out = F.linear(torch.relu(F.linear(x, m.fc1.weight.detach() * c1)), m.fc2.weight.detach() * c2)
    F.cross_entropy(out, y).backward()
    assert snip.score(m, (x, y)) == pytest.approx(float(c1.grad.abs().sum() + c2.grad.abs().sum()), rel=1e-6)


def test_scatter_explorer_embeds_every_view_and_rejects_bad_input() -> None:
    from efftx_mini.static_explorer import scatter_explorer

    rng = np.random.default_rng(0)
    views = {(p, i): (rng.random(5), rng.random(5), f"{p} {i}") for p in ("dss", "params") for i in (0, 1)}
    ex = scatter_explorer(views, ["proxy", "init"], x_label="rank", y_label="accuracy")
    html = ex._repr_html_()
    assert 'data-efftx-explorer="1"' in html and "efftx-explorer-panel" in html and "</script><script>" in html
    np.testing.assert_allclose(ex.view("params", 1), np.array(views["params", 1][:2]), rtol=1e-3)
    assert ex.note("dss", 0) == "dss 0"
    assert ex.payload["controls"][1]["slider"] and not ex.payload["controls"][0]["slider"]
    assert sorted(ex.payload["views"]["dss|0"]["c"]) == list(range(5))  # colour = rank of x
    with pytest.raises(ValueError, match="every combination"):
        scatter_explorer({("a", 0): views["dss", 0], ("b", 1): views["dss", 1]}, ["p", "i"], x_label="x", y_label="y")
    with pytest.raises(ValueError, match="same number of points"):
        scatter_explorer({("a",): (np.ones(3), np.ones(3), ""), ("b",): (np.ones(4), np.ones(4), "")}, ["p"],
                         x_label="x", y_label="y")
    with pytest.raises(ValueError, match="NaN"):
        scatter_explorer({("a",): ([1.0, float("nan")], [1.0, 2.0], "")}, ["p"], x_label="x", y_label="y")


def test_pairwise_intervals_widen_with_the_level() -> None:
    from efftx_mini.search.evaluation import pairwise_differences

    rng = np.random.default_rng(2)
    acc = rng.random(30)
    archs = [{"arch": f"a{i}", "test_acc_mean": float(v)} for i, v in enumerate(acc)]
    prox = [{"arch": f"a{i}", "init": 0, "good": float(v + 0.1 * rng.normal()), "bad": float(rng.random()),
             "mid": float(v + 0.5 * rng.normal())} for i, v in enumerate(acc)]
    p95 = pairwise_differences(archs, prox, ["good", "bad", "mid"], n_boot=1000)
    p999 = pairwise_differences(archs, prox, ["good", "bad", "mid"], n_boot=1000, level=0.999)
    for k, (d, lo, hi) in p95.items():
        assert p999[k][0] == d and p999[k][1] <= lo <= d <= hi <= p999[k][2]
    assert p95["good", "bad"][1] > 0 and p95["bad", "good"][2] < 0


def test_vectorised_bootstrap_rows_match_the_scalar_statistics() -> None:
    from efftx_mini.search.correlation import _rho_rows, _tau_rows

    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, (7, 12)).astype(float)  # many ties
    y = x + rng.integers(0, 3, (7, 12))
    x[3] = 1.0  # a constant row: τ undefined
    t, r = _tau_rows(x, y), _rho_rows(x, y)
    for i in range(7):
        if i == 3:
            assert np.isnan(t[i]) and np.isnan(r[i])
            continue
        assert t[i] == pytest.approx(st.kendalltau(x[i], y[i]).statistic, abs=1e-12)
        assert r[i] == pytest.approx(st.spearmanr(x[i], y[i]).statistic, abs=1e-12)
