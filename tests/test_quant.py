"""efftx_mini.quant: affine quantization, int8 dynamic linear layers, LLM.int8(), weight-only RTN, GPTQ, AWQ, the
int8 KV cache and whole-model schemes — values against independent references, and error bounds."""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from efftx_mini.generate import KVCache, generate
from efftx_mini.lm import DecoderOnlyLM
from efftx_mini.quant import (
    HessianAccumulator,
    Int8DynamicLinear,
    Int8KVCache,
    LLMInt8Linear,
    WeightOnlyLinear,
    awq_clip_search,
    awq_quantize,
    awq_scale_search,
    dequantize,
    engine_available,
    fake_quantize,
    gptq_quantize,
    input_stats,
    layer_error,
    model_bytes,
    outlier_features,
    pack_codes,
    parse_scheme,
    qparams,
    qrange,
    quantizable_linears,
    quantize,
    quantize_dequantize,
    quantize_model,
    quantize_vectors,
    rtn_quantize,
    unfuse_attention,
    unpack_codes,
    vectorwise_int8_matmul,
)
from efftx_mini.quant.dynamic import simulate
from efftx_mini.quant.llm_int8 import outlier_columns
from efftx_mini.transformer import Transformer
from efftx_mini.vision import ViT

CASES = [  # (symmetric, granularity, group_size)
    (True, "tensor", None), (False, "tensor", None), (True, "channel", None), (False, "channel", None),
    (True, "group", 4), (False, "group", 4),
]


