"""Decoder-only and masked LMs built from every block: causality, ties, final norm, learning, errors."""

from __future__ import annotations

import pytest
import torch

from efftx_mini.blocks import BLOCKS, PostLNBlock, SASPBlock
from efftx_mini.lm import DecoderOnlyLM, MaskedLM, mask_tokens

V, D, H, L, DFF, TMAX = 40, 32, 4, 2, 64, 16


@pytest.mark.parametrize("name", list(BLOCKS))
def test_decoder_lm_is_causal_and_tied(name: str) -> None:
    torch.manual_seed(0)
    lm = DecoderOnlyLM(name, V, D, H, L, DFF, TMAX)
    assert lm.head.weight is lm.embed.weight
    x = torch.randint(0, V, (2, 10))
    y = lm(x)
    assert y.shape == (2, 10, V)
    x2 = x.clone()
    x2[:, 6:] = (x2[:, 6:] + 1) % V
    torch.testing.assert_close(lm(x2)[:, :6], y[:, :6], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(lm(x2)[:, 6:], y[:, 6:])


def test_final_norm_only_where_the_block_has_one() -> None:
    assert isinstance(DecoderOnlyLM("pre-ln", V, D, H, L, DFF, TMAX).norm, torch.nn.LayerNorm)
    assert isinstance(DecoderOnlyLM(PostLNBlock, V, D, H, L, DFF, TMAX).norm, torch.nn.Identity)
    nonorm = DecoderOnlyLM(SASPBlock, V, D, H, L, DFF, TMAX,
                           block_kwargs={"norm": None, "first_layer_norm": False, "final_norm": False})
    assert isinstance(nonorm.norm, torch.nn.Identity)
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in nonorm.modules())


def test_masked_lm_sees_both_sides_and_masks() -> None:
    torch.manual_seed(0)
    lm = MaskedLM("sas-p", V, D, H, L, DFF, TMAX, positions="sinusoidal")
    x = torch.randint(0, V - 1, (2, 10))
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % (V - 1)
    with torch.no_grad():  # make attention depend on content so later tokens move earlier outputs
        for b in lm.blocks:
            b.fused_in.weight[:D].normal_()
    assert not torch.allclose(lm(x2)[:, 0], lm(x)[:, 0])
    inputs, targets = mask_tokens(x, V - 1, 0.5, generator=torch.Generator().manual_seed(0))
    hit = inputs == V - 1
    assert hit.any() and torch.equal(targets[hit], x[hit]) and torch.all(targets[~hit] == -100)
    assert torch.isfinite(lm.loss(inputs, targets))


@pytest.mark.parametrize("name", ["pre-ln", "sas-p"])
def test_decoder_lm_learns_a_repeated_batch(name: str) -> None:
    torch.manual_seed(0)
    lm = DecoderOnlyLM(name, V, D, H, L, DFF, TMAX)
    opt = torch.optim.AdamW(lm.parameters(), lr=3e-3)
    x = torch.randint(0, V, (4, TMAX + 1))
    first = None
    for _ in range(25):
        loss = lm.loss(x[:, :-1], x[:, 1:])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.75 * first


def test_lm_errors() -> None:
    lm = DecoderOnlyLM("sas", V, D, H, L, DFF, TMAX)
    with pytest.raises(ValueError, match="max_len"):
        lm(torch.zeros(1, TMAX + 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 40\)"):
        lm(torch.full((1, 4), V, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        lm(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="targets"):
        lm.loss(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="positions"):
        DecoderOnlyLM("sas", V, D, H, L, DFF, TMAX, positions="alibi")
    with pytest.raises(ValueError, match="contradicts"):
        DecoderOnlyLM("llama", V, D, H, L, DFF, TMAX, positions="learned", block_kwargs={"rope": True})
