"""Blocks against the paper's formulas (He & Hofmann 2024) and against PyTorch's own TransformerEncoderLayer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from efftx_mini.blocks import (
    BLOCKS,
    ParallelBlock,
    PostLNBlock,
    PreLNBlock,
    SASBlock,
    SASPBlock,
    ValueSkipInitBlock,
    centering_matrix,
    depth_cosines,
    get_block,
    matrix_params,
    shaped_attention,
    shaped_attention_matrices,
    uniform_average,
)

D, H, DFF, T, B = 32, 4, 128, 7, 2
ALL = [(name, {}) for name in BLOCKS] + [("sas", {"norm": False}), ("sas-p", {"norm": False})]


def _perturb(block: nn.Module, scale: float = 0.3) -> nn.Module:
    """Move every parameter away from its initial value so no test passes because of a zero init."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return block


# ----------------------------------------------------------------------------- shaped attention, Eq. (6)

@pytest.mark.parametrize("causal", [True, False])
def test_centering_matrix_is_the_uniform_attention(causal: bool) -> None:
    C = centering_matrix(5, causal)
    scores = torch.zeros(5, 5)
    if causal:
        scores = scores.masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
    torch.testing.assert_close(C, torch.softmax(scores, -1))
    torch.testing.assert_close(C.sum(-1), torch.ones(5))


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("cls", [SASBlock, SASPBlock])
def test_shaped_attention_is_identity_at_init(cls: type, causal: bool) -> None:
    torch.manual_seed(0)
    blk = cls(D, H, DFF, causal=causal, layer_idx=1, n_layers=2)
    x = torch.randn(B, T, D)
    m = blk.attention_matrices(x)
    torch.testing.assert_close(m["A"], torch.eye(T).expand(B, H, T, T), atol=1e-6, rtol=0)
    torch.testing.assert_close(m["S"], m["C"])  # W^Q = 0 → softmax is the uniform averaging matrix
    assert torch.all(blk.shaped.alpha == 1) and torch.all(blk.shaped.beta == 1) and torch.all(blk.shaped.gamma == 1)
    assert torch.all(blk.in_proj.weight[:D] == 0) if cls is SASBlock else torch.all(blk.fused_in.weight[:D] == 0)


@pytest.mark.parametrize("causal", [True, False])
def test_sas_blocks_output_at_init_follow_the_formulas(causal: bool) -> None:
    """Identity values/projections and A = I: SAS gives X̂ + 0.1·MLP(LN(X̂)) with X̂ = LN(X);
    SAS-P gives LN(X) + 0.1·MLP(LN(X))."""
    torch.manual_seed(0)
    x = torch.randn(B, T, D)
    sas = SASBlock(D, H, DFF, causal=causal, layer_idx=1, n_layers=2)
    h = F.layer_norm(x, (D,))
    mlp = sas.fc2(F.gelu(sas.fc1(F.layer_norm(h, (D,)))))
    torch.testing.assert_close(sas(x), h + 0.1 * mlp, atol=1e-5, rtol=1e-5)
    sasp = SASPBlock(D, H, DFF, causal=causal, layer_idx=1, n_layers=2)
    w1, b1 = sasp.fused_in.weight[2 * D:], sasp.fused_in.bias[2 * D:]
    mlp = sasp.fc2(F.gelu(h @ w1.T + b1))
    torch.testing.assert_close(sasp(x), h + 0.1 * mlp, atol=1e-5, rtol=1e-5)
    # first layer: a trainable value matrix, initialised to the identity
    first = SASPBlock(D, H, DFF, causal=causal, layer_idx=0, n_layers=2)
    torch.testing.assert_close(first.fused_in.weight[2 * D: 3 * D], torch.eye(D))
    assert first.fused_in.weight.shape == (3 * D + DFF, D)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("causal", [True, False])
def test_fused_and_explicit_shaped_attention_agree_values_and_grads(causal: bool, masked: bool) -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, T, 8, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    a, b, c = (torch.rand(H, generator=g, dtype=torch.float64).add(0.5).requires_grad_() for _ in range(3))
    mask = None
    if masked:
        mask = torch.rand(B, 1, T, T, generator=g) > 0.3
        mask[..., 0] = True
    fused = shaped_attention(q, k, v, a, b, c, causal=causal, mask=mask)
    explicit = shaped_attention_matrices(q, k, a, b, c, causal=causal, mask=mask)["A"] @ v
    torch.testing.assert_close(fused, explicit)
    w = torch.randn(fused.shape, generator=g, dtype=torch.float64)
    g1 = torch.autograd.grad((fused * w).sum(), (q, k, v, a, b, c))
    g2 = torch.autograd.grad((explicit * w).sum(), (q, k, v, a, b, c))
    for x1, x2 in zip(g1, g2, strict=True):
        torch.testing.assert_close(x1, x2)


