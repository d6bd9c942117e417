"""efftx_mini.compress: head gates, importance, structured removal, pruning orders, distillation."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from efftx_mini.attention import MultiHeadAttention
from efftx_mini.compress import (
    ShrunkMultiHeadAttention,
    ablation_scores,
    add_head_gates,
    attention_layers,
    distillation_loss,
    gate_values,
    head_importance,
    iterative_pruning,
    pruning_order,
    random_order,
    remove_heads,
    set_gates,
    shrink_attention,
    soft_target_loss,
)
from efftx_mini.transformer import Transformer


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _model(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    m = Transformer(11, 13, d_model=16, n_heads=4, n_layers=2, d_ff=24, dropout=0.0, max_len=32, pad_id=0)
    for p in m.parameters():  # non-zero biases, so that slicing them is tested too
        if p.dim() == 1:
            torch.nn.init.normal_(p, std=0.1)
    return m.eval()


def _batch(seed: int = 1, B: int = 3, S: int = 6, T: int = 5):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(1, 11, (B, S), generator=g)
    src[0, -2:] = 0  # padding
    tgt = torch.randint(1, 13, (B, T + 1), generator=g)
    return src, tgt[:, :-1], tgt[:, 1:]


def _loss(model, batch) -> torch.Tensor:
    src, tin, tout = batch
    logits = model(src, tin)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tout.reshape(-1))


# -- gates ------------------------------------------------------------------------------------------
def test_gates_of_one_change_nothing_values_and_gradients():
    a, b = _model(), _model()
    layers = add_head_gates(b)
    assert len(layers) == 6 and all(m.head_gates is not None for m in layers.values())
    assert all(m.head_gates is None for m in attention_layers(a).values())
    batch = _batch()
    la, lb = _loss(a, batch), _loss(b, batch)
    la.backward()
    lb.backward()
    assert torch.equal(la, lb)  # bit-identical
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa.grad, pb.grad), n


def test_gate_keyword_and_state_dict():
    m = MultiHeadAttention(8, 2, head_gates=True)
    assert torch.equal(m.head_gates, torch.ones(2)) and "head_gates" in m.state_dict()
    assert "head_gates" not in MultiHeadAttention(8, 2).state_dict()


def test_zero_gate_removes_exactly_that_heads_term():
    torch.manual_seed(0)
    m = MultiHeadAttention(12, 3, head_gates=True)
    x = torch.randn(2, 5, 12)
    q, k, v = m.head_projections(x, x, x)
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(4), -1) @ v  # (B, H, T, d_h)
    W = m.out_proj.weight  # (d, H d_h)
    per_head = [att[:, h] @ W[:, 4 * h: 4 * h + 4].T for h in range(3)]
    m.head_gates[1] = 0.0
    want = per_head[0] + per_head[2] + m.out_proj.bias
    torch.testing.assert_close(m(x, x, x)[0], want, rtol=1e-12, atol=1e-12)


def test_set_gates_errors():
    m = _model()
    with pytest.raises(ValueError, match="no attention layer named 'nope'"):
        set_gates(m, [("nope", 0)])
    with pytest.raises(ValueError, match=r"must be in \[0, 4\), got 4"):
        set_gates(m, [("encoder.layers.0.self_attn", 4)])
    with pytest.raises(ValueError, match="no efftx_mini.attention.MultiHeadAttention"):
        attention_layers(torch.nn.Linear(2, 2))


# -- importance -------------------------------------------------------------------------------------
def test_importance_equals_finite_differences_and_sum_over_batches():
    m = _model()
    batches = [_batch(1), _batch(2)]
    raw = head_importance(m, batches, _loss, normalize=False)
    gates = gate_values(m)
    eps = 1e-5
    for n, g in gates.items():
        for h in range(4):
            total = 0.0
            for b in batches:
                with torch.no_grad():
                    g[h] = 1 + eps
                    up = float(_loss(m, b))
                    g[h] = 1 - eps
                    dn = float(_loss(m, b))
                    g[h] = 1.0
                total += abs((up - dn) / (2 * eps))  # |∂L_b/∂ξ_h| per batch, then summed
            assert raw[n][h].item() == pytest.approx(total, rel=1e-6, abs=1e-8), (n, h)
    norm = head_importance(m, batches, _loss)
    for n in raw:
        torch.testing.assert_close(norm[n], raw[n] / raw[n].norm())
        assert norm[n].norm().item() == pytest.approx(1.0)
    assert all(p.grad is None for p in m.parameters())  # parameter gradients untouched
    assert all(not g.requires_grad for g in gate_values(m).values())


def test_importance_equals_hand_formula_for_one_layer():
    """∂L/∂ξ_h = Σ_{b,t} ⟨∂L/∂y_{bt}, (Att_h W^O_h)_{bt}⟩ for y = MultiHead(x)."""
    torch.manual_seed(3)
    m = MultiHeadAttention(12, 3, head_gates=True)
    x = torch.randn(2, 5, 12)
    target = torch.randn(2, 5, 12)

    def loss_fn(model, xb):
        return ((model(xb, xb, xb)[0] - target) ** 2).sum()

    y = m(x, x, x)[0]
    dy = 2 * (y - target)
    q, k, v = m.head_projections(x, x, x)
    att = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1) @ v
    W = m.out_proj.weight
    hand = torch.stack([(dy * (att[:, h] @ W[:, 4 * h: 4 * h + 4].T)).sum() for h in range(3)]).abs()
    scores = head_importance(torch.nn.Sequential(m), [x], lambda mod, xb: loss_fn(mod[0], xb), normalize=False)
    torch.testing.assert_close(scores["0"], hand.detach())


def test_importance_of_a_gated_off_head_is_zero_and_leaves_the_norm_to_live_heads():
    """On a partly pruned layer the score is |Att_h^T ∂L/∂Att_h| of the gated head output (the authors' code):
    0 for a head with ξ_h = 0, so the layer's ℓ2 normalisation runs over the live heads only."""
    torch.manual_seed(4)
    m = MultiHeadAttention(12, 3, head_gates=True)
    x, target = torch.randn(2, 5, 12), torch.randn(2, 5, 12)
    with torch.no_grad():
        m.head_gates[1] = 0.0

    def loss_fn(mod, xb):
        return ((mod[0](xb, xb, xb)[0] - target) ** 2).sum()

    dy = 2 * (m(x, x, x)[0] - target)
    q, k, v = m.head_projections(x, x, x)
    att = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1) @ v
    W = m.out_proj.weight
    gated = [m.head_gates[h] * (att[:, h] @ W[:, 4 * h: 4 * h + 4].T) for h in range(3)]  # ξ_h Att_h W^O_h
    hand = torch.stack([(dy * gated[h]).sum() for h in range(3)]).abs().detach()
    assert hand[1] == 0 and (hand[[0, 2]] > 0).all()
    raw = head_importance(torch.nn.Sequential(m), [x], loss_fn, normalize=False)["0"]
    torch.testing.assert_close(raw, hand)
    norm = head_importance(torch.nn.Sequential(m), [x], loss_fn)["0"]
    torch.testing.assert_close(norm, hand / hand[[0, 2]].norm())
    assert m.head_gates.tolist() == [1.0, 0.0, 1.0]  # gates left as they were


