"""Block options of the second edition against references: RMSNorm by its formula, the trainable attention-branch
gain β_SA, the norm-free variant as in the authors' code, biases, ReLU, β_FF ∝ 1/√depth, and the zero W^K
gradient of shaped attention with W^Q = 0 (He & Hofmann 2024, §4.1–§4.4)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from efftx_mini.blocks import (
    BLOCKS,
    ParallelBlock,
    PreLNBlock,
    SASBlock,
    SASPBlock,
    ValueSkipInitBlock,
    beta_ff_for_depth,
    get_block,
    make_norm,
)
from efftx_mini.lm import DecoderOnlyLM

D, H, DFF, T, B = 32, 4, 128, 7, 2


def _rms_reference(x: torch.Tensor, g: torch.Tensor, eps: float) -> torch.Tensor:
    """Zhang & Sennrich 2019, Eq. (4): x / sqrt(mean(x²) + eps) · g."""
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def test_rms_norm_matches_its_formula_values_and_grads() -> None:
    torch.manual_seed(0)
    norm = make_norm("rms", D, eps=1e-5).double()
    with torch.no_grad():
        norm.weight.copy_(torch.rand(D, dtype=torch.float64) + 0.5)
    x = (3 * torch.randn(B, T, D, dtype=torch.float64) + 1).requires_grad_()
    g = norm.weight.detach().clone().requires_grad_()
    out, ref = norm(x), _rms_reference(x, g, 1e-5)
    torch.testing.assert_close(out, ref)
    w = torch.randn_like(out)
    gx, gg = torch.autograd.grad((out * w).sum(), (x, norm.weight))
    rx, rg = torch.autograd.grad((ref * w).sum(), (x, g))
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gg, rg)
    # no centring: RMSNorm differs from LayerNorm on inputs with a nonzero mean
    assert not torch.allclose(out, F.layer_norm(x, (D,)) * g)


@pytest.mark.parametrize("kind, cls", [("layer", nn.LayerNorm), ("rms", nn.RMSNorm), (None, nn.Identity),
                                       (True, nn.LayerNorm), (False, nn.Identity)])
def test_make_norm_kinds(kind: object, cls: type) -> None:
    assert type(make_norm(kind, D)) is cls


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.parametrize("norm", ["layer", "rms", None])
def test_every_block_takes_norm_bias_and_activation(name: str, norm: str | None) -> None:
    cls = get_block(name)
    blk = cls(D, H, DFF, causal=True, layer_idx=1, n_layers=2, norm=norm, bias=False, activation="relu")
    kinds = {type(m) for m in blk.modules()}
    expected = {"layer": nn.LayerNorm, "rms": nn.RMSNorm, None: nn.Identity}[norm]
    assert expected in kinds
    assert {nn.LayerNorm, nn.RMSNorm} - {expected} & kinds == set()
    assert not any(isinstance(m, nn.Linear) and m.bias is not None for m in blk.modules())
    x = torch.randn(B, T, D, requires_grad=True)
    y = blk(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_bad_norm_and_beta_ff_give_clear_errors() -> None:
    with pytest.raises(ValueError, match="norm must be one of"):
        SASPBlock(D, H, DFF, causal=True, norm="batch")
    with pytest.raises(ValueError, match="beta_ff must be a number or 'depth'"):
        SASBlock(D, H, DFF, causal=True, beta_ff="deep")
    with pytest.raises(ValueError, match="n_layers must be a positive int"):
        beta_ff_for_depth(0)


def test_norm_free_block_keeps_first_layer_and_final_norms_as_the_authors_code() -> None:
    """norm=None: identity norms, except block 0's input norm (a LayerNorm) and the LM's final LayerNorm."""
    first = SASPBlock(D, H, DFF, causal=True, layer_idx=0, n_layers=3, norm=None)
    later = SASPBlock(D, H, DFF, causal=True, layer_idx=1, n_layers=3, norm=None)
    assert isinstance(first.norm, nn.LayerNorm) and isinstance(later.norm, nn.Identity)
    bare = SASPBlock(D, H, DFF, causal=True, layer_idx=0, n_layers=3, norm=None, first_layer_norm=False)
    assert isinstance(bare.norm, nn.Identity)
    sas0 = SASBlock(D, H, DFF, causal=True, layer_idx=0, n_layers=3, norm=None)
    assert isinstance(sas0.norm1, nn.LayerNorm) and isinstance(sas0.norm2, nn.Identity)
    lm = DecoderOnlyLM("sas-p", 50, D, H, 3, DFF, max_len=T, block_kwargs={"norm": None})
    assert isinstance(lm.norm, nn.LayerNorm)
    assert sum(isinstance(m, nn.LayerNorm) for m in lm.modules()) == 2
    lm_bare = DecoderOnlyLM("sas-p", 50, D, H, 3, DFF, max_len=T,
                            block_kwargs={"norm": None, "first_layer_norm": False, "final_norm": False})
    assert not any(isinstance(m, nn.LayerNorm) for m in lm_bare.modules())


def test_beta_ff_scales_like_one_over_sqrt_depth() -> None:
    assert beta_ff_for_depth(18) == pytest.approx(0.1)
    assert beta_ff_for_depth(4) == pytest.approx(0.1 * math.sqrt(18 / 4))
    assert beta_ff_for_depth(72) == pytest.approx(0.05)
    blk = SASPBlock(D, H, DFF, causal=True, layer_idx=1, n_layers=8, beta_ff="depth")
    assert blk.beta_ff.item() == pytest.approx(0.1 * 1.5)
    assert ValueSkipInitBlock(D, H, DFF, causal=True, n_layers=2, beta_ff="depth").beta_ff.item() == pytest.approx(
        0.1 * 3.0)


@pytest.mark.parametrize("causal", [True, False])
def test_sasp_beta_sa_is_a_trainable_gain_with_the_formula_gradient(causal: bool) -> None:
    """X_out = β_SA·SA(N(X)) + β_FF·MLP(N(X)); at init SA(N(X)) = N(X) (layer > 0), so dL/dβ_SA = Σ G ⊙ N(X)."""
    torch.manual_seed(0)
    blk = SASPBlock(D, H, DFF, causal=causal, layer_idx=1, n_layers=2, norm="rms", activation="relu", bias=False)
    assert isinstance(blk.beta_sa, nn.Parameter) and blk.beta_sa.requires_grad and blk.beta_sa.item() == 1.0
    with torch.no_grad():
        blk.beta_sa.fill_(0.7)
        blk.norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(B, T, D, dtype=torch.float64)
    blk = blk.double()
    h = _rms_reference(x, blk.norm.weight, 1e-5)
    w1 = blk.fused_in.weight[2 * D:]
    ref = 0.7 * h + blk.beta_ff * (F.relu(h @ w1.T) @ blk.fc2.weight.T)
    out = blk(x)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    torch.testing.assert_close(blk.beta_sa.grad, (g * h).sum().detach())
    assert blk.beta_sa.grad.abs() > 0


def test_sas_beta_sa_scales_the_attention_branch_before_the_mlp() -> None:
    torch.manual_seed(0)
    blk = SASBlock(D, H, DFF, causal=True, layer_idx=1, n_layers=2)
    with torch.no_grad():
        blk.beta_sa.fill_(0.5)
    x = torch.randn(B, T, D)
    a = 0.5 * F.layer_norm(x, (D,))
    ref = a + 0.1 * blk.fc2(F.gelu(blk.fc1(F.layer_norm(a, (D,)))))
    torch.testing.assert_close(blk(x), ref, atol=1e-5, rtol=1e-5)
    blk(x).pow(2).sum().backward()
    assert blk.beta_sa.grad.abs() > 0


@pytest.mark.parametrize("cls", [SASBlock, SASPBlock])
@pytest.mark.parametrize("causal", [True, False])
def test_with_zero_queries_the_key_gradient_is_exactly_zero(cls: type, causal: bool) -> None:
    """W^Q = 0 ⇒ every score q·k is 0 ⇒ ∂L/∂k = (∂L/∂scores)·q = 0 exactly, so W^K gets no gradient at the first
    step, while W^Q does (its gradient is (∂L/∂scores)·k, nonzero)."""
    torch.manual_seed(0)
    blk = cls(D, H, DFF, causal=causal, layer_idx=1, n_layers=2)
    lin = blk.in_proj if cls is SASBlock else blk.fused_in
    x = torch.randn(B, T, D)
    (blk(x) * torch.randn(B, T, D)).sum().backward()
    assert torch.equal(lin.weight.grad[D: 2 * D], torch.zeros(D, D))
    assert torch.equal(lin.bias.grad[D: 2 * D], torch.zeros(D))
    assert lin.weight.grad[:D].abs().max() > 1e-6
    # after one optimiser step W^Q ≠ 0, and the keys start to learn
    with torch.no_grad():
        lin.weight[:D] -= 0.1 * lin.weight.grad[:D]
    blk.zero_grad()
    (blk(x) * torch.randn(B, T, D)).sum().backward()
    assert lin.weight.grad[D: 2 * D].abs().max() > 1e-8


def test_parallel_block_without_bias_still_equals_its_formula() -> None:
    torch.manual_seed(0)
    blk = ParallelBlock(D, H, DFF, causal=True, bias=False, norm="rms")
    w = blk.split_weights()
    assert "bq" not in w and blk.fused_out.bias is None
    x = torch.randn(B, T, D)
    h = blk.norm(x)
    q, k, v = ((h @ w[f"w{n}"].T).view(B, T, H, D // H).transpose(1, 2) for n in "qkv")
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D)
    ref = x + a @ w["wp"].T + F.gelu(h @ w["w1"].T) @ w["w2"].T
    torch.testing.assert_close(blk(x), ref, atol=1e-5, rtol=1e-5)


def test_pre_ln_defaults_unchanged_by_the_options() -> None:
    """Defaults still build PyTorch's layout: two LayerNorms and biases everywhere."""
    blk = PreLNBlock(D, H, DFF, causal=True)
    assert isinstance(blk.norm1, nn.LayerNorm) and blk.qkv.bias is not None and blk.fc2.bias is not None


