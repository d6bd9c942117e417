"""Every block of ``efftx_mini.blocks.BLOCKS`` under key padding and a KV cache (issue 19, bug 1).

For each registered block, causal and bidirectional, with and without rotary positions, float64 and random
weights (so that W^Q = 0 and β = 0 at initialisation hide no path):
- an all-True padding mask gives the same output as no mask;
- a batch of left-padded sequences gives, at the real positions, what each sequence gives alone;
- a decoder-only LM fed through the KV cache in pieces gives the logits of the full pass, and cached generation
  equals uncached generation step by step (every block has a cache; a block that does not route attention
  through the cache is refused with a clear error).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from efftx_mini.blocks import BLOCKS, Block, PreLNBlock, SASBlock, get_block, uniform_average
from efftx_mini.generate import KVCache, generate
from efftx_mini.lm import DecoderOnlyLM, MaskedLM

D, H, DFF, V, MAXLEN = 32, 4, 48, 41, 40
NAMES = sorted(BLOCKS)
KV_NAMES = [n for n in NAMES if n not in ("sas", "sas-p")]  # blocks with W^K, W^V: n_kv_heads < n_heads works
LENGTHS = [5, 2, 4]  # one batch, left-padded to 5


def _perturb(module: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> None:
    """Add noise to every parameter, so that no path is switched off by its initial value (W^Q = 0, β = 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _block(name: str, causal: bool, layer_idx: int, rope: bool) -> Block:
    torch.manual_seed(0)
    kw = {"rope": True} if rope else {}
    blk = get_block(name)(D, H, DFF, causal=causal, layer_idx=layer_idx, n_layers=2, **kw).double().eval()
    _perturb(blk)
    return blk


def _padded(lengths: list[int], seed: int = 1) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Sequences of the given lengths, left-padded with random junk: (x (B, T, D), valid (B, T), singles)."""
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    singles = [torch.randn(1, n, D, generator=g, dtype=torch.float64) for n in lengths]
    x = torch.randn(len(lengths), T, D, generator=g, dtype=torch.float64)  # junk where padded
    valid = torch.zeros(len(lengths), T, dtype=torch.bool)
    for i, s in enumerate(singles):
        x[i, T - s.shape[1]:] = s[0]
        valid[i, T - s.shape[1]:] = True
    return x, valid, singles


def _row_positions(valid: Tensor) -> Tensor:
    return (valid.long().cumsum(1) - 1).clamp_min(0)


# --------------------------------------------------------------------------- the issue's reproduction

def test_issue19_causal_sas_with_an_all_true_key_padding_mask_equals_no_mask() -> None:
    """The issue's case: before the fix, tril() on the (1, 1, 1, 5) mask kept key 0 only and the output moved by 2.1."""
    torch.manual_seed(0)
    blk = SASBlock(16, 2, 32, causal=True).double()
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    m = torch.ones(1, 1, 1, 5, dtype=torch.bool)
    torch.testing.assert_close(blk(x, m), blk(x), rtol=1e-12, atol=1e-12)


def test_uniform_average_with_a_key_padding_mask_is_the_masked_cumulative_mean() -> None:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(2, 3, 6, 4, generator=g, dtype=torch.float64)
    valid = torch.tensor([[True] * 6, [False, False, True, True, True, True]])
    got = uniform_average(v, True, valid[:, None, None, :])
    for b in range(2):
        for i in range(6):
            keys = [j for j in range(i + 1) if valid[b, j]]
            ref = v[b, :, keys].mean(-2) if keys else torch.zeros_like(v[b, :, 0])
            torch.testing.assert_close(got[b, :, i], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["sas", "sas-p"])
def test_issue19_lm_with_sas_blocks_keeps_logits_under_valid(name: str) -> None:
    """DecoderOnlyLM with sas/sas-p given valid= (as generate passes it): unpadded rows keep their logits."""
    torch.manual_seed(0)
    lm = DecoderOnlyLM(name, V, D, H, 2, DFF, MAXLEN).double().eval()
    _perturb(lm)
    tokens = torch.randint(0, V, (2, 6), generator=torch.Generator().manual_seed(3))
    valid = torch.ones(2, 6, dtype=torch.bool)
    valid[1, :2] = False
    with torch.no_grad():
        out = lm(tokens, valid=valid)
        torch.testing.assert_close(out[0], lm(tokens[:1])[0], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(out[1, 2:], lm(tokens[1:, 2:])[0], rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- every block, block level

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("layer_idx", [0, 1])
@pytest.mark.parametrize("rope", [False, True])
def test_all_true_padding_mask_equals_no_mask(name: str, causal: bool, layer_idx: int, rope: bool) -> None:
    blk = _block(name, causal, layer_idx, rope)
    x = torch.randn(2, 6, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        ref = blk(x)
        for shape in [(2, 1, 1, 6), (1, 1, 1, 6), (2, H, 6, 6)]:
            torch.testing.assert_close(blk(x, torch.ones(shape, dtype=torch.bool)), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("layer_idx", [0, 1])
@pytest.mark.parametrize("rope", [False, True])
def test_left_padded_batch_equals_each_sequence_alone(name: str, causal: bool, layer_idx: int, rope: bool) -> None:
    blk = _block(name, causal, layer_idx, rope)
    x, valid, singles = _padded(LENGTHS)
    kw = {"positions": _row_positions(valid)} if blk.rope else {}
    with torch.no_grad():
        out = blk(x, valid[:, None, None, :], **kw)
        assert torch.isfinite(out).all()  # a padding query that sees no key gives a finite row, never NaN
        for i, s in enumerate(singles):
            n = s.shape[1]
            torch.testing.assert_close(out[i, -n:], blk(s)[0], rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- every block, in a decoder-only LM

def _lm(name: str, n_kv: int | None = None, positions: str | None = None) -> DecoderOnlyLM:
    torch.manual_seed(0)
    lm = DecoderOnlyLM(name, V, D, H, 2, DFF, MAXLEN, n_kv_heads=n_kv, positions=positions).double().eval()
    _perturb(lm, scale=0.2)
    return lm


def _lm_cases() -> list[tuple[str, int | None, str | None]]:
    cases = [(n, None, None) for n in NAMES] + [(n, 2, None) for n in KV_NAMES] + [(n, 1, None) for n in KV_NAMES]
    return cases + [(n, None, "rotary") for n in NAMES if n != "llama"]


@pytest.mark.parametrize("name, n_kv, positions", _lm_cases())
def test_lm_left_padding_equals_each_prompt_alone(name: str, n_kv: int | None, positions: str | None) -> None:
    lm = _lm(name, n_kv, positions)
    g = torch.Generator().manual_seed(5)
    rows = [torch.randint(1, V, (n,), generator=g) for n in LENGTHS]
    T = max(LENGTHS)
    tokens = torch.zeros(len(rows), T, dtype=torch.long)
    valid = torch.zeros(len(rows), T, dtype=torch.bool)
    for i, r in enumerate(rows):
        tokens[i, T - len(r):], valid[i, T - len(r):] = r, True
    with torch.no_grad():
        out = lm(tokens, valid=valid)
        for i, r in enumerate(rows):
            torch.testing.assert_close(out[i, T - len(r):], lm(r[None])[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name, n_kv, positions", _lm_cases())
def test_lm_cache_in_pieces_equals_the_full_pass(name: str, n_kv: int | None, positions: str | None) -> None:
    lm = _lm(name, n_kv, positions)
    tokens = torch.randint(0, V, (3, 11), generator=torch.Generator().manual_seed(6))
    valid = torch.ones(3, 11, dtype=torch.bool)
    valid[1, :3] = False  # a left-padded row
    valid[2, :1] = False
    with torch.no_grad():
        full = lm(tokens, valid=valid)
        cache = KVCache(lm, 3)
        parts = [lm(tokens[:, :4], valid=valid[:, :4], cache=cache), lm(tokens[:, 4:6], cache=cache)]
        parts += [lm(tokens[:, i:i + 1], cache=cache) for i in range(6, 11)]
    got = torch.cat(parts, 1)
    torch.testing.assert_close(got[valid], full[valid], rtol=1e-9, atol=1e-9)
    assert cache.length == 11 and cache.n_valid.tolist() == [11, 8, 10]


@pytest.mark.parametrize("name, n_kv, positions", _lm_cases())
def test_cached_generation_equals_uncached(name: str, n_kv: int | None, positions: str | None) -> None:
    lm = _lm(name, n_kv, positions)
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]]
    a = generate(lm, prompts, 6, greedy=True, return_logits=True)
    b = generate(lm, prompts, 6, greedy=True, return_logits=True, use_cache=False)
    assert a.tokens == b.tokens
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-9, atol=1e-9)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    s1 = generate(lm, prompts, 6, top_p=0.9, generator=g1).tokens
    assert s1 == generate(lm, prompts, 6, top_p=0.9, generator=g2, use_cache=False).tokens


# --------------------------------------------------------------------------- refusals with clear errors

class _NoCacheBlock(PreLNBlock):
    """A block whose attention bypasses Block.sdpa, so it never stores keys in a cache."""

    def forward(self, x: Tensor, mask: Tensor | None = None, *, positions: Tensor | None = None) -> Tensor:
        self._check(x, mask, positions)
        return x + self.mlp(self.norm2(x))


def test_a_block_that_bypasses_the_cache_is_refused_with_a_clear_error() -> None:
    lm = DecoderOnlyLM(_NoCacheBlock, V, D, H, 2, DFF, MAXLEN).eval()
    with pytest.raises(ValueError, match="does not route attention through Block.sdpa.*use_cache=False"):
        generate(lm, [[1, 2]], 2)
    assert len(generate(lm, [[1, 2]], 2, use_cache=False).tokens[0]) == 2


def test_a_cache_for_a_bidirectional_model_is_refused() -> None:
    with pytest.raises(ValueError, match="causal blocks"):
        KVCache(MaskedLM("pre-ln", V, D, H, 2, DFF, MAXLEN), 1)


@pytest.mark.parametrize("name", ["value-skipinit", "sas", "sas-p"])
def test_explicit_path_and_a_mask_are_refused_with_a_cache(name: str) -> None:
    lm = _lm(name)
    cache = KVCache(lm, 1)
    cache.begin(torch.ones(1, 3, dtype=torch.bool))
    blk = lm.blocks[0]
    blk.kv_cache = cache.layers[0]
    try:
        x = torch.randn(1, 3, D, dtype=torch.float64)
        with pytest.raises(ValueError, match="explicit|not as mask"):
            blk(x, explicit=True)
        with pytest.raises(ValueError, match="not as mask"):
            blk(x, torch.ones(1, 1, 1, 3, dtype=torch.bool))
    finally:
        blk.kv_cache = None


def test_positions_for_a_block_without_rope_are_refused() -> None:
    blk = PreLNBlock(D, H, DFF, causal=True)
    with pytest.raises(ValueError, match="rope=False"):
        blk(torch.randn(1, 3, D), positions=torch.arange(3))
    rope = PreLNBlock(D, H, DFF, causal=True, rope=True)
    with pytest.raises(ValueError, match=r"\(T,\) = \(3,\) or \(B, T\)"):
        rope(torch.randn(1, 3, D), positions=torch.arange(4))
