"""Lab 06's public tests: head importance, symmetric and grouped quantizers and GPTQ against efftx_mini's reference
implementations, on models and weights generated here. Run: ``make lab-check LAB=06`` or
``python -m pytest labs/06_compression``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from labtools import forbidden_uses

from efftx_mini.compress import head_importance
from efftx_mini.compress.gates import add_head_gates, gate_values
from efftx_mini.quant.affine import qparams, quantize
from efftx_mini.quant.gptq import HessianAccumulator, gptq_quantize, layer_error
from efftx_mini.transformer import Encoder

f64 = torch.float64


def test_does_not_call_the_reference(lab) -> None:
    uses = forbidden_uses(lab.IMPL_FILE)
    assert not uses, f"{lab.IMPL_FILE.name} calls what the tests compare against: {uses}"


def _gated_encoder():
    torch.manual_seed(1)
    enc = Encoder(2, 16, 4, 32, 0.0, True).double()
    head = torch.nn.Linear(16, 3).double()
    add_head_gates(enc)
    batches = [(torch.randn(4, 6, 16, dtype=f64), torch.randint(0, 3, (4,))) for _ in range(3)]

    def loss_fn(model, batch):
        x, y = batch
        return F.cross_entropy(head(model(x).mean(1)), y)

    return enc, batches, loss_fn


def test_head_importance_matches_the_package(lab) -> None:
    enc, batches, loss_fn = _gated_encoder()
    ref = head_importance(enc, batches, loss_fn)
    gates = gate_values(enc)
    got = lab.run_head_importance(gates, batches, lambda b: loss_fn(enc, b))
    assert set(got) == set(ref)
    for name in ref:
        torch.testing.assert_close(got[name], ref[name])
        torch.testing.assert_close(got[name].norm(), torch.tensor(1.0, dtype=f64))
    assert all(p.grad is None for p in enc.parameters()), "gradients were left in the model's parameters"
    assert all(not g.requires_grad and torch.equal(g, torch.ones_like(g)) for g in gate_values(enc).values())


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_symmetric_quantizer(lab, bits: int, axis: int | None) -> None:
    x = torch.randn(6, 10) * torch.linspace(0.1, 3, 10)
    x[2] = 0.0
    codes, scale = lab.run_quantize_symmetric(x, bits, axis)
    qp = qparams(x, bits, symmetric=True, granularity="tensor" if axis is None else "channel",
                 axis=0 if axis is None else axis)
    assert codes.dtype == torch.int32
    assert torch.equal(codes, quantize(x, qp))
    torch.testing.assert_close(scale.expand_as(x), qp.scale.expand_as(x))
    err = (lab.run_dequantize_symmetric(codes, scale) - x).abs()
    assert bool((err <= scale.expand_as(x) / 2 + 1e-6).all()), "round-to-nearest error exceeds half a step"


@pytest.mark.parametrize(("bits", "g"), [(4, 8), (3, 4), (8, 16)])
def test_grouped_quantizer(lab, bits: int, g: int) -> None:
    w = torch.randn(5, 16)
    w[1, :8] = 0.0
    codes, scale, zero = lab.run_quantize_groups(w, bits, g)
    qp = qparams(w, bits, symmetric=False, granularity="group", group_size=g)
    assert torch.equal(codes, quantize(w, qp))
    torch.testing.assert_close(scale, qp.scale)
    torch.testing.assert_close(zero, qp.zero_point)
    with pytest.raises(ValueError):
        lab.run_quantize_groups(w, bits, 5)


def test_gptq_matches_the_package_and_beats_rounding(lab) -> None:
    torch.manual_seed(2)
    K, out, n = 24, 10, 256
    x = torch.randn(n, K, dtype=f64) @ torch.randn(K, K, dtype=f64)  # correlated inputs: GPTQ has work to do
    acc = HessianAccumulator(K)
    acc.add(x)
    w = torch.randn(out, K, dtype=f64)
    codes, scale, zero = lab.run_gptq(w, acc.H, 4, 0.01)
    ref_codes, qp = gptq_quantize(w, acc.H, bits=4, group_size=None, block_size=K)
    assert codes.shape == (out, K)
    agree = (codes == ref_codes).double().mean()
    assert agree > 0.99, f"only {agree:.1%} of the codes agree with the reference"
    torch.testing.assert_close(scale.reshape(out, 1).double(), qp.scale.reshape(out, 1).double())
    w_hat = (codes.double() - zero.reshape(out, 1)) * scale.reshape(out, 1)
    rtn_codes, rtn_s, rtn_z = lab.run_quantize_groups(w.float(), 4, K)
    w_rtn = (rtn_codes.double() - rtn_z.double().reshape(out, 1)) * rtn_s.double().reshape(out, 1)
    assert layer_error(w_hat, w, x) < layer_error(w_rtn, w, x), "GPTQ must beat round-to-nearest on its inputs"