SPREAD_KEYS = ("median", "lo", "hi", "q1", "q3", "n", "ci_lo", "ci_hi")


def _check_ratio(row: dict, key: str, n: int) -> None:
    """A stored speed ratio: every field, ordered as a spread is, with its A/A and the verdict those imply."""
    from efftx_mini.timing import Spread, verdict

    sp, aa = Spread.from_dict(row, f"{key}_"), Spread.from_dict(row, f"{key}_aa_")
    for s in (sp, aa):
        assert s.n == n and s.lo <= s.q1 <= s.median <= s.q3 <= s.hi
        assert s.lo <= s.ci_lo <= s.median <= s.ci_hi <= s.hi
    assert row[f"{key}_verdict"] == verdict(sp, aa)


def test_benchmarks_report_the_spread_of_every_ratio_and_no_profiler_lines(capfd: pytest.CaptureFixture[str]) -> None:
    """Structure of ``python -m efftx_mini.bench blocks --json``: every ratio with its CI, A/A and verdict; stderr
    stays clean."""
    import json

    from efftx_mini.bench import blocks as bench

    assert bench.main(["--json", "--d", "32", "--heads", "4", "--T", "8", "--batch", "1", "--layers", "2",
                       "--repeats", "5", "--blocks", "pre-ln,sas-p,sas-p (no norm)"]) == 0
    out, err = capfd.readouterr()
    assert "USDT" not in out + err and "profiler_stop" not in out + err
    res = json.loads(out)
    rows = {r["block"]: r for r in res["rows"]}
    assert res["meta"]["aa_control"] == "pre-ln" and res["meta"]["commit"] and res["meta"]["hardware"]
    for name in ("sas-p", "sas-p (no norm)"):
        _check_ratio(rows[name], "speed", 5)
        assert {k: rows[name][f"speed_aa_{k}"] for k in SPREAD_KEYS} == {
            k: rows["pre-ln"][f"speed_aa_{k}"] for k in SPREAD_KEYS}  # one A/A control for the whole run
    assert rows["pre-ln"]["speed_verdict"] == "reference" and "speed_median" not in rows["pre-ln"]
    assert rows["pre-ln"]["fwd_bwd_ms_aa_copy"] > 0


