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


def test_benchmarks_report_the_spread_of_every_ratio_and_no_profiler_lines(capfd: pytest.CaptureFixture[str]) -> None:
    """Structure of ``python -m efftx_mini.bench blocks --json``: ratios with min–max, verdicts; stderr stays clean."""
    import json

    from efftx_mini.bench import blocks as bench
    from efftx_mini.timing import Spread

    assert bench.main(["--json", "--d", "32", "--heads", "4", "--T", "8", "--batch", "1", "--layers", "2",
                       "--repeats", "3", "--blocks", "pre-ln,sas-p,sas-p (no norm)"]) == 0
    out, err = capfd.readouterr()
    assert "USDT" not in out + err and "profiler_stop" not in out + err
    rows = {r["block"]: r for r in json.loads(out)["rows"]}
    for r in rows.values():
        assert r["speed_lo"] <= r["speed_vs_pre_ln"] <= r["speed_hi"] and r["speed_n"] == 3
        assert r["speed_q1"] <= r["speed_q3"]
    assert rows["pre-ln"]["speed_verdict"] == "reference"
    assert bench.verdict(Spread(1.1, 1.01, 1.2, 1.05, 1.15, 5)) == "faster"
    assert bench.verdict(Spread(1.1, 0.99, 1.2, 1.05, 1.15, 5)) == "within noise"
    assert bench.verdict(Spread(0.9, 0.8, 0.95, 0.85, 0.92, 5)) == "slower"


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


def test_attention_and_train_benchmarks_give_ratio_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    """Every ratio of ``bench attention`` and ``bench train`` comes with its min–max and IQR in the JSON."""
    import json

    from efftx_mini.bench import attention, train

    assert attention.main(["--json", "--batch", "1", "--seq", "16", "--d-model", "32", "--heads", "4",
                           "--repeats", "3"]) == 0
    rows = {r["impl"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    for impl, keys in (("ours/fast", ("fwd_vs_torch", "fwd_bwd_vs_torch", "fused_fwd_speedup")),
                       ("ours/weights", ("fwd_vs_torch", "fwd_bwd_vs_torch")), ("core/fast", ("fused_fwd_speedup",))):
        for k in keys:
            r = rows[impl]
            assert r[f"{k}_lo"] <= r[k] <= r[f"{k}_hi"] and r[f"{k}_q1"] <= r[f"{k}_q3"]
    assert rows["core/weights"]["fused_fwd_speedup"] == ""
    assert train.main(["--json", "--preset", "smoke", "--repeats", "3"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    ours = rows["efftx_mini"]
    assert ours["vs torch lo"] <= ours["vs torch"] <= ours["vs torch hi"]
    assert ours["robust"] == (ours["vs torch lo"] > 1 or ours["vs torch hi"] < 1)
    assert rows["torch.nn"]["vs torch"] == 1.0 and rows["torch.nn"]["robust"] is False
