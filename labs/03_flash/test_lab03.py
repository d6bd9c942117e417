"""Lab 03's public tests: the online softmax, tiled attention and its hand-written backward pass against
efftx_mini's reference implementations and the explicit formula (float64), on inputs generated here. Run:
``make lab-check LAB=03`` or ``python -m pytest labs/03_flash``."""

from __future__ import annotations

import math

import pytest
import torch
from labtools import forbidden_uses

from efftx_mini.efficient import blockwise_attention_lse, merge_states, online_softmax, softmax_state

f64 = torch.float64
SHAPES = [  # (T_q, T_k, block_q, block_k): equal, ragged, blocks larger than T
    (16, 16, 4, 4), (13, 29, 4, 8), (7, 7, 16, 16), (33, 20, 8, 5),
]


def explicit(q, k, v, causal):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        s = s.masked_fill(~torch.ones(s.shape[-2:], dtype=torch.bool).tril(), -math.inf)
    return torch.softmax(s, dim=-1) @ v, torch.logsumexp(s, dim=-1)


def qkv(T_q, T_k, d=8, d_v=6, grad=True):
    return (torch.randn(2, 3, T_q, d, dtype=f64, requires_grad=grad),
            torch.randn(2, 3, T_k, d, dtype=f64, requires_grad=grad),
            torch.randn(2, 3, T_k, d_v, dtype=f64, requires_grad=grad))


def test_does_not_call_the_reference(lab) -> None:
    uses = forbidden_uses(lab.IMPL_FILE, attributes=("scaled_dot_product_attention",))
    assert not uses, f"{lab.IMPL_FILE.name} calls what the tests compare against: {uses}"


def test_softmax_state_and_merge(lab) -> None:
    x = torch.randn(4, 10, dtype=f64)
    m, l = lab.run_softmax_state(x)  # noqa: E741
    ref = softmax_state(x)
    torch.testing.assert_close(m, ref.m)
    torch.testing.assert_close(l, ref.l)
    a, b = x[:, :3], x[:, 3:]
    got = lab.run_merge_states(lab.run_softmax_state(a), lab.run_softmax_state(b))
    whole = softmax_state(x)
    torch.testing.assert_close(got[0], whole.m)
    torch.testing.assert_close(got[1], whole.l)
    merged_ref = merge_states(softmax_state(a), softmax_state(b))
    torch.testing.assert_close(got[1], merged_ref.l)


def test_empty_states_give_no_nan(lab) -> None:
    empty = torch.full((2, 3), -math.inf, dtype=f64)
    m, l = lab.run_softmax_state(empty)  # noqa: E741
    assert torch.isneginf(m).all() and (l == 0).all()
    m2, l2 = lab.run_merge_states((m, l), (m, l))
    assert torch.isneginf(m2).all() and (l2 == 0).all()


@pytest.mark.parametrize("block", [1, 3, 64])
def test_online_softmax(lab, block: int) -> None:
    x = torch.randn(3, 17, dtype=f64) * 5
    x[1] = -math.inf
    got = lab.run_online_softmax(x, block)
    torch.testing.assert_close(got, online_softmax(x, block))
    assert torch.equal(got[1], torch.zeros(17, dtype=f64))
    torch.testing.assert_close(got[0], torch.softmax(x[0], -1))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("T_q", "T_k", "bq", "bk"), SHAPES)
def test_forward_and_lse(lab, causal: bool, T_q: int, T_k: int, bq: int, bk: int) -> None:
    if causal and T_q > T_k:
        T_k = T_q  # causal attention here: T_q <= T_k, so every query sees at least key 0
    q, k, v = qkv(T_q, T_k, grad=False)
    out, lse = lab.run_blockwise_forward(q, k, v, causal, bq, bk)
    ref_out, ref_lse = blockwise_attention_lse(q, k, v, causal=causal, block_q=bq, block_k=bk)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(lse, ref_lse)
    torch.testing.assert_close(out, explicit(q, k, v, causal)[0])


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("T_q", "T_k", "bq", "bk"), SHAPES)
def test_backward_matches_autograd_of_the_formula(lab, causal: bool, T_q: int, T_k: int, bq: int, bk: int) -> None:
    if causal and T_q > T_k:
        T_k = T_q
    q, k, v = qkv(T_q, T_k)
    g = torch.randn(2, 3, T_q, 6, dtype=f64)
    ref = torch.autograd.grad(explicit(q, k, v, causal)[0], (q, k, v), g)
    with torch.no_grad():
        out, lse = lab.run_blockwise_forward(q, k, v, causal, bq, bk)
        got = lab.run_blockwise_backward(q, k, v, out, lse, g, causal, bq, bk)
    for a, b, name in zip(got, ref, "qkv", strict=True):
        torch.testing.assert_close(a, b, msg=lambda m, name=name: f"d{name}: {m}")
    full = torch.autograd.grad(lab.run_blockwise_attention(q, k, v, causal, bq, bk), (q, k, v), g)
    for a, b in zip(full, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_autograd_function_saves_no_quadratic_tensor(lab) -> None:
    T, bq = 128, 16
    q, k, v = qkv(T, T)
    saved: list[int] = []

    def pack(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = lab.run_blockwise_attention(q, k, v, True, bq, bq)
    assert saved, "nothing was saved for the backward pass: use ctx.save_for_backward"
    per_matrix = 2 * 3 * T * T
    assert max(saved) < per_matrix // 4, f"a saved tensor has {max(saved)} numbers; T×T per head is {per_matrix}"
    out.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