def test_bench_verdicts_follow_the_book_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """With planted timings, the stored verdicts are timing.verdict's: CI of the paired ratio and the A/A control."""
    from efftx_mini.bench import blocks as bench
    from efftx_mini.timing import aa_name

    load = [1.0, 3.0, 0.5, 2.0, 1.5, 0.8, 2.5]  # wild load drifts, shared by every contender in a round

    def planted(fns, repeats, warmup, device, aa_control):  # noqa: ANN001, ANN202
        assert aa_control == "pre-ln" and repeats == len(load)
        wobble = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98]  # a tie: the ratio's CI straddles 1
        return {"pre-ln": list(load), aa_name("pre-ln"): list(load),
                "sas": [t / 1.25 for t in load], "post-ln": [t * 1.25 for t in load],
                "parallel": [t * w for t, w in zip(load, wobble, strict=True)]}

    monkeypatch.setattr(bench, "time_interleaved", planted)
    res = bench.run(d=16, heads=2, T=4, batch=1, layers=2, repeats=len(load), memory=False,
                    names=["pre-ln", "sas", "post-ln", "parallel"])
    rows = {r["block"]: r for r in res["rows"]}
    assert rows["sas"]["speed_median"] == pytest.approx(1.25) and rows["sas"]["speed_verdict"] == "faster"
    assert rows["post-ln"]["speed_ci_hi"] == pytest.approx(0.8) and rows["post-ln"]["speed_verdict"] == "slower"
    assert rows["parallel"]["speed_ci_lo"] < 1 < rows["parallel"]["speed_ci_hi"]
    assert rows["parallel"]["speed_verdict"] == "within noise"
    assert rows["sas"]["speed_aa_ci_lo"] == rows["sas"]["speed_aa_ci_hi"] == 1.0

    def noisy(fns, repeats, warmup, device, aa_control):  # noqa: ANN001, ANN202
        out = planted(fns, repeats, warmup, device, aa_control)
        out[aa_name("pre-ln")] = [t / 1.3 for t in load]  # the same work timed 30% apart: the machine is noisy
        return out

    monkeypatch.setattr(bench, "time_interleaved", noisy)
    rows = {r["block"]: r for r in bench.run(d=16, heads=2, T=4, batch=1, layers=2, repeats=len(load),
                                              memory=False, names=["pre-ln", "sas", "post-ln", "parallel"])["rows"]}
    assert all(rows[n]["speed_verdict"].startswith("noisy machine") for n in ("sas", "post-ln", "parallel"))


