"""Exact efficient attention (chapter 9) against the quadratic formula and PyTorch, values and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from efftx_mini.efficient import (
    ATTENTIONS,
    BlockwiseFeedForward,
    blockwise_attention,
    blockwise_attention_lse,
    blockwise_feedforward,
    get_attention,
    merge_states,
    online_attention,
    online_logsumexp,
    online_softmax,
    softmax_state,
)

f64 = torch.float64


def reference(q, k, v, mask=None, causal=False):
    """softmax(QKᵀ/√d)V written out; rows with no allowed key → 0 (independent of the package)."""
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    allowed = torch.ones(s.shape, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & mask
    if causal:
        allowed = allowed & torch.ones(s.shape[-2:], dtype=torch.bool).tril()
    s = s.masked_fill(~allowed, -math.inf)
    row_ok = allowed.any(-1, keepdim=True)
    p = torch.softmax(s.masked_fill(~row_ok, 0.0), dim=-1) * row_ok
    return p @ v


def qkv(*lead, T_q=13, T_k=13, d=8, d_v=None, dtype=f64, seed=0):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=dtype).requires_grad_()  # noqa: E731
    return mk(*lead, T_q, d), mk(*lead, T_k, d), mk(*lead, T_k, d_v or d)


def grads(out, inputs, seed=1):
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    return torch.autograd.grad((out * w).sum(), inputs)


def assert_same(fn, q, k, v, mask=None, causal=False, **kw):
    out = fn(q, k, v, mask, causal=causal, **kw)
    ref = reference(q, k, v, mask, causal)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads(out, (q, k, v)), grads(ref, (q, k, v)), strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


SHAPES = [(1, 1, 1, 1), (2, 17, 17, 4), (3, 5, 23, 8), (1, 31, 6, 3), (2, 64, 64, 16)]
BLOCKS = [(1, 1), (4, 7), (5, 3), (16, 16), (100, 100)]


@pytest.mark.parametrize("B,T_q,T_k,d", SHAPES)
@pytest.mark.parametrize("block_q,block_k", BLOCKS)
@pytest.mark.parametrize("causal", [False, True])
def test_blockwise_equals_reference(B, T_q, T_k, d, block_q, block_k, causal):
    q, k, v = qkv(B, 2, T_q=T_q, T_k=T_k, d=d, d_v=d + 1)
    assert_same(blockwise_attention, q, k, v, causal=causal, block_q=block_q, block_k=block_k)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block_q,block_k", [(3, 5), (8, 8), (64, 2)])
def test_blockwise_masks_and_fully_masked_rows(causal, block_q, block_k):
    q, k, v = qkv(2, 3, T_q=19, T_k=21, seed=3)
    g = torch.Generator().manual_seed(4)
    mask = torch.rand(2, 3, 19, 21, generator=g) > 0.6
    mask[0, 1, 5] = False  # a fully masked row
    mask[1, :, 0:3] = False  # several, in every head
    assert_same(blockwise_attention, q, k, v, mask, causal=causal, block_q=block_q, block_k=block_k)
    out = blockwise_attention(q, k, v, mask, causal=causal, block_q=block_q, block_k=block_k)
    assert (out[0, 1, 5] == 0).all() and (out[1, :, 0:3] == 0).all()


def test_padding_and_broadcast_masks():
    q, k, v = qkv(2, 4, T_q=10, T_k=12, seed=5)
    pad = torch.ones(2, 1, 1, 12, dtype=torch.bool)
    pad[1, ..., 7:] = False
    assert_same(blockwise_attention, q, k, v, pad, block_q=3, block_k=4)
    assert_same(blockwise_attention, q, k, v, torch.zeros(12, dtype=torch.bool), block_q=3, block_k=4)


def test_against_torch_sdpa_float32():
    q, k, v = qkv(2, 4, T_q=70, T_k=70, d=16, dtype=torch.float32)
    for causal in (False, True):
        ours = blockwise_attention(q, k, v, causal=causal, block_q=32, block_k=16)
        ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        for a, b in zip(grads(ours, (q, k, v)), grads(ref, (q, k, v)), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_gradcheck_float64():
    q, k, v = qkv(1, 2, T_q=6, T_k=7, d=3)
    mask = torch.rand(1, 2, 6, 7, generator=torch.Generator().manual_seed(0)) > 0.3
    mask[0, 0, 2] = False
    for causal in (False, True):
        fn = lambda q, k, v, c=causal: blockwise_attention(q, k, v, mask, causal=c, block_q=4, block_k=3)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (q, k, v))


def test_lse_is_logsumexp_of_scores():
    q, k, v = qkv(2, T_q=9, T_k=11)
    _, lse = blockwise_attention_lse(q, k, v, block_q=4, block_k=5)
    torch.testing.assert_close(lse, torch.logsumexp(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-1))
    mask = torch.ones(9, 11, dtype=torch.bool)
    mask[2] = False
    _, lse = blockwise_attention_lse(q, k, v, mask, block_q=4, block_k=5)
    assert lse[:, 2].eq(-math.inf).all() and torch.isfinite(lse[:, 3]).all()


def test_causal_skips_tiles_above_the_diagonal():
    """Keys after every query of a tile are never read: NaN there must not reach the output (T_q < T_k)."""
    q, k, v = qkv(1, T_q=8, T_k=32, seed=7)
    with torch.no_grad():
        k2, v2 = k.clone(), v.clone()
        k2[:, 8:], v2[:, 8:] = math.nan, math.nan
    out = blockwise_attention(q, k2, v2, causal=True, block_q=4, block_k=8)
    torch.testing.assert_close(out, reference(q, k, v, causal=True))


EXACT = ("softmax", "sdpa", "online", "blockwise")  # chapter 10 registers approximate ones too


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("causal", [False, True])
def test_exact_registry_entries_share_the_signature(name, causal):
    assert name in ATTENTIONS
    q, k, v = qkv(2, 2, T_q=11, T_k=9, seed=8)
    mask = torch.rand(2, 1, 11, 9, generator=torch.Generator().manual_seed(9)) > 0.4
    mask[1, 0, 4] = False
    assert_same(get_attention(name), q, k, v, mask, causal=causal)
    assert_same(get_attention(name), q, k, v, causal=causal)


def test_online_attention_block_sizes():
    q, k, v = qkv(3, T_q=10, T_k=17)
    for block_k in (1, 4, 17, 50):
        assert_same(online_attention, q, k, v, causal=True, block_k=block_k)


def test_online_softmax_and_merge():
    x = torch.randn(4, 5, 33, dtype=f64) * 30
    for block in (1, 4, 33, 40):
        torch.testing.assert_close(online_softmax(x, block), torch.softmax(x, -1))
        torch.testing.assert_close(online_logsumexp(x, block), torch.logsumexp(x, -1))
    a, b = softmax_state(x[..., :10]), softmax_state(x[..., 10:])
    m, l = merge_states(a, b)
    torch.testing.assert_close(m, x.amax(-1))
    torch.testing.assert_close(m + l.log(), torch.logsumexp(x, -1))
    # merging is associative and order-free
    m2, l2 = merge_states(b, a)
    torch.testing.assert_close((m2, l2), (m, l))
    empty = torch.full((2, 6), -math.inf, dtype=f64)
    assert online_softmax(empty, 2).eq(0).all()
    assert online_logsumexp(empty).eq(-math.inf).all()
    big = torch.tensor([[1000.0, 1000.0, -1000.0]], dtype=f64)  # exp(1000) overflows without the running max
    torch.testing.assert_close(online_softmax(big), torch.tensor([[0.5, 0.5, 0.0]], dtype=f64))


def test_blockwise_memory_is_linear_in_saved_tensors():
    """What autograd keeps for the backward: O(T·d) for blockwise, T² for the explicit formula."""
    saved: list[int] = []

    def pack(t):
        saved.append(t.numel())
        return t

    T = 256
    q, k, v = qkv(1, T_q=T, T_k=T, d=4, dtype=torch.float32)
    for fn, kw in ((blockwise_attention, {"block_q": 32, "block_k": 32}), (get_attention("softmax"), {})):
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(q, k, v, causal=True, **kw)
        biggest = max(saved)
        if fn is blockwise_attention:
            assert sum(saved) <= 5 * T * 4 and biggest <= T * 4
        else:
            assert biggest >= T * T


def test_blockwise_feedforward_equals_mlp():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 24), nn.GELU(), nn.Linear(24, 6)).double()
    x = torch.randn(2, 19, 6, dtype=f64, requires_grad=True)
    ref = mlp(x)
    g_ref = torch.autograd.grad(ref.square().sum(), [x, *mlp.parameters()])
    for chunk in (1, 4, 19, 64):
        plain = lambda t, c=chunk: blockwise_feedforward(mlp, t, c, recompute=False)  # noqa: E731
        for block in (BlockwiseFeedForward(mlp, chunk), plain):
            out = block(x)
            torch.testing.assert_close(out, ref)
            for a, b in zip(torch.autograd.grad(out.square().sum(), [x, *mlp.parameters()]), g_ref, strict=True):
                torch.testing.assert_close(a, b)


def test_blockwise_feedforward_does_not_save_the_hidden_activation():
    mlp = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 4))
    x = torch.randn(1, 128, 4, requires_grad=True)
    sizes: list[int] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
        blockwise_feedforward(mlp, x, 16).sum()
    assert sum(sizes) < 128 * 64  # the chunks together save less than one (T, d_ff) hidden activation
    sizes.clear()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
        mlp(x).sum()
    assert max(sizes) >= 128 * 64


@pytest.mark.parametrize("fn", [blockwise_attention, online_attention, get_attention("softmax"), get_attention("sdpa")])
def test_bad_input_errors(fn):
    q, k, v = qkv(2, T_q=5, T_k=6)
    with pytest.raises(ValueError, match=r"k and v must have the same number of positions"):
        fn(q, k, v[:, :5])
    with pytest.raises(ValueError, match=r"q and k must have the same last dim"):
        fn(q, k[..., :3], v)
    with pytest.raises(TypeError, match=r"bool tensor"):
        fn(q, k, v, torch.ones(5, 6))
    with pytest.raises(ValueError, match=r"does not broadcast"):
        fn(q, k, v, torch.ones(6, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"floating-point"):
        fn(q.long(), k, v)
    with pytest.raises(TypeError, match=r"causal must be a bool"):
        fn(q, k, v, causal=1)


def test_bad_block_sizes():
    q, k, v = qkv(1, T_q=4, T_k=4)
    with pytest.raises(ValueError, match=r"block_q must be a positive"):
        blockwise_attention(q, k, v, block_q=0)
    with pytest.raises(TypeError, match=r"block_k must be an int"):
        blockwise_attention(q, k, v, block_k=2.0)
    with pytest.raises(ValueError, match=r"unknown attention 'flash'"):
        get_attention("flash")
    with pytest.raises(ValueError, match=r"chunk must be a positive"):
        blockwise_feedforward(nn.Identity(), torch.randn(2, 3), 0)


def test_bench_memory_measures_the_quadratic_and_the_linear():
    from efftx_mini.bench import memory
    from efftx_mini.timing import Spread, verdict

    res = memory.run([512], batch=1, heads=2, d_head=8, repeats=1, warmup=0, device=torch.device("cpu"),
                     breakdown_repeats=0)
    rows = {r["impl"]: r for r in res["rows"]}
    assert set(rows) == {"softmax", "sdpa", "online", "blockwise", "softmax (A/A)"}
    weights_mib = 2 * 512 * 512 * 4 / 2**20  # one (B, H, T, T) fp32 tensor
    assert rows["softmax"]["fwd_peak_mib"] >= 2 * weights_mib  # scores and weights
    assert rows["softmax"]["fwd_bwd_peak_mib"] >= 3 * weights_mib
    assert rows["blockwise"]["fwd_bwd_peak_mib"] < weights_mib
    assert rows["online"]["fwd_bwd_peak_mib"] >= weights_mib  # plain autograd keeps every block's P
    res = memory.run([128], batch=1, heads=2, d_head=8, repeats=3, warmup=0, device=torch.device("cpu"),
                     breakdown_repeats=1)
    rows = {r["impl"]: r for r in res["rows"]}
    assert set(rows) == {"softmax", "sdpa", "online", "blockwise", "softmax (A/A)"}
    for name in ("sdpa", "online", "blockwise"):  # speed ratios to the explicit formula, with CI, A/A, verdict
        for tag in ("fwd", "fwd_bwd"):
            key = f"{tag}_speed_vs_softmax"
            sp, aa = Spread.from_dict(rows[name], f"{key}_"), Spread.from_dict(rows[name], f"{key}_aa_")
            assert sp.n == aa.n == 3 and sp.lo <= sp.ci_lo <= sp.median <= sp.ci_hi <= sp.hi
            assert rows[name][f"{key}_verdict"] == verdict(sp, aa)
            assert aa == Spread.from_dict(rows["softmax (A/A)"], f"{tag}_aa_")
    b = rows["blockwise"]  # the time breakdown: components of the profiled wall time
    assert b["fwd_bwd_matmul_calls"] > rows["softmax"]["fwd_bwd_matmul_calls"] > 0  # tiles: many small products
    assert b["fwd_bwd_op_calls"] >= b["fwd_bwd_matmul_calls"] and b["fwd_bwd_fused_ms"] == 0
    assert rows["sdpa"]["fwd_bwd_fused_ms"] > 0 and rows["sdpa"]["fwd_bwd_matmul_calls"] == 0
    for r in (rows[n] for n in ("softmax", "sdpa", "online", "blockwise")):
        parts = r["fwd_bwd_matmul_ms"] + r["fwd_bwd_fused_ms"] + r["fwd_bwd_other_ops_ms"] + r["fwd_bwd_outside_ops_ms"]
        assert min(r["fwd_bwd_matmul_ms"], r["fwd_bwd_other_ops_ms"]) >= 0 and parts == pytest.approx(
            r["fwd_bwd_wall_ms"], abs=0.05)
    assert "fwd_bwd_wall_ms" not in memory.run([64], heads=1, d_head=4, repeats=1, warmup=0,
                                               breakdown_repeats=0)["rows"][0]
    skipped = memory.run([256], heads=2, d_head=8, repeats=1, warmup=0, budget_gib=1e-6, names=["softmax", "sdpa"])
    assert skipped["rows"][0]["fwd_bwd_peak_mib"] is None and "skipped" in skipped["rows"][0]["fwd_bwd_note"]
    assert skipped["rows"][1]["fwd_bwd_peak_mib"] > 0


def test_efficient_block_equals_pre_ln_and_trains_in_an_lm():
    from efftx_mini.blocks import PreLNBlock
    from efftx_mini.efficient import EfficientPreLNBlock
    from efftx_mini.lm import DecoderOnlyLM

    torch.manual_seed(0)
    ref = PreLNBlock(16, 4, 32, causal=True).double()
    x = torch.randn(2, 37, 16, dtype=f64, requires_grad=True)
    mask = torch.ones(2, 1, 1, 37, dtype=torch.bool)
    mask[1, ..., 30:] = False
    for kw in ({"attention": "softmax", "ffn_chunk": None}, {"attention": "blockwise", "ffn_chunk": 5},
               {"attention": "online", "ffn_chunk": 64}):
        blk = EfficientPreLNBlock(16, 4, 32, causal=True, **kw).double()
        blk.load_state_dict(ref.state_dict())
        for m in (None, mask):
            out, want = blk(x, m), ref(x, m)
            torch.testing.assert_close(out, want)
            params = [x, *blk.parameters()]
            g = torch.autograd.grad(out.square().sum(), params)
            g_ref = torch.autograd.grad(want.square().sum(), [x, *ref.parameters()])
            for a, b in zip(g, g_ref, strict=True):
                torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="unknown attention"):
        EfficientPreLNBlock(16, 4, 32, causal=True, attention="nope")
    with pytest.raises(ValueError, match="ffn_chunk must be a positive int"):
        EfficientPreLNBlock(16, 4, 32, causal=True, ffn_chunk=0)
    saved = {}  # ffn_chunk must reach the MLP: with it, no (T, d_ff) hidden activation is kept for the backward
    for chunk in (None, 5):
        blk = EfficientPreLNBlock(16, 4, 32, causal=True, attention="blockwise", ffn_chunk=chunk).double()
        sizes: list[int] = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t, s=sizes: s.append(t.numel()) or t, lambda t: t):
            blk(x)
        saved[chunk] = sum(sizes)
    assert saved[None] - saved[5] >= 2 * 37 * 32  # the pre- and post-activation hidden layers of the plain MLP
    lm = DecoderOnlyLM(EfficientPreLNBlock, 11, 16, 2, 2, 32, 64, block_kwargs={"attention": "blockwise",
                                                                               "ffn_chunk": 8})
    tokens = torch.randint(0, 11, (2, 40))
    opt = torch.optim.Adam(lm.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = lm.loss(tokens[:, :-1], tokens[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]  # it memorises the batch