@pytest.mark.parametrize("causal", [True, False])
def test_uniform_average_is_C_times_V(causal: bool) -> None:
    v = torch.randn(B, H, T, 8, dtype=torch.float64)
    torch.testing.assert_close(uniform_average(v, causal), centering_matrix(T, causal, dtype=torch.float64) @ v)


@pytest.mark.parametrize("cls", [SASBlock, SASPBlock, ValueSkipInitBlock])
@pytest.mark.parametrize("causal", [True, False])
def test_block_fused_path_equals_explicit_path(cls: type, causal: bool) -> None:
    torch.manual_seed(0)
    blk = _perturb(cls(D, H, DFF, causal=causal, layer_idx=0, n_layers=2)).double()
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    y1, y2 = blk(x), blk(x, explicit=True)
    torch.testing.assert_close(y1, y2)
    g1 = torch.autograd.grad(y1.square().sum(), [x, *blk.parameters()])
    g2 = torch.autograd.grad(y2.square().sum(), [x, *blk.parameters()])
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)


def test_value_skipinit_is_identity_at_init() -> None:
    """Eq. (5): A ← αI + βA with α = 1, β = 0, so the attention matrix starts as I."""
    blk = ValueSkipInitBlock(D, H, DFF, causal=True)
    m = blk.attention_matrices(torch.randn(B, T, D))
    torch.testing.assert_close(m["A"], torch.eye(T).expand(B, H, T, T))
    assert torch.all(blk.alpha == 1) and torch.all(blk.beta == 0)


# ----------------------------------------------------------------------------- parameter accounting

@pytest.mark.parametrize("d", [32, 64])
def test_simplified_blocks_have_10_over_12_of_pre_ln_matrix_parameters(d: int) -> None:
    """§4.2: W^V and W^P go, so 4d² + 8d² = 12d² becomes 2d² + 8d² = 10d² (d_ff = 4d, layers > 0)."""
    pre = matrix_params(PreLNBlock(d, 4, 4 * d, causal=True, layer_idx=1, n_layers=2))
    assert pre == 12 * d * d
    assert matrix_params(ParallelBlock(d, 4, 4 * d, causal=True, layer_idx=1, n_layers=2)) == 12 * d * d
    for cls in (SASBlock, SASPBlock):
        n = matrix_params(cls(d, 4, 4 * d, causal=True, layer_idx=1, n_layers=2))
        assert n == 10 * d * d and n / pre == pytest.approx(10 / 12, abs=0)
        first = matrix_params(cls(d, 4, 4 * d, causal=True, layer_idx=0, n_layers=2))
        assert first == 11 * d * d  # the trainable first-layer value matrix


# ----------------------------------------------------------------------------- causality, references

@pytest.mark.parametrize("name,kw", ALL)
def test_no_causal_leakage(name: str, kw: dict) -> None:
    torch.manual_seed(0)
    blk = _perturb(get_block(name)(D, H, DFF, causal=True, layer_idx=0, n_layers=2, **kw))
    x = torch.randn(B, T, D)
    y = blk(x)
    for t in range(T - 1):
        x2 = x.clone()
        x2[:, t + 1:] = torch.randn(B, T - t - 1, D)
        torch.testing.assert_close(blk(x2)[:, : t + 1], y[:, : t + 1], atol=1e-5, rtol=1e-5)
    # the encoder version does look ahead
    enc = _perturb(get_block(name)(D, H, DFF, causal=False, layer_idx=0, n_layers=2, **kw))
    x2 = x.clone()
    x2[:, -1] = torch.randn(B, D)
    assert not torch.allclose(enc(x2)[:, 0], enc(x)[:, 0])


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("cls,norm_first", [(PreLNBlock, True), (PostLNBlock, False)])
def test_standard_blocks_match_torch_transformer_encoder_layer(cls: type, norm_first: bool, causal: bool) -> None:
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(D, H, DFF, dropout=0.0, activation="gelu", batch_first=True,
                                     norm_first=norm_first).double()
    _perturb(ref)
    blk = cls(D, H, DFF, causal=causal).double()
    with torch.no_grad():
        blk.qkv.weight.copy_(ref.self_attn.in_proj_weight)
        blk.qkv.bias.copy_(ref.self_attn.in_proj_bias)
        blk.proj.weight.copy_(ref.self_attn.out_proj.weight)
        blk.proj.bias.copy_(ref.self_attn.out_proj.bias)
        for mine, theirs in ((blk.fc1, ref.linear1), (blk.fc2, ref.linear2), (blk.norm1, ref.norm1),
                             (blk.norm2, ref.norm2)):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    src_mask = nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64) if causal else None
    y_ref = ref(x, src_mask=src_mask, is_causal=causal)
    y = blk(x)
    torch.testing.assert_close(y, y_ref)
    w = torch.randn_like(y)
    g_ref = torch.autograd.grad((y_ref * w).sum(), [x, ref.self_attn.in_proj_weight, ref.linear1.weight,
                                                   ref.norm1.weight])
    g = torch.autograd.grad((y * w).sum(), [x, blk.qkv.weight, blk.fc1.weight, blk.norm1.weight])
    for a, b in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("causal", [True, False])