def test_block_diagram_draws_every_block_and_writes_svg(tmp_path) -> None:  # noqa: ANN001
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from efftx_mini.blocks import diagram

    fig = diagram.draw_blocks()
    assert [ax.get_title() for ax in fig.axes] == ["Pre-LN", "Post-LN", "Parallel", "SAS", "SAS-P"]
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {r"$\beta_{SA}$", r"$\beta_{FF}$", "N", "LN", "MHA", "SA", "MLP"} <= texts
    plt.close(fig)
    # the simplified blocks have no skip into their first sum: SAS-P's sum has exactly the two branches
    assert sum(e[1] == "s1" for e in diagram.SPECS["SAS-P"]["edges"]) == 2
    assert sum(e[1] == "s1" for e in diagram.SPECS["Parallel"]["edges"]) == 3
    assert diagram.main([str(tmp_path / "blocks.svg")]) == 0
    assert (tmp_path / "blocks.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match="unknown block"):
        diagram.draw_block(plt.figure().gca(), "resnet")


def test_attention_and_train_benchmarks_give_ratio_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    """Every ratio of ``bench attention`` and ``bench train`` comes with its CI, min–max, IQR, A/A and verdict."""
    import json

    from efftx_mini.bench import attention, train
    from efftx_mini.timing import Spread

    assert attention.main(["--json", "--batch", "1", "--seq", "16", "--d-model", "32", "--heads", "4",
                           "--repeats", "4"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["impl"]: r for r in doc["rows"]}
    assert doc["meta"]["aa_control"] == "torch/fast" and set(rows) >= {"torch/fast (A/A)"}
    for impl, keys in (("ours/fast", ("fwd_speed_vs_torch", "fwd_bwd_speed_vs_torch", "fused_fwd_speedup")),
                       ("ours/weights", ("fwd_speed_vs_torch", "fwd_bwd_speed_vs_torch")),
                       ("core/fast", ("fused_fwd_speedup",))):
        for k in keys:
            _check_ratio(rows[impl], k, 4)
        # the A/A of a forward ratio is the forward rounds' control, that of a fwd+bwd ratio the fwd+bwd one's
        tag = "fwd_bwd" if keys[0].startswith("fwd_bwd") else "fwd"
        assert Spread.from_dict(rows[impl], f"{keys[0]}_aa_") == Spread.from_dict(rows["torch/fast (A/A)"],
                                                                                  f"{tag}_aa_")
    assert not any(k.startswith(("fused", "fwd_speed")) for k in rows["core/weights"])
    assert train.main(["--json", "--preset", "smoke", "--repeats", "4"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["model"]: r for r in doc["rows"]}
    _check_ratio(rows["efftx_mini"], "speed_vs_torch", 4)
    assert rows["torch.nn"]["speed_vs_torch_verdict"] == "reference" and doc["aa_control"] == "torch.nn"
    assert Spread.from_dict(rows["torch.nn (A/A)"], "speed_vs_torch_") == Spread.from_dict(
        rows["efftx_mini"], "speed_vs_torch_aa_")
