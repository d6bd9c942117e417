"""Lab 04's public tests: linear attention (non-causal, causal in chunks, one step at a time) against efftx_mini's
reference implementation and the quadratic masked form (float64), values and gradients. Run:
``make lab-check LAB=04`` or ``python -m pytest labs/04_linear``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from labtools import forbidden_uses

from efftx_mini.efficient.linear import elu_feature_map, linear_attention, linear_attention_weights

f64 = torch.float64


def qkv(T, d=6, d_v=5, T_k=None, grad=True):
    T_k = T if T_k is None else T_k
    return (torch.randn(2, 3, T, d, dtype=f64, requires_grad=grad),
            torch.randn(2, 3, T_k, d, dtype=f64, requires_grad=grad),
            torch.randn(2, 3, T_k, d_v, dtype=f64, requires_grad=grad))


def test_does_not_call_the_reference(lab) -> None:
    uses = forbidden_uses(lab.IMPL_FILE)
    assert not uses, f"{lab.IMPL_FILE.name} calls what the tests compare against: {uses}"


def test_feature_map(lab) -> None:
    x = torch.randn(4, 7, dtype=f64) * 3
    got = lab.run_feature_map(x)
    torch.testing.assert_close(got, elu_feature_map(x))
    torch.testing.assert_close(got, F.elu(x) + 1)
    assert (got > 0).all()


@pytest.mark.parametrize(("T", "T_k"), [(9, 9), (5, 12)])
def test_non_causal(lab, T: int, T_k: int) -> None:
    q, k, v = qkv(T, T_k=T_k)
    got = lab.run_linear_attention(q, k, v, False, 4)
    ref, _ = linear_attention(q, k, v)
    torch.testing.assert_close(got, ref)
    quadratic = linear_attention_weights(q, k) @ v
    torch.testing.assert_close(got, quadratic)
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(got, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("T", "chunk"), [(16, 4), (13, 5), (7, 64), (20, 1)])
def test_causal_chunks(lab, T: int, chunk: int) -> None:
    q, k, v = qkv(T)
    got = lab.run_linear_attention(q, k, v, True, chunk)
    ref, _ = linear_attention(q, k, v, causal=True)
    torch.testing.assert_close(got, ref)
    torch.testing.assert_close(got, linear_attention_weights(q, k, causal=True) @ v)
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(got, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g), strict=True):
        torch.testing.assert_close(a, b)


def test_causal_output_ignores_the_future(lab) -> None:
    q, k, v = qkv(12, grad=False)
    base = lab.run_linear_attention(q, k, v, True, 4)
    k2, v2 = k.clone(), v.clone()
    k2[..., 8:, :] += 5.0
    v2[..., 8:, :] -= 3.0
    changed = lab.run_linear_attention(q, k2, v2, True, 4)
    torch.testing.assert_close(changed[..., :8, :], base[..., :8, :])


def test_causal_form_builds_no_T_by_T_tensor(lab) -> None:
    T, chunk = 256, 16
    q, k, v = qkv(T, d=4, d_v=4)
    sizes: list[tuple[int, ...]] = []

    def pack(t):
        sizes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        lab.run_linear_attention(q, k, v, True, chunk).sum().backward()
    square = [s for s in sizes if len(s) >= 2 and s[-1] == T and s[-2] == T]
    assert not square, f"tensors of shape (..., T, T) were built: {square[:3]}"


def test_steps_equal_the_parallel_form(lab) -> None:
    q, k, v = qkv(10, grad=False)
    state = lab.run_initial_state((2, 3), 6, 5, f64)
    outs = []
    for t in range(10):
        out, state = lab.run_step(q[..., t, :], k[..., t, :], v[..., t, :], state)
        outs.append(out)
        assert state[0].shape == (2, 3, 6, 5) and state[1].shape == (2, 3, 6)
    ref, _ = linear_attention(q, k, v, causal=True)
    torch.testing.assert_close(torch.stack(outs, dim=-2), ref)