def test_parallel_block_fused_projections_equal_the_unfused_formula(causal: bool) -> None:
    """x + W^P·MHA(Q, K, V) + b^P + W_2·GELU(W_1 h + b_1) + b_2, h = LN(x), from separate matmuls."""
    torch.manual_seed(0)
    blk = _perturb(ParallelBlock(D, H, DFF, causal=causal)).double()
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    w = blk.split_weights()
    h = F.layer_norm(x, (D,), blk.norm.weight, blk.norm.bias)

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, T, H, D // H).transpose(1, 2)

    q, k, v = (heads(h @ w[f"w{n}"].T + w[f"b{n}"]) for n in "qkv")
    s = q @ k.transpose(-1, -2) / math.sqrt(D // H)
    if causal:
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, D)
    ref = x + a @ w["wp"].T + F.gelu(h @ w["w1"].T + w["b1"]) @ w["w2"].T + w["b_out"]
    y = blk(x)
    torch.testing.assert_close(y, ref)
    params = [x, blk.fused_in.weight, blk.fused_out.weight, blk.norm.weight]
    for g1, g2 in zip(torch.autograd.grad(y.sum(), params), torch.autograd.grad(ref.sum(), params), strict=True):
        torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_padding_mask_hides_keys(name: str) -> None:
    torch.manual_seed(0)
    blk = _perturb(get_block(name)(D, H, DFF, causal=False))
    x = torch.randn(B, T, D)
    mask = torch.ones(B, 1, 1, T, dtype=torch.bool)
    mask[..., -2:] = False  # the last two positions are padding
    x2 = x.clone()
    x2[:, -2:] = torch.randn(B, 2, D)
    torch.testing.assert_close(blk(x2, mask)[:, :-2], blk(x, mask)[:, :-2], atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- errors, registry, rank collapse

def test_bad_inputs_give_clear_errors() -> None:
    blk = SASPBlock(D, H, DFF, causal=True)
    with pytest.raises(ValueError, match=r"\(B, T, 32\)"):
        blk(torch.randn(B, T, D + 1))
    with pytest.raises(TypeError, match="floating-point"):
        blk(torch.ones(B, T, D, dtype=torch.long))
    with pytest.raises(TypeError, match="bool"):
        blk(torch.randn(B, T, D), torch.ones(T, T))
    with pytest.raises(ValueError, match="n_heads must divide"):
        PreLNBlock(30, 4, 64, causal=True)
    with pytest.raises(ValueError, match="unknown block"):
        get_block("resnet")
    with pytest.raises(TypeError):
        get_block(3)  # type: ignore[arg-type]
    assert get_block("SAS_P") is SASPBlock and get_block(PreLNBlock) is PreLNBlock


def test_rank_collapse_without_skips_and_not_with_shaped_attention() -> None:
    """Dong et al. 2021: pure attention drives tokens to one direction; skips slow it down;
    shaped attention (A = I at initialisation) stops it."""
    plain = depth_cosines("attention", 16, T=16, d_model=32, n_heads=4, batch=2)
    skip = depth_cosines("skip", 16, T=16, d_model=32, n_heads=4, batch=2)
    shaped = depth_cosines("shaped", 16, T=16, d_model=32, n_heads=4, batch=2)
    assert abs(plain[0]) < 0.1 and plain[-1] > 0.99
    assert skip[-1] < plain[-1] - 0.2
    assert max(abs(c - shaped[0]) for c in shaped) < 1e-4


def test_benchmark_reports_every_block_with_the_paper_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    """Structure and parameter columns of ``python -m efftx_mini.bench blocks`` (not a speed claim)."""
    import json

    from efftx_mini.bench import blocks as bench

    assert bench.main(["--json", "--d", "32", "--heads", "4", "--T", "8", "--batch", "1", "--layers", "2",
                       "--repeats", "1", "--warmup", "0"]) == 0
    res = json.loads(capsys.readouterr().out)
    rows = {r["block"]: r for r in res["rows"]}
    assert set(rows) == set(bench.CONTENDERS)
    assert rows["sas"]["matrix_ratio_vs_pre_ln"] == rows["sas-p"]["matrix_ratio_vs_pre_ln"] == round(10 / 12, 4)
    assert rows["pre-ln"]["speed_verdict"] == "reference" and rows["pre-ln"]["speed_aa_n"] == 1
    assert all(r["tokens_per_s"] > 0 and r["peak_mem_mib"] > 0 for r in rows.values())
    assert res["meta"]["command"].startswith("python -m efftx_mini.bench blocks --json")