def test_ablation_scores_against_direct_gating():
    m = _model()
    b = _batch()
    scores = ablation_scores(m, [b], _loss)
    with torch.no_grad():
        base = float(_loss(m, b))
        set_gates(m, [("decoder.layers.1.cross_attn", 2)])
        assert scores["decoder.layers.1.cross_attn"][2].item() == pytest.approx(float(_loss(m, b)) - base)
        set_gates(m)
        assert float(_loss(m, b)) == base


def test_importance_errors():
    m = _model()
    with pytest.raises(ValueError, match="at least one batch"):
        head_importance(m, [], _loss)
    with pytest.raises(ValueError, match="must return a scalar"):
        head_importance(m, [_batch()], lambda mod, b: mod(b[0], b[1]).sum(-1))


# -- structured removal -----------------------------------------------------------------------------
REMOVE = {"encoder.layers.0.self_attn": [1, 3], "decoder.layers.1.cross_attn": [0],
          "decoder.layers.0.self_attn": [2, 0, 1]}


def test_removal_equals_gating_values_and_gradients():
    gated, shrunk = _model(), _model()
    set_gates(gated, [(n, h) for n, hs in REMOVE.items() for h in hs])
    n_before = sum(p.numel() for p in shrunk.parameters())
    remove_heads(shrunk, REMOVE)
    n_after = sum(p.numel() for p in shrunk.parameters())
    d_h, d = 4, 16
    assert n_before - n_after == 6 * (4 * d * d_h + 3 * d_h)  # 6 heads: 4 d×d_h blocks and 3 d_h biases each
    layer = shrunk.encoder.layers[0].self_attn
    assert isinstance(layer, ShrunkMultiHeadAttention) and layer.n_heads == 2
    assert layer.in_proj_weight.shape == (24, 16) and layer.out_proj.weight.shape == (16, 8)
    b = _batch()
    lg, ls = _loss(gated, b), _loss(shrunk, b)
    torch.testing.assert_close(ls, lg, rtol=1e-12, atol=1e-12)
    lg.backward()
    ls.backward()
    # gradients of the kept slices agree; untouched layers' gradients agree everywhere
    g_full = gated.encoder.layers[0].self_attn.in_proj_weight.grad
    keep_rows = torch.cat([torch.arange(h * 4, h * 4 + 4) + i * 16 for i in range(3) for h in (0, 2)])
    keep_rows = keep_rows.view(3, 2, 4).reshape(-1)
    torch.testing.assert_close(layer.in_proj_weight.grad, g_full[keep_rows], rtol=1e-10, atol=1e-12)
    g_o = gated.encoder.layers[0].self_attn.out_proj.weight.grad
    torch.testing.assert_close(layer.out_proj.weight.grad, g_o[:, [0, 1, 2, 3, 8, 9, 10, 11]], rtol=1e-10,
                               atol=1e-12)
    torch.testing.assert_close(shrunk.encoder.layers[1].self_attn.in_proj_weight.grad,
                               gated.encoder.layers[1].self_attn.in_proj_weight.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(shrunk.generator.weight.grad, gated.generator.weight.grad, rtol=1e-10, atol=1e-12)


def test_shrunk_layer_with_mask_and_weights_and_greedy_decode():
    gated, shrunk = _model(), _model()
    set_gates(gated, [(n, h) for n, hs in REMOVE.items() for h in hs])
    remove_heads(shrunk, REMOVE)
    src, _, _ = _batch()
    assert torch.equal(gated.greedy_decode(src, 8, 1, 2), shrunk.greedy_decode(src, 8, 1, 2))
    maps = shrunk.attention_maps(src, _batch()[1])
    assert maps["decoder_self"][0].shape[1] == 1 and maps["encoder_self"][1].shape[1] == 4


def test_shrink_keeps_gates_and_can_shrink_twice():
    torch.manual_seed(0)
    m = MultiHeadAttention(16, 4, head_gates=True)
    m.head_gates[2] = 0.5
    x = torch.randn(2, 3, 16)
    with torch.no_grad():
        m.head_gates[0] = 0.0
        want = m(x, x, x)[0]
    s = shrink_attention(shrink_attention(m, [0]), [1])  # second call: index 1 of the kept [1, 2, 3] = head 2
    m.head_gates[2] = 0.0
    torch.testing.assert_close(s(x, x, x)[0], m(x, x, x)[0])
    assert s.n_heads == 2 and s.head_gates.tolist() == [1.0, 1.0]
    assert not torch.allclose(want, m(x, x, x)[0])


def test_removal_errors():
    m = _model()
    with pytest.raises(ValueError, match="cannot remove all 4 heads"):
        remove_heads(m, {"encoder.layers.0.self_attn": [0, 1, 2, 3]})
    with pytest.raises(ValueError, match=r"must be in \[0, 4\), got \[7\]"):
        remove_heads(m, {"encoder.layers.0.self_attn": [7]})
    with pytest.raises(ValueError, match="distinct"):
        remove_heads(m, {"encoder.layers.0.self_attn": [1, 1]})
    with pytest.raises(ValueError, match="no attention layer named"):
        remove_heads(m, {"encoder.layers.9.self_attn": [1]})
    with pytest.raises(TypeError, match="MultiHeadAttention"):
        shrink_attention(torch.nn.Linear(3, 3), [0])
    gqa = MultiHeadAttention(16, 4)
    gqa.n_kv_heads = 2  # a grouped K/V layout (another chapter's feature) cannot be sliced head by head
    with pytest.raises(ValueError, match="n_kv_heads=2"):
        shrink_attention(gqa, [0])
    shrunk = shrink_attention(MultiHeadAttention(16, 4), [0])
    x = torch.randn(1, 2, 16)
    with pytest.raises(ValueError, match=r"\(B, H', T_q, T_k\)"):
        shrunk(x, x, x, torch.ones(1, 4, 2, 2, dtype=torch.bool))


# -- pruning orders ---------------------------------------------------------------------------------
def test_pruning_order_and_floor():
    scores = {"a": torch.tensor([0.3, 0.1, 0.2]), "b": torch.tensor([0.05, 0.9])}
    assert pruning_order(scores) == [("b", 0), ("a", 1), ("a", 2)]  # each layer keeps one head
    assert pruning_order(scores, keep_min=2) == [("a", 1)]
    assert pruning_order(scores, done=(("a", 1),)) == [("b", 0), ("a", 2)]
    r = random_order(scores, seed=0)
    assert len(r) == 3 and sum(n == "b" for n, _ in r) == 1
    assert random_order(scores, seed=0) == r
    # random: ignores the scores and changes with the seed
    many = {tuple(random_order(scores, seed=s)) for s in range(20)}
    assert len(many) > 2 and all(len(o) == 3 for o in many)
    with pytest.raises(ValueError, match="keep_min"):
        pruning_order(scores, keep_min=0)
    with pytest.raises(ValueError, match=r"shape \(H,\)"):
        pruning_order({"a": torch.zeros(2, 2)})


def test_iterative_pruning_rescores_the_gated_model():
    m = _model()
    calls = []

    def score(model):
        calls.append({n: g.clone() for n, g in gate_values(model).items()})
        return head_importance(model, [_batch()], _loss)

    order = iterative_pruning(m, score, n_prune=5, step=2)
    assert len(order) == 5 and len(set(order)) == 5 and len(calls) == 3
    assert float(sum(c.sum() for c in calls[1].values())) == 24 - 2  # second scoring sees 2 heads off
    off = {(n, h) for n, g in gate_values(m).items() for h in range(4) if g[h] == 0}
    assert off == set(order)
    first = pruning_order(head_importance(_model(), [_batch()], _loss))[:2]  # the first step sees all gates 1
    assert order[:2] == first
    with pytest.raises(ValueError, match="can be pruned"):
        iterative_pruning(_model(), score, n_prune=19)


# -- distillation -----------------------------------------------------------------------------------
def test_distillation_loss_against_hand_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    y = torch.tensor([[1, 4, -100], [0, 2, 3]])
    tau, alpha = 3.0, 0.7
    soft_sum, hard_sum, n = 0.0, 0.0, 0
    for i in range(2):
        for j in range(3):
            if y[i, j] == -100:
                continue
            zs, zt = s[i, j].tolist(), t[i, j].tolist()
            ps = [math.exp(z / tau) / sum(math.exp(w / tau) for w in zs) for z in zs]
            pt = [math.exp(z / tau) / sum(math.exp(w / tau) for w in zt) for z in zt]
            soft_sum += sum(a * math.log(a / b) for a, b in zip(pt, ps, strict=True))
            hard_sum += -math.log(math.exp(zs[y[i, j]]) / sum(math.exp(w) for w in zs))
            n += 1
    want = alpha * tau**2 * soft_sum / n + (1 - alpha) * hard_sum / n
    got = distillation_loss(s, t, y, temperature=tau, alpha=alpha)
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_soft_target_gradient_is_p_minus_q_over_tau_times_tau_squared():
    """Hinton et al. 2015, Eq. 2: ∂C/∂z_i = (q_i − p_i)/τ (q student, p teacher); × τ² → τ (q_i − p_i)."""
    g = torch.Generator().manual_seed(1)
    s = torch.randn(4, 6, generator=g, requires_grad=True)
    t = torch.randn(4, 6, generator=g)
    tau = 2.5
    soft_target_loss(s, t, tau).backward()
    want = tau * (torch.softmax(s.detach() / tau, -1) - torch.softmax(t / tau, -1)) / 4  # mean over 4 rows
    torch.testing.assert_close(s.grad, want)
    assert soft_target_loss(t, t, tau).item() == pytest.approx(0.0, abs=1e-12)


def test_distillation_limits_and_errors():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    y = torch.tensor([0, 1, 2])
    assert distillation_loss(s, t, y, alpha=0.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    assert distillation_loss(s, t, y, alpha=1.0, temperature=1.0).item() == pytest.approx(
        F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean").item())
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(s, t[:, :4], y)
    with pytest.raises(ValueError, match="targets must have shape"):
        distillation_loss(s, t, y[:2])
    with pytest.raises(ValueError, match="temperature must be positive"):
        soft_target_loss(s, t, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(s, t, y, alpha=1.5)
    with pytest.raises(ValueError, match="keep"):
        soft_target_loss(s, t, keep=torch.ones(3))


# -- the benchmark and the experiment run end to end at toy sizes -----------------------------------------
def test_bench_prune_runs_and_shrunk_matches_masked():
    from efftx_mini.bench.prune import run
    from efftx_mini.timing import Spread, aa_name, verdict

    torch.set_default_dtype(torch.float32)
    res = run(d=16, heads=4, layers=1, batch=2, T=4, T_layer=4, remove=2, repeats=3, warmup=0,
              device=torch.device("cpu"))
    rows = {(r["scope"], r["variant"]): r for r in res["rows"]}
    assert set(rows) == {(s, v) for s in ("layer", "model") for v in ("full", "masked", "shrunk", aa_name("full"))}
    assert rows[("layer", "shrunk")]["params"] == rows[("layer", "full")]["params"] - 2 * (4 * 16 * 4 + 3 * 4)
    assert all(r["max_abs_diff_shrunk_vs_masked"] < 1e-5 for r in res["rows"])
    for r in res["rows"]:  # every ratio carries median, CI, min–max, IQR and n, plus the scope's A/A ratio
        for pre in ("speedup_", "aa_"):
            assert {f"{pre}{k}" for k in ("median", "ci_lo", "ci_hi", "lo", "hi", "q1", "q3", "n")} <= set(r)
            assert r[f"{pre}lo"] <= r[f"{pre}ci_lo"] <= r[f"{pre}median"] <= r[f"{pre}ci_hi"] <= r[f"{pre}hi"]
            assert r[f"{pre}q1"] <= r[f"{pre}median"] <= r[f"{pre}q3"] and r[f"{pre}n"] == 3
    for scope in ("layer", "model"):
        aa_row = rows[(scope, aa_name("full"))]
        assert aa_row["speedup_median"] == aa_row["aa_median"]  # the A/A row's ratio is the A/A control itself
        assert rows[(scope, "full")]["speedup_median"] == 1.0 and rows[(scope, "full")]["verdict"] == "reference"
        for var in ("masked", "shrunk"):  # the stored verdict is the book's rule applied to the stored intervals
            r = rows[(scope, var)]
            assert r["verdict"] == verdict(Spread.from_dict(r, "speedup_"), Spread.from_dict(r, "aa_"))
    assert {"command", "commit", "hardware", "repeats", "rule"} <= set(res["meta"])
    with pytest.raises(ValueError, match="remove must be"):
        run(d=16, heads=4, remove=4)
    with pytest.raises(ValueError, match="repeats must be at least 2"):
        run(d=16, heads=4, remove=1, repeats=1)


def test_bench_prune_verdicts_on_planted_timings(monkeypatch):
    """The rows' ratios and verdicts follow from the timings: planted rounds in place of the clock."""
    from efftx_mini.bench import prune
    from efftx_mini.timing import aa_name

    load = [1.0, 3.0, 0.5, 2.0, 1.5, 4.0]  # per-round load, shared by the contenders of a round
    wobble = [1.0, 1.02, 0.98, 1.01, 0.99, 1.0]
    planted = {  # seed 0 = layer scope, seed 1 = model scope (run passes seed + scope index)
        0: {"full": load, aa_name("full"): list(load), "masked": [t * 1.25 for t in load],
            "shrunk": [t / 2 for t in load]},
        1: {"full": load, aa_name("full"): [t / 1.3 for t in load],  # the A/A copy always 30% faster: noisy
            "masked": [t * w for t, w in zip(load, wobble, strict=True)], "shrunk": [t / 1.5 for t in load]},
    }
    seen = []

    def fake(fns, repeats, warmup, device, seed=0, aa_control=None, shuffle=True):
        seen.append((set(fns), aa_control, repeats))
        return planted[seed]

    monkeypatch.setattr(prune, "time_interleaved", fake)
    res = prune.run(d=16, heads=4, layers=1, batch=2, T=4, T_layer=4, remove=2, repeats=6, warmup=0,
                    device=torch.device("cpu"))
    assert seen == [({"full", "masked", "shrunk"}, "full", 6)] * 2
    rows = {(r["scope"], r["variant"]): r for r in res["rows"]}
    assert rows[("layer", "shrunk")]["speedup_median"] == pytest.approx(2.0)
    assert rows[("layer", "shrunk")]["verdict"] == "faster"
    assert rows[("layer", "masked")]["speedup_median"] == pytest.approx(0.8)
    assert rows[("layer", "masked")]["verdict"] == "slower"
    assert rows[("layer", "full")]["aa_median"] == pytest.approx(1.0)
    # a machine whose A/A interval excludes 1 supports no claim, however large the ratio
    assert rows[("model", "shrunk")]["speedup_median"] == pytest.approx(1.5)
    assert rows[("model", "shrunk")]["verdict"].startswith("noisy machine")
    assert rows[("model", "full")]["aa_median"] == pytest.approx(1.3)
    # with a clean A/A control, ratios scattered around 1 are within noise
    planted[1][aa_name("full")] = list(load)
    res = prune.run(d=16, heads=4, layers=1, batch=2, T=4, T_layer=4, remove=2, repeats=6, warmup=0,
                    device=torch.device("cpu"))
    rows = {(r["scope"], r["variant"]): r for r in res["rows"]}
    assert rows[("model", "masked")]["verdict"] == "within noise"
    assert rows[("model", "shrunk")]["verdict"] == "faster"


def test_bench_prune_main_writes_json(capsys):
    from efftx_mini.bench.prune import main

    assert main(["--json", "--d", "16", "--heads", "4", "--layers", "1", "--batch", "2", "--T", "4",
                 "--T-layer", "4", "--remove", "1", "--repeats", "2", "--warmup", "0"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["meta"]["command"].startswith("python -m efftx_mini.bench prune --json")
    assert len(res["rows"]) == 8


def test_curve_auc_is_the_trapezoid_rule():
    from efftx_mini.experiments.compress import curve_auc

    assert curve_auc([0.0, 1.0], [1.0, 1.0]) == pytest.approx(1.0)
    assert curve_auc([0.0, 0.5, 1.0], [1.0, 1.0, 0.0]) == pytest.approx(0.75)
    xs = [0.0, 0.1, 0.35, 0.5]
    ys = [0.9, 0.8, 0.2, 0.1]
    brute = sum((b - a) * (u + v) / 2 for a, b, u, v in zip(xs, xs[1:], ys, ys[1:], strict=False))
    assert curve_auc(xs, ys) == pytest.approx(brute, rel=1e-12)
    # a curve that is higher everywhere has the larger area
    assert curve_auc(xs, [y + 0.05 for y in ys]) > curve_auc(xs, ys)
    with pytest.raises(ValueError, match="increase strictly"):
        curve_auc([0.0, 0.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="two equally long"):
        curve_auc([0.0, 1.0], [1.0])


def test_experiment_smoke_writes_results_and_resumes(tmp_path):
    from efftx_mini.experiments import compress as experiment

    torch.set_default_dtype(torch.float32)
    res = experiment.run("smoke", tmp_path)
    assert len(res["seeds"]) == 1 and {"command", "commit", "hardware"} <= set(res)
    rec = res["seeds"][0]
    orders = {r["order"] for r in rec["curves"]}
    assert orders == {"importance", "iterative", "ablation", "random"}
    for name in orders:  # the stored area is the trapezoid rule over the stored curve
        rows = [r for r in rec["curves"] if r["order"] == name]
        want = experiment.curve_auc([r["fraction"] for r in rows], [r["exact"] for r in rows])
        assert rec["auc_exact"][name] == pytest.approx(want, abs=1e-6)
    assert rec["prunable_within_1pt"]["params_shrunk"] <= rec["prunable_within_1pt"]["params_full"]
    # the stored normalised importance is the stored raw one over its layer's ℓ2 norm; the ablation order is the
    # pruning order of the stored ablation scores
    layers = list(dict.fromkeys(h["layer"] for h in rec["heads"]))
    raw = {n: torch.tensor([h["importance_raw"] for h in rec["heads"] if h["layer"] == n]) for n in layers}
    norm = experiment.normalize_per_layer(raw)
    for h in rec["heads"]:
        assert h["importance"] == pytest.approx(float(norm[h["layer"]][h["head"]]), abs=1e-6)
        assert {"importance_raw_smoothed", "ablation_smoothed"} <= set(h)
    abl = {n: torch.tensor([h["ablation"] for h in rec["heads"] if h["layer"] == n]) for n in layers}
    assert [tuple(x) for x in rec["orders"]["ablation"]] == pruning_order(abl)
    assert rec["smoothing"] == 0.1
    assert not list(tmp_path.glob("teacher_seed*"))  # checkpoints removed once a seed is done
    again = experiment.run("smoke", tmp_path)  # resumes: reads the finished seeds instead of training
    assert again["seeds"] == res["seeds"] and again["this_invocation_s"] < res["this_invocation_s"]


def test_teacher_schedule_peaks_within_its_training():
    """The teacher's Noam warmup is about a third of its steps in every preset, so its learning rate peaks."""
    from efftx_mini.experiments.compress import config_for

    for preset in ("smoke", "cpu", "gpu"):
        cfg = config_for(preset)
        assert 0 < cfg.teacher_warmup <= cfg.teacher_steps / 2, (preset, cfg.teacher_warmup, cfg.teacher_steps)
        assert 0 < cfg.student_warmup < cfg.student_steps, (preset, cfg.student_warmup, cfg.student_steps)


def test_smoothed_token_loss_against_hand_formula():
    """The teacher's loss per target token: Σ_i q_i (log q_i − log p_i) over non-pad labels, averaged, with
    q = 1 − ε on the true token and ε/(V − 2) on every other token but <pad>; ε = 0 gives the cross-entropy."""
    from efftx_mini.data import PAD, make_batch
    from efftx_mini.experiments.compress import smoothed_token_loss, token_loss

    m = _model()
    g = torch.Generator().manual_seed(5)
    src = torch.randint(4, 11, (3, 6), generator=g)
    tgt = torch.randint(4, 13, (3, 6), generator=g)
    tgt[:, 0] = 1  # <bos>
    tgt[1, -2:] = PAD  # padded labels do not count
    batch = make_batch(src, tgt)
    eps, V = 0.1, 13
    with torch.no_grad():
        logp = torch.log_softmax(m(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask), -1)
    total, n = 0.0, 0
    for b in range(3):
        for t in range(batch.tgt_out.shape[1]):
            y = int(batch.tgt_out[b, t])
            if y == PAD:
                continue
            q = torch.full((V,), eps / (V - 2))
            q[PAD], q[y] = 0.0, 1 - eps
            live = q > 0
            total += float((q[live] * (q[live].log() - logp[b, t, live])).sum())
            n += 1
    assert n == batch.n_tokens == 3 * 5 - 2
    # (the loss is computed in float32, as the teacher's training loss is)
    with torch.no_grad():
        got, got0, ce = smoothed_token_loss(eps)(m, batch), smoothed_token_loss(0.0)(m, batch), token_loss(m, batch)
    assert float(got) == pytest.approx(total / n, rel=1e-5)
    assert float(got0) == pytest.approx(float(ce), rel=1e-5)
    # the two losses differ by more than the constant entropy of q: their gate gradients differ
    raw_ce = head_importance(m, [batch], token_loss, normalize=False)
    raw_ls = head_importance(m, [batch], smoothed_token_loss(eps), normalize=False)
    assert any(not torch.allclose(raw_ce[k], raw_ls[k]) for k in raw_ce)


def test_normalize_per_layer_is_head_importances_normalisation():
    from efftx_mini.experiments.compress import normalize_per_layer

    m = _model()
    batches = [_batch(1), _batch(2)]
    raw = head_importance(m, batches, _loss, normalize=False)
    norm = normalize_per_layer(raw)
    want = head_importance(m, batches, _loss)  # an independent path: normalize=True inside head_importance
    assert set(norm) == set(want)
    for k in want:
        torch.testing.assert_close(norm[k], want[k])
        assert norm[k].norm().item() == pytest.approx(1.0)
        assert torch.equal(norm[k].argsort(), raw[k].argsort())  # ranks within a layer unchanged
    zero = normalize_per_layer({"a": torch.zeros(3)})["a"]  # a layer of dead heads: zeros, not NaN
    assert torch.equal(zero, torch.zeros(3))


def test_teacher_trains_with_the_configured_warmup(tmp_path):
    """The teacher's Trainer gets the experiment's warmup, not chapter 5's preset (400 steps)."""
    from efftx_mini.experiments import compress as experiment
    from efftx_mini.train import TrainConfig

    cfg = experiment.config_for("smoke")
    assert cfg.teacher_warmup != TrainConfig.preset("numbers", "cpu").warmup
    tr = experiment._teacher(cfg, 0, tmp_path)
    assert tr.cfg.warmup == cfg.teacher_warmup
    assert tr.step == cfg.teacher_steps and not tr.model.training
