"""Parameter counts: the closed-form formula against the counted model (efftx_mini.params)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from efftx_mini.params import count_parameters, layer_param_formulas, transformer_param_formula
from efftx_mini.transformer import DecoderLayer, EncoderLayer, Transformer

CONFIGS = [
    # src_vocab, tgt_vocab, d_model, n_heads, n_layers, d_ff
    (11, 13, 8, 2, 1, 16),
    (23, 17, 16, 4, 2, 24),
    (40, 40, 12, 3, 3, 20),
]


def _kw(src_vocab, tgt_vocab, d_model, n_heads, n_layers, d_ff):
    return dict(src_vocab=src_vocab, tgt_vocab=tgt_vocab, d_model=d_model, n_heads=n_heads,
                n_layers=n_layers, d_ff=d_ff)


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("tie", [False, True])
def test_formula_matches_counted_model(cfg, norm_first, tie):
    kw = _kw(*cfg)
    model = Transformer(**kw, dropout=0.0, norm_first=norm_first, tie_embeddings=tie, max_len=16)
    kw.pop("n_heads")
    expected = transformer_param_formula(**kw, norm_first=norm_first, tie_embeddings=tie)
    counted = count_parameters(model)
    assert counted == expected
    # and both agree with PyTorch's own de-duplicated parameter list
    assert counted["total"] == sum(p.numel() for p in model.parameters())


def test_three_way_tying_matches_formula():
    model = Transformer(30, 30, d_model=8, n_heads=2, n_layers=2, d_ff=12, max_len=8)
    model.src_embed.weight = model.tgt_embed.weight  # one joint vocabulary, §3.4
    counted = count_parameters(model)
    expected = transformer_param_formula(30, 30, d_model=8, n_layers=2, d_ff=12, share_src_embed=True)
    assert counted == expected
    assert counted["tgt_embed"] == 0
    assert counted["total"] == sum(p.numel() for p in model.parameters())


def test_hand_computed_small_config():
    # d=4, d_ff=6, N=1, V_src=5, V_tgt=7, tied, post-LN; written out term by term.
    d, f = 4, 6
    attn = 4 * d * d + 4 * d  # 80
    ffn = d * f + f + f * d + d  # 58
    ln = 2 * d  # 8
    enc = attn + ffn + 2 * ln  # 154
    dec = 2 * attn + ffn + 3 * ln  # 242
    total = 5 * d + 7 * d + enc + dec + 7  # embeddings + layers + generator bias = 451
    assert total == 451
    got = transformer_param_formula(5, 7, d_model=d, n_layers=1, d_ff=f)
    assert got["total"] == total
    model = Transformer(5, 7, d_model=d, n_heads=2, n_layers=1, d_ff=f, max_len=4)
    assert count_parameters(model)["total"] == total


def test_paper_base_model_on_meta_device():
    with torch.device("meta"):
        model = Transformer(37000, 37000, max_len=8)
    counted = count_parameters(model)
    assert counted == transformer_param_formula(37000, 37000)
    # encoder + decoder of the base model, independent arithmetic: 6·3,152,384 + 6·4,204,032
    assert counted["encoder"] + counted["decoder"] == 44_138_496


def test_layer_formulas_match_layers():
    d, f, h = 12, 20, 3
    parts = layer_param_formulas(d, f)
    for norm_first in (False, True):
        assert count_parameters(EncoderLayer(d, h, f, norm_first=norm_first))["total"] == parts["encoder_layer"]
        assert count_parameters(DecoderLayer(d, h, f, norm_first=norm_first))["total"] == parts["decoder_layer"]
    enc = count_parameters(EncoderLayer(d, h, f))
    assert enc["self_attn"] == parts["attention"]
    assert enc["ffn"] == parts["ffn"]
    assert enc["norm1"] == enc["norm2"] == parts["layer_norm"]


def test_one_extra_bias_is_caught():
    """The check is sharp: one extra bias vector (or a single scalar) breaks the equality."""
    kw = _kw(*CONFIGS[1])
    model = Transformer(**kw, max_len=8)
    kw.pop("n_heads")
    expected = transformer_param_formula(**kw)
    assert count_parameters(model) == expected
    model.decoder.layers[0].ffn.extra_bias = nn.Parameter(torch.zeros(1))
    counted = count_parameters(model)
    assert counted["decoder"] == expected["decoder"] + 1
    assert counted != expected
    # and a formula that forgot the generator's bias would not match either
    assert counted["generator"] == kw["tgt_vocab"]


def test_bias_free_attention_changes_count():
    assert layer_param_formulas(8, 16, bias=False)["attention"] == layer_param_formulas(8, 16)["attention"] - 32


def test_count_groups_by_depth():
    model = Transformer(9, 9, d_model=8, n_heads=2, n_layers=2, d_ff=12, max_len=8)
    deep = count_parameters(model, depth=3)
    assert deep["encoder.layers.0"] == layer_param_formulas(8, 12)["encoder_layer"]
    assert deep["total"] == count_parameters(model)["total"]


def test_bad_inputs_raise():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        count_parameters(torch.zeros(3))
    with pytest.raises(ValueError, match="depth"):
        count_parameters(nn.Linear(2, 2), depth=0)
    with pytest.raises(ValueError, match="src_vocab == tgt_vocab"):
        transformer_param_formula(10, 11, share_src_embed=True)
    with pytest.raises(ValueError, match="d_model must be positive"):
        transformer_param_formula(10, 10, d_model=0)
    with pytest.raises(TypeError, match="n_layers must be an int"):
        transformer_param_formula(10, 10, n_layers=2.0)
