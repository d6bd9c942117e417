"""Encoder/decoder layers against torch.nn.TransformerEncoderLayer / TransformerDecoderLayer (same weights)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from efftx_mini.masks import causal_mask, padding_mask
from efftx_mini.transformer import DecoderLayer, EncoderLayer, Transformer, capture_attention


@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def copy_attn(dst_prefix: str, src_prefix: str, mapping: dict[str, str]) -> None:
    for name in ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"):
        mapping[f"{dst_prefix}.{name}"] = f"{src_prefix}.{name}"


def load_from_torch(ours: nn.Module, ref: nn.Module, decoder: bool) -> None:
    m: dict[str, str] = {}
    copy_attn("self_attn", "self_attn", m)
    if decoder:
        copy_attn("cross_attn", "multihead_attn", m)
    m.update({"ffn.w1.weight": "linear1.weight", "ffn.w1.bias": "linear1.bias",
              "ffn.w2.weight": "linear2.weight", "ffn.w2.bias": "linear2.bias"})
    for i in (1, 2, 3) if decoder else (1, 2):
        m[f"norm{i}.weight"], m[f"norm{i}.bias"] = f"norm{i}.weight", f"norm{i}.bias"
    ref_sd = ref.state_dict()
    ours.load_state_dict({k: ref_sd[v] for k, v in m.items()})


def randomize(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)  # LayerNorm gains/biases too, so a swapped norm would be caught


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_torch(norm_first):
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    randomize(ref)
    ours = EncoderLayer(16, 4, 32, dropout=0.0, norm_first=norm_first)
    load_from_torch(ours, ref, decoder=False)
    x = torch.randn(2, 6, 16, requires_grad=True)
    keep = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    out = ours(x, padding_mask(keep.long(), 0))
    ref_out = ref(x, src_key_padding_mask=~keep)
    torch.testing.assert_close(out[keep], ref_out[keep])
    w = torch.randn_like(out) * keep[..., None]
    g_ours = torch.autograd.grad((out * w).sum(), [x, *ours.parameters()])
    g_ref = torch.autograd.grad((ref_out * w).sum(), [x, *ref.parameters()])
    torch.testing.assert_close(g_ours[0], g_ref[0])
    ours_by_name = dict(zip([n for n, _ in ours.named_parameters()], g_ours[1:], strict=True))
    ref_by_name = dict(zip([n for n, _ in ref.named_parameters()], g_ref[1:], strict=True))
    torch.testing.assert_close(ours_by_name["ffn.w1.weight"], ref_by_name["linear1.weight"])
    torch.testing.assert_close(ours_by_name["self_attn.in_proj_weight"], ref_by_name["self_attn.in_proj_weight"])
    torch.testing.assert_close(ours_by_name["norm1.weight"], ref_by_name["norm1.weight"])
    torch.testing.assert_close(ours_by_name["norm2.bias"], ref_by_name["norm2.bias"])


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    torch.manual_seed(1)
    ref = nn.TransformerDecoderLayer(16, 4, 24, dropout=0.0, batch_first=True, norm_first=norm_first)
    randomize(ref)
    ours = DecoderLayer(16, 4, 24, dropout=0.0, norm_first=norm_first)
    load_from_torch(ours, ref, decoder=True)
    y = torch.randn(2, 5, 16, requires_grad=True)
    mem = torch.randn(2, 7, 16, requires_grad=True)
    out = ours(y, mem, tgt_mask=causal_mask(5))
    ref_out = ref(y, mem, tgt_mask=~causal_mask(5))
    torch.testing.assert_close(out, ref_out)
    w = torch.randn_like(out)
    g_ours = torch.autograd.grad((out * w).sum(), [y, mem, *ours.parameters()])
    g_ref = torch.autograd.grad((ref_out * w).sum(), [y, mem, *ref.parameters()])
    torch.testing.assert_close(g_ours[0], g_ref[0])
    torch.testing.assert_close(g_ours[1], g_ref[1])
    ours_by_name = dict(zip([n for n, _ in ours.named_parameters()], g_ours[2:], strict=True))
    ref_by_name = dict(zip([n for n, _ in ref.named_parameters()], g_ref[2:], strict=True))
    for a, b in [("cross_attn.in_proj_weight", "multihead_attn.in_proj_weight"), ("norm3.weight", "norm3.weight"),
                 ("ffn.w2.bias", "linear2.bias"), ("self_attn.out_proj.weight", "self_attn.out_proj.weight")]:
        torch.testing.assert_close(ours_by_name[a], ref_by_name[b])


def small_model(norm_first=False, **kw) -> Transformer:
    torch.manual_seed(0)
    m = Transformer(13, 11, d_model=16, n_heads=4, n_layers=2, d_ff=32, dropout=0.0, norm_first=norm_first, **kw)
    return m.eval()


@pytest.mark.parametrize("norm_first", [False, True])
def test_causal_leakage_changing_a_future_token_never_changes_earlier_outputs(norm_first):
    m = small_model(norm_first)
    src = torch.randint(1, 13, (3, 6))
    tgt = torch.randint(1, 11, (3, 8))
    base = m(src, tgt)
    for t in range(8):
        changed = tgt.clone()
        changed[:, t:] = (changed[:, t:] % 10) + 1  # a different non-pad token at and after t
        out = m(src, changed)
        torch.testing.assert_close(out[:, :t], base[:, :t])
        assert not torch.allclose(out[:, t:], base[:, t:])  # the test can see a change


@pytest.mark.parametrize("norm_first", [False, True])
def test_padding_invariance(norm_first):
    m = small_model(norm_first)
    src = torch.randint(1, 13, (2, 5))
    tgt = torch.randint(1, 11, (2, 4))
    base = m(src, tgt)
    src_padded = torch.cat([src, torch.zeros(2, 3, dtype=torch.long)], 1)
    tgt_padded = torch.cat([tgt, torch.zeros(2, 2, dtype=torch.long)], 1)
    torch.testing.assert_close(m(src_padded, tgt)[:, :4], base)
    torch.testing.assert_close(m(src_padded, tgt_padded)[:, :4], base)
    torch.testing.assert_close(m.encode(src_padded)[:, :5], m.encode(src))
    # without the padding mask the pads do change the outputs (so the check above can fail)
    m_nopad = small_model(norm_first, pad_id=None)
    assert not torch.allclose(m_nopad(src_padded, tgt), m_nopad(src, tgt))


def test_greedy_decode_is_the_argmax_loop():
    m = small_model()
    src = torch.randint(1, 13, (2, 5))
    ys = m.greedy_decode(src, max_len=6, start_id=1)
    ref = torch.full((2, 1), 1)
    for _ in range(5):
        nxt = m(src, ref)[:, -1].argmax(-1, keepdim=True)
        ref = torch.cat([ref, nxt], 1)
    assert torch.equal(ys, ref)


def test_greedy_decode_stops_at_end_and_pads():
    m = small_model()
    src = torch.randint(1, 13, (4, 5))
    free = m.greedy_decode(src, max_len=7, start_id=1)
    end = int(free[0, 2])  # force row 0 to finish at step 2
    ys = m.greedy_decode(src, max_len=7, start_id=1, end_id=end)
    for row in ys:
        hits = (row[1:] == end).nonzero()
        if len(hits):
            first = int(hits[0]) + 1
            assert torch.all(row[first + 1:] == m.pad_id)


def test_post_ln_is_default_and_pre_ln_has_final_norm():
    post, pre = small_model(False), small_model(True)
    assert isinstance(post.encoder.norm, nn.Identity) and isinstance(pre.encoder.norm, nn.LayerNorm)
    assert post.generator.weight is post.tgt_embed.weight  # §3.4 weight tying


def test_attention_maps_do_not_change_outputs_and_default_path_stores_nothing():
    m = small_model()
    src = torch.randint(1, 13, (2, 5))
    tgt = torch.randint(1, 11, (2, 4))
    base = m(src, tgt)
    maps = m.attention_maps(src, tgt)
    assert [tuple(w.shape) for w in maps["encoder_self"]] == [(2, 4, 5, 5)] * 2
    assert [tuple(w.shape) for w in maps["decoder_self"]] == [(2, 4, 4, 4)] * 2
    assert [tuple(w.shape) for w in maps["cross"]] == [(2, 4, 4, 5)] * 2
    # decoder self-attention is causal: nothing above the diagonal
    assert torch.all(maps["decoder_self"][0].triu(1) == 0)
    torch.testing.assert_close(m(src, tgt), base)
    for mod in m.modules():
        if hasattr(mod, "store_weights"):
            assert mod.store_weights is False and mod.last_weights is None
    with capture_attention(m) as maps2:
        m(src, tgt)
    torch.testing.assert_close(maps2["decoder.layers.1.cross_attn"], maps["cross"][1])