def _w(seed: int = 0, shape: tuple[int, ...] = (6, 16)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------------------- affine quantization
def test_qrange() -> None:
    assert qrange(8, True) == (-127, 127) and qrange(8, False) == (0, 255)
    assert qrange(4, True) == (-7, 7) and qrange(4, False) == (0, 15)
    with pytest.raises(ValueError, match="bits must be an int in"):
        qrange(1, True)


@pytest.mark.parametrize("bits", [3, 4, 8])
@pytest.mark.parametrize("symmetric,granularity,group_size", CASES)
def test_representable_values_round_trip_exactly(bits, symmetric, granularity, group_size) -> None:
    qp = qparams(_w(), bits, symmetric=symmetric, granularity=granularity, group_size=group_size)
    codes = torch.randint(qp.qmin, qp.qmax + 1, (6, 16), generator=torch.Generator().manual_seed(1))
    grid = dequantize(codes, qp, torch.float64)  # values on the grid
    assert torch.equal(quantize(grid, qp), codes)
    assert torch.equal(quantize_dequantize(grid, qp), grid)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric,granularity,group_size", CASES)
def test_error_is_at_most_half_a_step_inside_the_range(bits, symmetric, granularity, group_size) -> None:
    x = _w(2) * 3
    qp = qparams(x, bits, symmetric=symmetric, granularity=granularity, group_size=group_size)
    err = (quantize_dequantize(x, qp) - x).abs()
    step = qp.scale if group_size is None else qp.scale.expand(6, 16 // group_size, group_size).reshape(6, 16)
    assert (err <= step.expand_as(x) / 2 + 1e-12).all()
    assert (err > step.expand_as(x) / 4).any()  # not trivially small: rounding really happens


def test_values_outside_the_range_are_clamped() -> None:
    qp = qparams(torch.tensor([-1.0, 1.0], dtype=torch.float64), 8, symmetric=True)
    assert quantize(torch.tensor([5.0, -5.0], dtype=torch.float64), qp).tolist() == [127, -127]


def test_per_channel_equals_per_tensor_when_channels_have_equal_ranges() -> None:
    base = _w(3, (1, 16))
    rows = torch.cat([base[:, torch.randperm(16, generator=torch.Generator().manual_seed(i))] for i in range(5)])
    for symmetric in (True, False):
        t = qparams(rows, 4, symmetric=symmetric, granularity="tensor")
        c = qparams(rows, 4, symmetric=symmetric, granularity="channel")
        assert torch.equal(c.scale, t.scale.expand_as(c.scale)) and torch.equal(c.zero_point,
                                                                                  t.zero_point.expand_as(c.zero_point))
        assert torch.equal(quantize_dequantize(rows, c), quantize_dequantize(rows, t))
    # and unequal ranges make per-channel strictly better
    scaled = rows * torch.tensor([[0.01], [1.0], [1.0], [1.0], [1.0]], dtype=torch.float64)
    err_t = (quantize_dequantize(scaled, qparams(scaled, 4, granularity="tensor")) - scaled).abs()[0].max()
    err_c = (quantize_dequantize(scaled, qparams(scaled, 4, granularity="channel")) - scaled).abs()[0].max()
    assert err_c < err_t / 10


def test_group_equals_channel_when_the_group_is_the_whole_row() -> None:
    w = _w(4)
    g = qparams(w, 4, symmetric=False, granularity="group", group_size=16)
    c = qparams(w, 4, symmetric=False, granularity="channel")
    assert torch.equal(quantize_dequantize(w, g), quantize_dequantize(w, c))


def test_asymmetric_range_keeps_zero_exact() -> None:
    x = torch.tensor([[0.3, 0.7, 0.0, 2.9]], dtype=torch.float64)  # all ≥ 0: the range is [0, max]
    qp = qparams(x, 4, symmetric=False)
    assert quantize_dequantize(x, qp)[0, 2] == 0.0 and float(qp.zero_point) == 0.0


@pytest.mark.parametrize("symmetric", [True, False])
def test_fake_quantize_matches_pytorch_values_and_straight_through_gradients(symmetric) -> None:
    x = (_w(5) * 2).float().requires_grad_()
    qp = qparams(x.detach()[:, :12], 8, symmetric=symmetric, granularity="channel")  # some entries fall outside
    y = fake_quantize(x, qp)
    g = torch.randn_like(x)
    (y * g).sum().backward()
    ref_x = x.detach().clone().requires_grad_()
    ref = torch.fake_quantize_per_channel_affine(ref_x, qp.scale.reshape(-1).float(),
                                                 qp.zero_point.reshape(-1).int(), 0, qp.qmin, qp.qmax)
    (ref * g).sum().backward()
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-6)
    assert torch.equal(x.grad, ref_x.grad)
    assert (x.grad == 0).any() and (x.grad == g).any()  # clamped entries block, the others pass


def test_qparams_errors() -> None:
    with pytest.raises(ValueError, match="group_size must divide"):
        qparams(_w(), 4, granularity="group", group_size=5)
    with pytest.raises(ValueError, match="granularity must be one of"):
        qparams(_w(), 4, granularity="row")
    with pytest.raises(TypeError, match="floating-point"):
        qparams(torch.ones(3, dtype=torch.long), 4)


# ------------------------------------------------------------------------------------------- int8 dynamic
def _linear(K: int = 32, N: int = 24, seed: int = 0, dtype=torch.float32) -> nn.Linear:
    torch.manual_seed(seed)
    lin = nn.Linear(K, N).to(dtype)
    nn.init.normal_(lin.bias, std=0.1)
    return lin


@pytest.mark.skipif(not engine_available(), reason="this PyTorch build has no CPU int8 engine")
def test_int8_dynamic_engine_matches_its_float_simulation_without_warnings() -> None:
    lin = _linear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = Int8DynamicLinear(lin)
        x = torch.randn(3, 5, 32)
        y = q(x)
    for rr in (True, False):
        q.reduce_range = rr
        torch.testing.assert_close(q(x), simulate(x.double(), q.w_codes, q.w_scale, q.bias, rr).float(),
                                   rtol=1e-5, atol=1e-5)
    q.reduce_range = True
    assert torch.equal(copy.deepcopy(q)(x), y)
    fresh = Int8DynamicLinear(_linear(seed=9))
    fresh.load_state_dict(q.state_dict())
    assert torch.equal(fresh(x), y)


def test_int8_dynamic_error_bound() -> None:
    """|y − y_float| ≤ Σ_k (|x_k| Δw/2 + |w_k| Δx/2 + Δx Δw/4) with the two quantizers' steps."""
    lin = _linear()
    q = Int8DynamicLinear(lin)
    x = torch.randn(7, 32, dtype=torch.float64)
    y = simulate(x, q.w_codes, q.w_scale, q.bias, reduce_range=True)
    ref = F.linear(x, lin.weight.double(), lin.bias.double())
    dx = float((x.max().clamp(min=0) - x.min().clamp(max=0)) / 127)
    dw = q.w_scale.double()[None, :]
    bound = (x.abs().sum(1, keepdim=True) * dw / 2 + lin.weight.double().abs().sum(1)[None, :] * dx / 2
             + 32 * dx * dw / 4)
    assert ((y - ref).abs() <= bound + 1e-9).all()
    assert (y - ref).abs().max() > 0


# ------------------------------------------------------------------------------------------- LLM.int8()
def test_llm_int8_threshold_inf_is_plain_vectorwise_int8() -> None:
    lin = _linear(dtype=torch.float64)
    x = torch.randn(4, 6, 32, dtype=torch.float64)
    x[..., 3] *= 20  # an outlier dimension that plain int8 must swallow
    q = LLMInt8Linear(lin, threshold=math.inf)
    plain = vectorwise_int8_matmul(x.reshape(-1, 32), q.w_codes, q.w_scale) + lin.bias.double()
    assert torch.equal(q(x), plain.reshape(4, 6, 24))
    assert q.last_outliers == 0


def test_llm_int8_threshold_zero_is_floating_point() -> None:
    lin = _linear(dtype=torch.float64)
    x = torch.randn(4, 6, 32, dtype=torch.float64)
    q = LLMInt8Linear(lin, threshold=0.0, fp_weights=True)
    torch.testing.assert_close(q(x), lin(x), rtol=1e-13, atol=1e-13)
    assert q.last_outliers == 32
    # without the float weights (bitsandbytes at inference) it is the dequantized int8 weight instead
    q8 = LLMInt8Linear(lin, threshold=0.0, fp_weights=False)
    w_hat = q8.w_codes.double() * q8.w_scale.double()[:, None]
    torch.testing.assert_close(q8(x), F.linear(x, w_hat, lin.bias), rtol=1e-13, atol=1e-13)


def test_llm_int8_decomposition_rescues_an_outlier_dimension() -> None:
    lin = _linear(dtype=torch.float64)
    x = torch.randn(64, 32, dtype=torch.float64)
    x[:, 5] = 40.0 * torch.sign(torch.randn(64, dtype=torch.float64))
    ref = lin(x)
    err_plain = (LLMInt8Linear(lin, threshold=math.inf)(x) - ref).abs().mean()
    q = LLMInt8Linear(lin, threshold=6.0, fp_weights=True)
    err_mixed = (q(x) - ref).abs().mean()
    assert q.last_outliers == 1 and err_mixed < err_plain / 5
    # with int8 weights only, the outlier column still multiplies a rounded weight column: better, less so
    assert (LLMInt8Linear(lin, threshold=6.0)(x) - ref).abs().mean() < err_plain / 2


def test_outlier_columns_use_magnitude_at_least_the_threshold() -> None:
    """A column is an outlier when any |x| ≥ α (bitsandbytes: ``A.abs() >= threshold``), whatever the sign."""
    x = torch.tensor([[6.0, 5.99, 0.0], [0.0, 0.0, -6.0]], dtype=torch.float64)
    assert outlier_columns(x, 6.0).tolist() == [True, False, True]
    assert not outlier_columns(x, math.inf).any()


def test_vectorwise_int8_error_bound() -> None:
    x = torch.randn(9, 32, dtype=torch.float64)
    w = torch.randn(5, 32, dtype=torch.float64)
    qw = qparams(w, 8, granularity="channel")
    got = vectorwise_int8_matmul(x, quantize(w, qw).to(torch.int8), qw.scale.reshape(-1))
    sx = x.abs().amax(1, keepdim=True) / 127
    sw = qw.scale.reshape(1, -1)
    bound = x.abs().sum(1, keepdim=True) * sw / 2 + w.abs().sum(1)[None] * sx / 2 + 32 * sx * sw / 4
    assert ((got - x @ w.t()).abs() <= bound + 1e-12).all()


# ------------------------------------------------------------------------------------------- weight-only, RTN
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_pack_unpack_round_trip(bits) -> None:
    codes = torch.randint(0, 2**bits, (5, 16), generator=torch.Generator().manual_seed(bits))
    packed = pack_codes(codes, bits)
    assert packed.dtype == torch.uint8
    assert packed.shape[1] == (16 * bits // 8 if 8 % bits == 0 else 16)
    assert torch.equal(unpack_codes(packed, bits, 16), codes.int())


@pytest.mark.parametrize("group_size", [8, 16, None])
def test_weight_only_linear_is_a_linear_layer_with_the_dequantized_weight(group_size) -> None:
    lin = _linear()
    q = WeightOnlyLinear.from_linear(lin, 4, group_size)
    codes, qp = rtn_quantize(lin.weight.detach(), 4, group_size)
    w_hat = dequantize(codes, qp)
    assert torch.equal(q.dequantized_weight(), w_hat)
    x = torch.randn(3, 32)
    torch.testing.assert_close(q(x), F.linear(x, w_hat, lin.bias))
    err = (w_hat - lin.weight).abs()
    step = qp.scale.expand(24, qp.scale.shape[1], 32 // qp.scale.shape[1]).reshape(24, 32)
    assert (err <= step / 2 + 1e-6).all()
    assert q.storage_bytes() == 24 * 16 + qp.scale.numel() * 5 + 24 * 4  # 4-bit codes, scale+zero, bias


# ------------------------------------------------------------------------------------------- GPTQ
def _calib(n: int = 256, K: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(K, K, generator=g, dtype=torch.float64)  # correlated inputs, so GPTQ has work to do
    return torch.randn(n, K, generator=g, dtype=torch.float64) @ mix


@pytest.mark.parametrize("group_size", [4, None])
def test_gptq_with_identity_hessian_is_rtn(group_size) -> None:
    w = _w(6)
    codes, qp = gptq_quantize(w, torch.eye(16, dtype=torch.float64), 4, group_size, block_size=8)
    ref_codes, ref_qp = rtn_quantize(w.float(), 4, group_size)
    assert torch.equal(codes, ref_codes)
    torch.testing.assert_close(qp.scale, ref_qp.scale)


def _greedy_least_squares(w: torch.Tensor, H: torch.Tensor, bits: int) -> torch.Tensor:
    """Independent reference: for column j, fix columns < j at their codes' values, put the other columns at the
    least-squares optimum of (v − w) H (v − w)^T, and round column j to nearest (per-row min–max grid of w)."""
    qmin, qmax = qrange(bits, False)
    lo, hi = w.amin(1).clamp(max=0), w.amax(1).clamp(min=0)
    s = (hi - lo) / (qmax - qmin)
    z = (qmin - torch.round(lo / s)).clamp(qmin, qmax)
    K = w.shape[1]
    q_val = torch.zeros_like(w)
    codes = torch.zeros_like(w)
    for j in range(K):
        F_, R = list(range(j)), list(range(j, K))
        v = w.clone()
        if F_:
            delta = q_val[:, F_] - w[:, F_]  # (rows, |F|)
            v[:, R] = w[:, R] - torch.linalg.solve(H[R][:, R], H[R][:, F_] @ delta.t()).t()
        codes[:, j] = torch.clamp(torch.round(v[:, j] / s) + z, qmin, qmax)
        q_val[:, j] = (codes[:, j] - z) * s
    return codes.int()


@pytest.mark.parametrize("block_size", [1, 3, 16])
def test_gptq_every_column_reaches_the_closed_form_optimum(block_size) -> None:
    """Each column is rounded at the least-squares optimum given the columns already quantized (Eq. 2), whatever
    the block size of the lazy updates."""
    w = _w(7, (5, 10))
    X = _calib(200, 10)
    H = 2 * X.t() @ X / 200
    codes, _ = gptq_quantize(w, H, 3, None, block_size=block_size, damp=0.0)
    assert torch.equal(codes, _greedy_least_squares(w, H, 3))


def _greedy_least_squares_grouped(w: torch.Tensor, H: torch.Tensor, bits: int, g: int) -> torch.Tensor:
    """As :func:`_greedy_least_squares`, with a min–max grid per row and group of g columns fitted, when the group's
    first column is reached, to the columns' least-squares values at that moment (their fully updated values)."""
    qmin, qmax = qrange(bits, False)
    K = w.shape[1]
    q_val, codes = torch.zeros_like(w), torch.zeros_like(w)
    s = z = None
    for j in range(K):
        F_, R = list(range(j)), list(range(j, K))
        v = w.clone()
        if F_:
            v[:, R] = w[:, R] - torch.linalg.solve(H[R][:, R], H[R][:, F_] @ (q_val[:, F_] - w[:, F_]).t()).t()
        if j % g == 0:
            cols = v[:, j:j + g]
            lo, hi = cols.amin(1).clamp(max=0), cols.amax(1).clamp(min=0)
            s = (hi - lo) / (qmax - qmin)
            z = (qmin - torch.round(lo / s)).clamp(qmin, qmax)
        codes[:, j] = torch.clamp(torch.round(v[:, j] / s) + z, qmin, qmax)
        q_val[:, j] = (codes[:, j] - z) * s
    return codes.int()


@pytest.mark.parametrize("block_size", [2, 4, 8])
def test_gptq_groups_are_fitted_to_the_updated_columns(block_size) -> None:
    """Group parameters come from the columns as updated by every earlier column (the paper, §5: "always using the
    most current updated weights"), also when a group starts inside a block of lazy updates."""
    w = _w(11, (6, 12))
    X = _calib(300, 12, seed=5)
    H = 2 * X.t() @ X / 300
    codes, qp = gptq_quantize(w, H, 3, 4, block_size=block_size, damp=0.0)
    assert torch.equal(codes, _greedy_least_squares_grouped(w, H, 3, 4))
    assert qp.scale.shape == (6, 3, 1)


def test_gptq_dampening_is_one_percent_of_the_mean_diagonal() -> None:
    """λ = 1% of mean(diag H) added to H (§4, Step 3) — and it matters for a nearly singular H."""
    w = _w(12, (8, 16))
    X = _calib(20, 16, seed=6)  # fewer tokens than inputs: H is singular without dampening
    H = 2 * X.t() @ X / 20
    codes, _ = gptq_quantize(w, H, 3, None)
    ref, _ = gptq_quantize(w, H + 0.01 * torch.diag(H).mean() * torch.eye(16, dtype=torch.float64), 3, None, damp=0.0)
    assert torch.equal(codes, ref)
    other, _ = gptq_quantize(w, H, 3, None, damp=0.1)
    assert not torch.equal(codes, other)


def test_gptq_two_columns_closed_form() -> None:
    """K = 2: after rounding column 0 the optimal column 1 is w1 + (w0 − q0) H01 / H11."""
    w = torch.tensor([[0.37, -1.21], [2.02, 0.55]], dtype=torch.float64)
    H = torch.tensor([[2.0, 1.2], [1.2, 1.5]], dtype=torch.float64)
    codes, qp = gptq_quantize(w, H, 2, None, damp=0.0)
    q0 = dequantize(codes, qp, torch.float64)[:, 0]
    w1 = w[:, 1] + (w[:, 0] - q0) * H[0, 1] / H[1, 1]
    s, z = qp.scale.reshape(-1).double(), qp.zero_point.reshape(-1).double()
    assert torch.equal(codes[:, 1].double(), torch.clamp(torch.round(w1 / s) + z, 0, 3))


@pytest.mark.parametrize("group_size", [4, 8, None])
def test_gptq_reconstruction_error_at_most_rtn_on_calibration_data(group_size) -> None:
    for seed in range(3):
        w, X = _w(seed, (12, 16)), _calib(512, 16, seed)
        acc = HessianAccumulator(16)
        for chunk in X.split(100):
            acc.add(chunk)
        torch.testing.assert_close(acc.H, 2 * X.t() @ X / 512)
        codes, qp = gptq_quantize(w.float(), acc.H, 4, group_size, block_size=8)
        rcodes, rqp = rtn_quantize(w.float(), 4, group_size)
        e_gptq = layer_error(dequantize(codes, qp), w, X)
        e_rtn = layer_error(dequantize(rcodes, rqp), w, X)
        assert e_gptq <= e_rtn


def test_gptq_dead_inputs_and_bad_shapes() -> None:
    w, X = _w(8, (4, 8)), _calib(64, 8)
    X[:, 2] = 0.0
    codes, qp = gptq_quantize(w, 2 * X.t() @ X / 64, 4, None)
    assert (dequantize(codes, qp)[:, 2].abs() <= qp.scale.reshape(-1) / 2 + 1e-6).all()  # column 2 set to zero
    with pytest.raises(ValueError, match="must divide one another"):
        gptq_quantize(w, torch.eye(8, dtype=torch.float64), 4, 4, block_size=3)
    with pytest.raises(ValueError, match="H \\(K, K\\)"):
        gptq_quantize(w, torch.eye(7, dtype=torch.float64), 4, None)


# ------------------------------------------------------------------------------------------- AWQ
def test_awq_alpha_zero_is_rtn_and_the_search_never_does_worse() -> None:
    w = _w(9, (12, 16))
    X = _calib(256, 16)
    X[:, 3] *= 25  # a salient channel
    s, alpha, errs = awq_scale_search(w, X, 4, 8)
    codes, qp = rtn_quantize(w.float(), 4, 8)
    rtn_err = layer_error(dequantize(codes, qp), w, X)
    assert errs[0] * 12 == pytest.approx(rtn_err, rel=1e-6)  # α = 0: s = 1 (errs: mean over the 12 outputs)
    assert min(errs) <= errs[0] and alpha > 0 and s[3] == s.max()


def test_awq_scale_is_the_mean_input_magnitude_to_the_alpha() -> None:
    """s = s_x^α with s_x the mean |x| per input channel (Eq. 5), normalised by sqrt(max s · min s)."""
    w = _w(9, (12, 16))
    X = _calib(256, 16)
    X[:, 3] *= 25
    s, alpha, errs = awq_scale_search(w, X, 4, 8)
    assert len(errs) == 20 and alpha == pytest.approx(errs.index(min(errs)) / 20)
    sx = X.abs().mean(0)
    ref = sx.pow(alpha)
    torch.testing.assert_close(s, ref / (ref.max() * ref.min()).sqrt())


def test_awq_clip_search_minimises_each_groups_output_error() -> None:
    """Brute force: for every (row, group), try c = (1 − i/20) max|w| for i < 10 and keep the first c with the
    smallest mean squared error of that group's partial output x_g · q(clamp(w_g, ±c))."""
    w, X = _w(13, (4, 16)), _calib(64, 16, seed=7)
    got = awq_clip_search(w, X, 3, 8)
    assert got.shape == (4, 2, 1)
    for o in range(4):
        for gi in range(2):
            wg, xg = w[o, gi * 8:(gi + 1) * 8], X[:, gi * 8:(gi + 1) * 8]
            amax, best, best_c = wg.abs().max(), math.inf, None
            for i in range(10):
                c = amax * (1 - i / 20)
                wc = wg.clamp(-c, c)[None]
                q = quantize_dequantize(wc, qparams(wc, 3, symmetric=False))[0]
                err = float((xg @ (q - wg)).pow(2).mean())
                if err < best:
                    best, best_c = err, c
            assert float(got[o, gi, 0]) == pytest.approx(float(best_c), rel=1e-12)


def test_awq_quantize_is_scale_then_clip_then_rtn() -> None:
    w, X = _w(14, (6, 16)), _calib(128, 16, seed=8)
    X[:, 2] *= 10
    codes, qp, s, _ = awq_quantize(w.float(), X.float(), 3, 8)
    s_ref, _, _ = awq_scale_search(w.float(), X.float(), 3, 8)
    Ws = w.double() * s_ref[None, :]
    c = awq_clip_search(Ws, X / s_ref[None, :], 3, 8).expand(6, 2, 8).reshape(6, 16)
    ref_codes, _ = rtn_quantize(torch.maximum(torch.minimum(Ws, c), -c).float(), 3, 8)
    assert torch.equal(codes, ref_codes) and torch.equal(s, s_ref.float())
    plain, _ = rtn_quantize(Ws.float(), 3, 8)
    assert not torch.equal(codes, plain)  # the clipping changed something


def test_awq_layer_computes_q_of_w_times_s_on_x_over_s() -> None:
    lin = _linear(16, 12)
    X = _calib(256, 16).float()
    codes, qp, s, _ = awq_quantize(lin.weight.detach(), X, 4, 8)
    q = WeightOnlyLinear(codes, qp, lin.bias, input_scale=s, method="awq")
    x = torch.randn(5, 16)
    torch.testing.assert_close(q(x), F.linear(x / s, dequantize(codes, qp), lin.bias))
    torch.testing.assert_close(q.effective_weight(), dequantize(codes, qp) / s)
    rcodes, rqp = rtn_quantize(lin.weight.detach(), 4, 8)
    assert layer_error(q.effective_weight(), lin.weight, X) <= layer_error(dequantize(rcodes, rqp), lin.weight, X)


# ------------------------------------------------------------------------------------------- KV cache
def _lm(seed: int = 0) -> DecoderOnlyLM:
    torch.manual_seed(seed)
    return DecoderOnlyLM("pre-ln", 50, 32, 4, 2, 64, 40, n_kv_heads=2).eval()


def test_quantize_vectors_error_bound() -> None:
    t = torch.randn(2, 3, 5, 8)
    codes, scale = quantize_vectors(t)
    assert codes.dtype == torch.int8 and scale.shape == (2, 3, 5, 1)
    torch.testing.assert_close(scale, t.abs().amax(-1, keepdim=True) / 127)  # one scale per vector
    assert ((codes.float() * scale - t).abs() <= scale / 2 + 1e-7).all()


def test_int8_kv_cache_prefill_and_steps_match_float_within_the_quantization_error() -> None:
    m = _lm()
    x = torch.randint(0, 50, (3, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = m(x)
        c = Int8KVCache(m, 3, 40)
        pre = m(x[:, :12], cache=c)
        steps = [m(x[:, t:t + 1], cache=c) for t in range(12, 20)]
    got = torch.cat([pre, *steps], dim=1)
    diff = (got - ref).abs().max()
    assert 0 < diff < 0.05
    assert c.k.dtype == torch.int8 and c.length == 20
    fc = KVCache(m, 3, 40)
    assert c.bytes_per_token_per_layer == 2 * 2 * (8 + 4) and fc.bytes_per_token_per_layer == 2 * 2 * 8 * 4
    assert c.nbytes < fc.nbytes / 2.5


def test_generate_with_an_int8_cache_and_the_default_unchanged() -> None:
    m = _lm(1)
    prompts = [[1, 2, 3], [4, 5]]
    a = generate(m, prompts, 8, greedy=True)
    b = generate(m, prompts, 8, greedy=True, cache_cls=KVCache)
    c = generate(m, prompts, 8, greedy=True, use_cache=False)
    assert a.tokens == b.tokens == c.tokens
    q = generate(m, prompts, 8, greedy=True, cache_cls=Int8KVCache, return_logits=True)
    ref = generate(m, prompts, 8, greedy=True, return_logits=True)
    assert len(q.tokens) == 2 and (q.logits[:, 0] - ref.logits[:, 0]).abs().max() < 0.05


# ------------------------------------------------------------------------------------------- whole models
def test_parse_scheme() -> None:
    assert parse_scheme("w4-gptq-g128").group_size == 128 and parse_scheme("w3-rtn-g0").group_size is None
    assert parse_scheme("int8-dynamic").kind == "int8-dynamic"
    with pytest.raises(ValueError, match="unknown scheme"):
        parse_scheme("w4-foo-g1")
    with pytest.raises(ValueError, match="needs calibration"):
        quantize_model(_lm(), "w4-gptq-g8")


@pytest.mark.parametrize("scheme", ["fp32", "int8-dynamic", "llm.int8", "w4-rtn-g8", "w4-gptq-g8", "w4-awq-g8",
                                    "w8-rtn-g0"])
def test_quantize_model_replaces_the_block_linears_only(scheme) -> None:
    m = _lm()
    x = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(2))
    q = quantize_model(m, scheme, lambda mm: mm(x))
    assert [type(lin) for _, lin in quantizable_linears(m)] == [nn.Linear] * 8  # the original is untouched
    left = quantizable_linears(q)
    assert (left == []) == (scheme != "fp32")
    assert type(q.head) is nn.Linear and q.head.weight is q.embed.weight  # the tied head stays
    with torch.no_grad():
        diff = (q(x) - m(x)).abs().max()
    assert (diff == 0) == (scheme == "fp32") and diff < 0.5
    fp = model_bytes(m)
    assert fp == sum(p.numel() * 4 for p in m.parameters())  # tied weights counted once
    if scheme.startswith("w4"):
        assert model_bytes(q) < fp


def test_gptq_model_beats_rtn_on_its_calibration_data() -> None:
    m = _lm(3)
    x = torch.randint(0, 50, (4, 32), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = m(x)
        e = {s: float((quantize_model(m, s, lambda mm: mm(x))(x) - ref).pow(2).mean()) for s in
             ("w3-rtn-g0", "w3-gptq-g0")}
    assert e["w3-gptq-g0"] < e["w3-rtn-g0"]


def test_vit_and_translation_model_quantize() -> None:
    torch.manual_seed(0)
    vit = ViT(28, 7, 1, 10, 16, 2, 2, 32).eval()
    img = torch.randn(3, 1, 28, 28)
    qv = quantize_model(vit, "w4-gptq-g8", lambda mm: mm(img))
    assert type(qv.head) is nn.Linear and len(quantizable_linears(qv)) == 0
    tr = Transformer(11, 13, d_model=16, n_heads=4, n_layers=1, d_ff=24, dropout=0.0, max_len=32, pad_id=0).eval()
    src = torch.randint(1, 11, (2, 6))
    tgt = torch.randint(1, 13, (2, 5))
    un = unfuse_attention(tr)
    with torch.no_grad():
        torch.testing.assert_close(un(src, tgt), tr(src, tgt), rtol=1e-5, atol=1e-6)
    names = [n for n, _ in quantizable_linears(un)]
    assert "encoder.layers.0.self_attn.q_proj" in names and "generator" not in names
    assert model_bytes(un) == model_bytes(tr)
    qt = quantize_model(un, "int8-dynamic")
    with torch.no_grad():
        assert (qt(src, tgt) - tr(src, tgt)).abs().max() < 0.5


def test_input_stats_find_a_planted_outlier_dimension() -> None:
    m = _lm(4)
    with torch.no_grad():
        for blk in m.blocks:
            blk.norm1.weight[7] = 30.0  # the LayerNorm gain makes dimension 7 large at the qkv input
    x = torch.randint(0, 50, (4, 32), generator=torch.Generator().manual_seed(4))
    stats = input_stats(m, lambda mm: mm(x), threshold=6.0)
    layers = [n for n in stats if n.endswith("qkv") or n.endswith("fc1")]
    assert 7 in outlier_features(stats, layers)
    assert stats["blocks.0.qkv"]["absmax"][7] > 6.0


def test_outlier_features_apply_both_of_the_papers_fractions() -> None:
    """§4.1: a dimension counts when it reaches the threshold in ≥ 6% of the tokens in ≥ 25% of the layers."""
    frac = torch.zeros(8, 6)  # (layers, dims): fraction of tokens with |x| ≥ 6
    frac[:, 1] = 0.5  # everywhere: an outlier feature
    frac[:, 2] = 0.05  # every layer, too few tokens
    frac[0, 3] = 0.5  # many tokens, one layer in eight
    frac[:2, 4] = 0.06  # exactly 6% of the tokens in exactly 25% of the layers
    stats = {f"l{i}": {"frac": frac[i]} for i in range(8)}
    assert outlier_features(stats, list(stats)) == [1, 4]


# ------------------------------------------------------------------------------------------- bench and experiment
def test_bench_quant_structure_not_speed() -> None:
    """Structure of ``python -m efftx_mini.bench quant`` at toy sizes (no speed claim is tested)."""
    from efftx_mini.bench import quant as bench

    res = bench.run(rounds=2, tokens=4, new_tokens=2, width=32, hidden=64, lm_shapes=((32, 1), (64, 1)),
                    lm_batch=(1, 8), copy_mib=1, cache_mib=1, matmul_n=64)
    work = {(r["workload"], r["contender"]): r for r in res["workloads"]}
    assert {w for w, _ in work} == {"linear_4tok", "mlp_4tok", "linear_1tok", "mlp_1tok", "lm_forward",
                                    "lm_forward_d64", "generation"}
    assert {c for w, c in work if w == "generation"} == {"fp32", "int8", "int8+kv8", "kv8"}
    r = work[("mlp_4tok", "int8")]
    assert r["speedup_ci_lo"] <= r["speedup_median"] <= r["speedup_ci_hi"] and r["speedup_n"] == 2
    assert {"aa_median", "aa_ci_lo", "aa_ci_hi", "speedup_q1", "speedup_q3", "speedup_lo", "speedup_hi"} <= set(r)
    assert work[("mlp_4tok", "fp32")]["verdict"] == "reference" and r["verdict"] in (
        "faster", "slower", "within noise", "noisy machine (A/A interval excludes 1)")
    assert set(res["goals"]) == {"mlp_4tok", "lm_forward", "lm_forward_d64"}
    assert {"command", "commit", "hardware", "threads", "engine"} <= set(res["meta"]) and res["meta"]["threads"] == 1
    assert res["roofline"]["bandwidth_gb_s"] > 0 and res["roofline"]["cache_bandwidth_gb_s"] > 0
    assert work[("linear_1tok", "w4")]["intensity"] > 0


def test_linear_traffic() -> None:
    from efftx_mini.bench.quant import linear_traffic

    f = linear_traffic(1, 1024, 4096, "fp32")
    assert f["flops"] == 2 * 1024 * 4096 and f["bytes"] == 4 * (1024 * 4096 + 1024 + 4096)
    assert linear_traffic(1, 1024, 4096, "w4")["intensity"] < f["intensity"] < linear_traffic(
        1, 1024, 4096, "int8")["intensity"]
    with pytest.raises(ValueError, match="kind must be"):
        linear_traffic(1, 2, 2, "fp16")


def test_quant_experiment_smoke_writes_results_and_resumes(tmp_path) -> None:
    from efftx_mini.corpus import CodeCorpus
    from efftx_mini.experiments import quant as experiment

    corpus = CodeCorpus(max_files=80)
    res = experiment.run("smoke", tmp_path, models=("lm",), corpus=corpus)
    agg = {(a["model"], a["scheme"]): a for a in res["aggregate"]}
    assert ("lm", "w4-gptq-g128") in agg and agg[("lm", "fp32")]["diff_fp32_mean"] == 0
    assert agg[("lm", "w4-gptq-g32")]["layer_err_vs_rtn_max"] > 0 and "diff_rtn_mean" in agg[("lm", "w4-awq-g32")]
    assert agg[("lm", "int8-dynamic")]["bytes"] < agg[("lm", "fp32")]["bytes"]
    first = (tmp_path / "lm_s0.json").read_text()
    again = experiment.run("smoke", tmp_path, models=("lm",), corpus=corpus)  # resumes: nothing retrained
    assert (tmp_path / "lm_s0.json").read_text() == first and again["aggregate"] == res["aggregate"]
    loaded = experiment.load_results(tmp_path)
    rec = loaded["records"]["lm"][0]
    assert rec["command"].startswith("python -m efftx_mini.experiments.quant") and {"commit", "hardware"} <= set(rec)
    assert rec["kv_cache"]["bytes_per_token_per_layer_int8"] < rec["kv_cache"]["bytes_per_token_per_layer_float"]
