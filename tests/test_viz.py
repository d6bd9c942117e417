"""efftx_mini.viz: the grid, the ipywidgets explorer and the offline bertviz head view."""

from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from efftx_mini import viz  # noqa: E402
from efftx_mini.transformer import Transformer  # noqa: E402

L, H, T = 3, 2, 5
TOKENS = ["the", "cat", "sat", "on", "mats"]


def _weights(L: int = L, H: int = H, T_q: int = T, T_k: int = T, B: int = 1, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.softmax(torch.randn(B, H, T_q, T_k, generator=g) * 2, dim=-1) for _ in range(L)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- 1. grid ---------------------------------------------------------------------------------------
def test_grid_has_layers_by_heads_axes_with_token_labels():
    w = _weights()
    fig = viz.attention_grid(w, TOKENS)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == L * H
    assert len(fig.axes) == L * H + 1  # + the shared colour bar
    assert [ax.get_title() for ax in panels] == [f"L{l} H{h}" for l in range(L) for h in range(H)]
    first_col = [ax for ax in panels if ax.get_title().endswith("H0")]
    assert all([t.get_text() for t in ax.get_yticklabels()] == TOKENS for ax in first_col)
    bottom = [ax for ax in panels if ax.get_title().startswith(f"L{L - 1}")]
    assert all([t.get_text() for t in ax.get_xticklabels()] == TOKENS for ax in bottom)
    # each panel shows the right map
    for ax in panels:
        l, h = (int(s[1:]) for s in ax.get_title().split())
        np.testing.assert_allclose(ax.images[0].get_array(), w[l][0, h].numpy(), rtol=1e-6)


def test_grid_selects_layers_heads_batch_and_mean_with_distinct_key_tokens():
    w = _weights(T_q=3, T_k=4, B=2)
    fig = viz.attention_grid(w, ["a", "b", "c"], ["w", "x", "y", "z"], layers=[2], heads=[1, "mean"], batch=1)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["L2 H1", "L2 mean"]
    np.testing.assert_allclose(panels[0].images[0].get_array(), w[2][1, 1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(panels[1].images[0].get_array(), w[2][1].mean(0).numpy(), rtol=1e-6)
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["w", "x", "y", "z"]
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["a", "b", "c"]


def test_grid_accepts_transformer_maps_and_3d_layers():
    model = Transformer(12, 12, d_model=16, n_heads=2, n_layers=2, d_ff=32, dropout=0.0)
    maps = model.attention_maps(torch.randint(3, 12, (1, 4)), torch.randint(3, 12, (1, 3)))
    fig = viz.attention_grid(maps["cross"], list("abc"), list("wxyz"))
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2 * 2
    fig = viz.attention_grid([m[0] for m in maps["encoder_self"]], list("wxyz"))  # (H, T, T) layers
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2 * 2


@pytest.mark.parametrize(
    ("call", "err", "words"),
    [
        (lambda: viz.attention_grid(_weights(), TOKENS[:4]), ValueError, ["tokens_q", "4", "5"]),
        (lambda: viz.attention_grid(_weights(T_k=4), TOKENS), ValueError, ["tokens_k", "T_k = 4"]),
        (lambda: viz.attention_grid(_weights(T_k=4), TOKENS, TOKENS), ValueError, ["tokens_k", "5", "4"]),
        (lambda: viz.attention_grid(_weights()[0], TOKENS), TypeError, ["list over layers", "(1, 2, 5, 5)"]),
        (lambda: viz.attention_grid([torch.rand(5, 5)], TOKENS), ValueError, ["(H, T_q, T_k)", "(5, 5)"]),
        (lambda: viz.attention_grid([torch.rand(2, 5, 5), torch.rand(3, 5, 5)], TOKENS), ValueError,
         ["(2, 5, 5)", "(3, 5, 5)"]),
        (lambda: viz.attention_grid(_weights(), TOKENS, heads=[2]), ValueError, ["heads", "0..1", "2"]),
        (lambda: viz.attention_grid(_weights(), TOKENS, layers=[3]), ValueError, ["layers", "0..2", "3"]),
        (lambda: viz.attention_grid(_weights(), TOKENS, batch=1), ValueError, ["batch=1", "(1, 2, 5, 5)"]),
        (lambda: viz.attention_grid(_weights(), "the cat"), TypeError, ["tokens_q", "str"]),
    ],
)
def test_bad_input_raises_clear_errors(call, err, words):
    with pytest.raises(err) as info:
        call()
    for w in words:
        assert w in str(info.value)


# -- 2. explorer -----------------------------------------------------------------------------------
def test_explorer_redraws_when_controls_change():
    w = _weights()
    ex = viz.attention_explorer(w, TOKENS)
    np.testing.assert_allclose(ex.heatmap.get_array(), w[0][0, 0].numpy(), rtol=1e-6)
    assert ex.ax_map.get_title() == "L0 H0"
    assert not ex.row_box.get_visible()
    png0 = bytes(ex.image.value)
    assert png0.startswith(b"\x89PNG")

    ex.layer.value = 2
    np.testing.assert_allclose(ex.heatmap.get_array(), w[2][0, 0].numpy(), rtol=1e-6)
    assert ex.ax_map.get_title() == "L2 H0"
    png1 = bytes(ex.image.value)
    assert png1 != png0

    ex.head.value = 1
    np.testing.assert_allclose(ex.heatmap.get_array(), w[2][0, 1].numpy(), rtol=1e-6)
    ex.head.value = "mean"
    np.testing.assert_allclose(ex.heatmap.get_array(), w[2][0].mean(0).numpy(), rtol=1e-6)
    assert ex.ax_map.get_title() == "L2 mean"
    np.testing.assert_allclose(ex.current_map(), w[2][0].mean(0).numpy(), rtol=1e-6)

    ex.query.value = 3
    assert ex.row_box.get_visible() and ex.row_box.get_y() == pytest.approx(2.5)
    heights = [b.get_height() for b in ex.bars]
    np.testing.assert_allclose(heights, w[2][0].mean(0)[3].numpy(), rtol=1e-6)
    assert ex.ax_row.get_title() == "query 3: on"
    assert bytes(ex.image.value) != png1

    ex.query.value = None
    assert not ex.row_box.get_visible()


def test_explorer_controls_match_the_data():
    ex = viz.attention_explorer(_weights(T_q=3, T_k=4, B=2), ["a", "b", "c"], ["w", "x", "y", "z"], batch=1)
    assert (ex.layer.min, ex.layer.max) == (0, L - 1)
    assert list(ex.head.options) == [("H0", 0), ("H1", 1), ("mean", "mean")]
    assert [v for _, v in ex.query.options] == [None, 0, 1, 2]
    assert [t.get_text() for t in ex.ax_map.get_xticklabels()] == ["w", "x", "y", "z"]
    with pytest.raises(ValueError, match="tokens_k"):
        viz.attention_explorer(_weights(T_q=3, T_k=4), ["a", "b", "c"], ["w", "x"])


# -- 3. head view ----------------------------------------------------------------------------------
def _params(html: str) -> dict:
    m = re.search(r"const params = (\{.*?\}); //", html, flags=re.DOTALL)
    assert m, "bertviz params not found"
    return json.loads(m.group(1).replace("<\\/", "</"))


def _without_vendored(html: str) -> str:
    for name in ("d3.min.js", "jquery.min.js"):
        text = (viz._VENDOR / name).read_text(encoding="utf-8")
        assert html.count(text) == 1, f"{name} must be inlined exactly once"
        html = html.replace(text, "")
    return html


def test_head_view_is_offline_and_inlines_d3_and_jquery_once():
    w = _weights()
    html = viz.head_view_html(w, TOKENS)
    rest = _without_vendored(html)
    assert not re.search(r"https?://", rest), "a URL is left outside the vendored libraries"
    assert not re.search(r"<script[^>]*\bsrc=", html)
    for word in ("cdnjs", "require.config", "requirejs(", "require.min.js"):
        assert word not in html
    assert html.count("d3js.org v5.16.0") == 1 and html.count("jQuery v3.7.1") == 1
    assert "noConflict(true)" in rest and "window.__efftxVizLibs" in rest
    params = _params(html)
    (data,) = params["attention"]
    assert data["left_text"] == TOKENS and data["right_text"] == TOKENS
    np.testing.assert_allclose(np.array(data["attn"]), torch.cat(w).numpy(), atol=1e-4)
    assert params["root_div_id"] in html.split("<script")[0]  # the div comes before the script
    # the IPython wrapper returns the same kind of document
    out = viz.head_view(w, TOKENS)
    assert "window.__efftxVizLibs" in out.data and "cdnjs" not in out.data


def test_head_view_encoder_decoder_with_transformer_maps():
    model = Transformer(12, 12, d_model=16, n_heads=2, n_layers=2, d_ff=32, dropout=0.0)
    src, tgt = torch.randint(3, 12, (2, 4)), torch.randint(3, 12, (2, 3))
    maps = model.attention_maps(src, tgt)
    enc, dec = ["w", "x", "y", "z"], ["<s>", "b", "c"]
    html = viz.head_view_html(
        encoder_attention=maps["encoder_self"], decoder_attention=maps["decoder_self"],
        cross_attention=maps["cross"], encoder_tokens=enc, decoder_tokens=dec, batch=1,
    )
    assert not re.search(r"https?://", _without_vendored(html))
    params = _params(html)
    names = [d["name"] for d in params["attention"]]
    assert names == ["Encoder", "Decoder", "Cross"]
    cross = params["attention"][2]
    assert cross["left_text"] == dec and cross["right_text"] == enc
    expected = torch.stack([m[1] for m in maps["cross"]]).numpy()
    np.testing.assert_allclose(np.array(cross["attn"]), expected, atol=1e-4)


def test_head_view_tokens_cannot_break_out_of_the_script():
    html = viz.head_view_html(_weights(L=1, T_q=2, T_k=2), ["</script><b>x", "y"])
    body = html.split('<script type="text/javascript">', 1)[1]
    assert body.count("</script>") == 1 and body.rstrip().endswith("</script>")
    assert _params(html)["attention"][0]["left_text"][0] == "</script><b>x"


@pytest.mark.parametrize(
    ("kwargs", "err", "words"),
    [
        ({"attention": _weights(), "tokens": TOKENS[:3]}, ValueError, ["tokens_q", "3", "5"]),
        ({"attention": _weights()}, TypeError, ["tokens_q", "NoneType"]),
        ({}, ValueError, ["attention=", "encoder_attention="]),
        ({"attention": _weights(), "tokens": TOKENS, "encoder_tokens": TOKENS}, ValueError, ["encoder_tokens"]),
        ({"cross_attention": _weights(T_q=2, T_k=5), "encoder_tokens": TOKENS, "decoder_tokens": ["a"]},
         ValueError, ["decoder_tokens", "1", "2"]),
        ({"encoder_attention": _weights(T_q=5, T_k=5), "encoder_tokens": TOKENS[:4]}, ValueError,
         ["encoder_tokens", "4", "5"]),
        ({"encoder_attention": _weights(L=2), "decoder_attention": _weights(L=3), "encoder_tokens": TOKENS,
          "decoder_tokens": TOKENS}, ValueError, ["same (layers, heads)", "(2, 2)", "(3, 2)"]),
        ({"attention": _weights(), "tokens": TOKENS, "layer": 7}, ValueError, ["layer", "0..2", "7"]),
        ({"attention": _weights(), "tokens": TOKENS, "heads": [5]}, ValueError, ["heads", "0..1", "5"]),
    ],
)
def test_head_view_bad_input(kwargs, err, words):
    with pytest.raises(err) as info:
        viz.head_view_html(**kwargs)
    for w in words:
        assert w in str(info.value)
