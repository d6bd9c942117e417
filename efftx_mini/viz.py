"""Attention maps drawn three ways: a static grid, an ipywidgets explorer and bertviz's head view (offline).

Every function takes attention weights as a list over layers of (H, T_q, T_k) or (B, H, T_q, T_k)
tensors (what :class:`efftx_mini.attention.MultiHeadAttention` and
:meth:`efftx_mini.transformer.Transformer.attention_maps` return) and token strings for both axes.
The head view follows Vig (2019), "A Multiscale Visualization of Attention in the Transformer Model".
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

if TYPE_CHECKING:  # optional dependencies, imported where used
    from IPython.display import HTML

__all__ = [
    "attention_grid",
    "attention_explorer",
    "AttentionExplorer",
    "head_view",
    "head_view_html",
]

WeightsLike = torch.Tensor | np.ndarray
Head = int | str

_VENDOR = Path(__file__).with_name("viz_vendor")
_MEAN = "mean"


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------
def _shape(a: Any) -> str:
    return "(" + ", ".join(str(s) for s in a.shape) + ")"


def _layers(weights: object, batch: int = 0, name: str = "weights") -> list[np.ndarray]:
    """A list over layers of (H, T_q, T_k) float64 arrays, batch row ``batch`` taken from 4-D inputs."""
    if isinstance(weights, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"{name} must be a list over layers of (H, T_q, T_k) or (B, H, T_q, T_k) tensors, got a single "
            f"{type(weights).__name__} of shape {_shape(weights)}; wrap one layer as [{name}]"
        )
    if not isinstance(weights, Sequence) or isinstance(weights, str) or len(weights) == 0:
        raise TypeError(f"{name} must be a non-empty list over layers of tensors, got {type(weights).__name__}")
    if not isinstance(batch, int) or isinstance(batch, bool):
        raise TypeError(f"batch must be an int, got {type(batch).__name__}")
    out: list[np.ndarray] = []
    for i, w in enumerate(weights):
        if isinstance(w, torch.Tensor):
            arr = w.detach().to("cpu", torch.float64).numpy()
        elif isinstance(w, np.ndarray):
            arr = w.astype(np.float64)
        else:
            raise TypeError(f"{name}[{i}] must be a torch.Tensor or numpy array, got {type(w).__name__}")
        if arr.ndim == 4:
            if not -arr.shape[0] <= batch < arr.shape[0]:
                raise ValueError(f"batch={batch} is out of range for {name}[{i}] of shape (B, H, T_q, T_k) = "
                                 f"{_shape(arr)}")
            arr = arr[batch]
        elif arr.ndim != 3:
            raise ValueError(
                f"{name}[{i}] must have shape (H, T_q, T_k) or (B, H, T_q, T_k), got {_shape(arr)}"
            )
        if out and arr.shape != out[0].shape:
            raise ValueError(
                f"every layer of {name} must have the same (H, T_q, T_k): {name}[0] has {_shape(out[0])}, "
                f"{name}[{i}] has {_shape(arr)}"
            )
        out.append(arr)
    return out


def _tokens(tokens: object, n: int, name: str, axis: str) -> list[str]:
    if tokens is None or isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"{name} must be a list of token strings, got {type(tokens).__name__}")
    if len(tokens) != n:
        raise ValueError(
            f"{name} has {len(tokens)} tokens but the attention weights have {axis} = {n} positions; "
            "they must match"
        )
    return [str(t) for t in tokens]


def _token_pair(
    maps: list[np.ndarray], tokens_q: object, tokens_k: object, name: str = "weights"
) -> tuple[list[str], list[str]]:
    _, T_q, T_k = maps[0].shape
    if tokens_k is None:
        if T_q != T_k:
            raise ValueError(
                f"{name} are not square (T_q = {T_q}, T_k = {T_k}): pass tokens_k for the key axis"
            )
        tokens_k = tokens_q
    return _tokens(tokens_q, T_q, "tokens_q", "T_q"), _tokens(tokens_k, T_k, "tokens_k", "T_k")


def _index_list(sel: object, n: int, what: str, allow_mean: bool = False) -> list[Any]:
    if sel is None:
        return list(range(n))
    if isinstance(sel, (int, str)):
        sel = [sel]
    if not isinstance(sel, Sequence) or len(sel) == 0:
        raise TypeError(f"{what} must be an int or a non-empty list of ints, got {type(sel).__name__}")
    out: list[Any] = []
    for s in sel:
        if allow_mean and s == _MEAN:
            out.append(_MEAN)
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s < n:
            out.append(int(s))
        else:
            extra = ' or "mean"' if allow_mean else ""
            raise ValueError(f"{what} must be in 0..{n - 1}{extra}, got {s!r}")
    return out


def _head_map(layer: np.ndarray, head: Head) -> np.ndarray:
    return layer.mean(axis=0) if head == _MEAN else layer[head]


def _head_label(head: Head) -> str:
    return "mean" if head == _MEAN else f"H{head}"


# ----------------------------------------------------------------------------------------------
# 1. the static grid
# ----------------------------------------------------------------------------------------------
def attention_grid(
    weights: Sequence[WeightsLike],
    tokens_q: Sequence[str],
    tokens_k: Sequence[str] | None = None,
    *,
    layers: Sequence[int] | int | None = None,
    heads: Sequence[Head] | Head | None = None,
    batch: int = 0,
    cmap: str = "viridis",
    cell_size: float = 2.0,
    vmax: float | None = None,
    title: str | None = None,
) -> Figure:
    """A layers × heads grid of attention heatmaps with token labels and one shared colour bar.

    Args:
        weights: list over layers of (H, T_q, T_k) or (B, H, T_q, T_k) attention weights.
        tokens_q: T_q labels of the query (row) axis. tokens_k: T_k labels of the key (column)
            axis; defaults to ``tokens_q`` for self-attention.
        layers, heads: which layers and heads to draw (default: all); a head may be ``"mean"``.
        batch: which batch row of 4-D weights to draw.
        vmax: top of the colour scale (default: the largest weight drawn); the bottom is 0.

    Panels are titled ``L{layer} H{head}``; rows are queries, columns keys. The figure is made with
    pyplot, so Jupyter shows it at the end of the cell (``plt.close(fig)`` if you do not want that).
    """
    maps = _layers(weights, batch)
    n_heads = maps[0].shape[0]
    tq, tk = _token_pair(maps, tokens_q, tokens_k)
    layer_ids = _index_list(layers, len(maps), "layers")
    head_ids = _index_list(heads, n_heads, "heads", allow_mean=True)
    panels = [[_head_map(maps[l], h) for h in head_ids] for l in layer_ids]
    top = float(vmax) if vmax is not None else max(float(p.max()) for row in panels for p in row)
    top = top if top > 0 else 1.0

    n_r, n_c = len(layer_ids), len(head_ids)
    w = cell_size * max(1.0, len(tk) / 8)
    h = cell_size * max(1.0, len(tq) / 8)
    fig, axes = plt.subplots(
        n_r, n_c, figsize=(w * n_c + 1.2, h * n_r + (0.4 if title else 0.0)), squeeze=False, layout="constrained"
    )
    im = None
    for r, l in enumerate(layer_ids):
        for c, hd in enumerate(head_ids):
            ax = axes[r][c]
            im = ax.imshow(panels[r][c], cmap=cmap, vmin=0.0, vmax=top, aspect="auto", interpolation="nearest")
            ax.set_title(f"L{l} {_head_label(hd)}", fontsize=9)
            ax.set_xticks(range(len(tk)))
            ax.set_yticks(range(len(tq)))
            ax.set_xticklabels(tk if r == n_r - 1 else [], rotation=90, fontsize=8)
            ax.set_yticklabels(tq if c == 0 else [], fontsize=8)
            ax.tick_params(length=0)
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    if title:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------------------------
# 2. the ipywidgets explorer
# ----------------------------------------------------------------------------------------------
class AttentionExplorer(widgets.VBox):
    """Layer slider, head dropdown (with ``mean``) and query selector over one set of attention maps.

    The controls are ``.layer`` (IntSlider), ``.head`` (Dropdown) and ``.query`` (Dropdown,
    ``None`` = no row highlighted); the picture is the PNG in ``.image`` (an ipywidgets Image), drawn
    from the matplotlib figure ``.figure`` with heatmap ``.heatmap``, row frame ``.row_box`` and the
    bar chart of the selected row ``.bars``. Any change of a control redraws it.
    """

    def __init__(
        self,
        weights: Sequence[WeightsLike],
        tokens_q: Sequence[str],
        tokens_k: Sequence[str] | None = None,
        *,
        batch: int = 0,
        cmap: str = "viridis",
        figsize: tuple[float, float] | None = None,
    ) -> None:
        self.maps = _layers(weights, batch)
        self.tokens_q, self.tokens_k = _token_pair(self.maps, tokens_q, tokens_k)
        n_layers, n_heads = len(self.maps), self.maps[0].shape[0]
        self.vmax = max(float(m.max()) for m in self.maps) or 1.0

        self.layer = widgets.IntSlider(value=0, min=0, max=n_layers - 1, description="layer",
                                       disabled=n_layers == 1, continuous_update=False)
        self.head = widgets.Dropdown(options=[(_head_label(h), h) for h in range(n_heads)] + [("mean", _MEAN)],
                                     value=0, description="head")
        rows = [(f"{i}: {t}", i) for i, t in enumerate(self.tokens_q)]
        self.query = widgets.Dropdown(options=[("none", None), *rows], value=None, description="query")
        self.image = widgets.Image(format="png")

        t_q, t_k = len(self.tokens_q), len(self.tokens_k)
        size = figsize or (max(7.0, 0.45 * t_k * 2 + 2.5), max(3.2, 0.35 * t_q + 1.6))
        self.figure = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(self.figure)
        ax_map, self.ax_row = self.figure.subplots(1, 2, width_ratios=[1.0, 1.0])
        self.ax_map = ax_map
        self.heatmap = ax_map.imshow(self._current(), cmap=cmap, vmin=0.0, vmax=self.vmax, aspect="auto",
                                     interpolation="nearest")
        ax_map.set_xticks(range(t_k), self.tokens_k, rotation=90, fontsize=8)
        ax_map.set_yticks(range(t_q), self.tokens_q, fontsize=8)
        ax_map.tick_params(length=0)
        self.figure.colorbar(self.heatmap, ax=ax_map, shrink=0.8)
        self.row_box = Rectangle((-0.5, -0.5), t_k, 1, fill=False, edgecolor="red", linewidth=2, visible=False)
        ax_map.add_patch(self.row_box)
        self.bars = self.ax_row.bar(range(t_k), np.zeros(t_k), color="tab:red")
        self.ax_row.set_xticks(range(t_k), self.tokens_k, rotation=90, fontsize=8)
        self.ax_row.set_ylim(0, 1)
        self.ax_row.set_ylabel("weight")

        for w in (self.layer, self.head, self.query):
            w.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.layer, self.head, self.query]), self.image])
        self.redraw()

    def _current(self) -> np.ndarray:
        return _head_map(self.maps[self.layer.value], self.head.value)

    def current_map(self) -> np.ndarray:
        """The (T_q, T_k) map the controls select now."""
        return self._current()

    def _on_change(self, _change: dict[str, Any]) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Redraw the figure for the current control values and refresh ``.image``."""
        data = self._current()
        self.heatmap.set_data(data)
        self.ax_map.set_title(f"L{self.layer.value} {_head_label(self.head.value)}")
        q = self.query.value
        self.row_box.set_visible(q is not None)
        self.ax_row.set_visible(q is not None)
        if q is not None:
            self.row_box.set_y(q - 0.5)
            for bar, v in zip(self.bars, data[q], strict=True):
                bar.set_height(float(v))
            self.ax_row.set_title(f"query {q}: {self.tokens_q[q]}")
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=90)
        self.image.value = buf.getvalue()


def attention_explorer(
    weights: Sequence[WeightsLike],
    tokens_q: Sequence[str],
    tokens_k: Sequence[str] | None = None,
    *,
    batch: int = 0,
    cmap: str = "viridis",
) -> AttentionExplorer:
    """An ipywidgets view of attention maps: layer slider, head dropdown (incl. ``mean``), query selector.

    ``weights`` is a list over layers of (H, T_q, T_k) or (B, H, T_q, T_k) tensors. Needs a live
    kernel to react; on a static page show :func:`attention_grid` instead.
    """
    return AttentionExplorer(weights, tokens_q, tokens_k, batch=batch, cmap=cmap)


# ----------------------------------------------------------------------------------------------
# 3. bertviz's head view, offline
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _vendored_libraries() -> str:
    """d3 and jQuery, each run where ``define``/``module``/``exports`` are undefined (no AMD or CommonJS
    registration even when the page has require.js), captured once per page in ``window.__efftxVizLibs``."""
    d3 = (_VENDOR / "d3.min.js").read_text(encoding="utf-8")
    jq = (_VENDOR / "jquery.min.js").read_text(encoding="utf-8")
    for name, src in (("d3.min.js", d3), ("jquery.min.js", jq)):
        if re.search(r"</script|<!--", src, flags=re.IGNORECASE):  # would end the inline <script> early
            raise RuntimeError(f"vendored {name} cannot be inlined in a <script> element")
    return (
        "(function () {\n"
        "  var g = window;\n"
        "  if (g.__efftxVizLibs) { return; }\n"
        "  var libs = {};\n"
        "  (function (define, module, exports, require) {\n"
        f"{d3}\n"
        "  }).call(libs);\n"
        "  var oldJq = g.jQuery, old$ = g.$;\n"
        "  (function (define, module, exports, require) {\n"
        f"{jq}\n"
        "  }).call(libs);\n"
        "  libs.jQuery = g.jQuery.noConflict(true);\n"
        "  if (g.jQuery !== oldJq) { g.jQuery = oldJq; }\n"
        "  if (g.$ !== old$) { g.$ = old$; }\n"
        "  g.__efftxVizLibs = libs;\n"
        "})();\n"
    )


_CDN_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?https?://[^>]*>\s*</script>", re.IGNORECASE)
_REQUIRE_CONFIG = re.compile(r"require\.config\(\s*\{\s*paths\s*:\s*\{[^}]*\}\s*\}\s*\)\s*;")
_REQUIREJS_CALL = re.compile(
    r"requirejs\(\s*\[\s*['\"]jquery['\"]\s*,\s*['\"]d3['\"]\s*\]\s*,\s*function\s*\(\s*\$\s*,\s*d3\s*\)\s*\{"
)
_CALL_END = re.compile(r"\}\s*\)\s*;?\s*$")
_HEADER_COMMENT = re.compile(r"/\*\*\s*\n\s*\*\s*@fileoverview.*?\*\*/", re.DOTALL)
_SCRIPT_OPEN = '<script type="text/javascript">'


def _offline(html: str) -> str:
    """Rewrite bertviz's HTML: no CDN, no require.js; d3 and jQuery inlined and passed in directly."""
    html, n_cdn = _CDN_SCRIPT.subn("", html)
    start, end = html.find(_SCRIPT_OPEN), html.rfind("</script>")
    if n_cdn != 1 or start < 0 or end < start:
        raise RuntimeError("unexpected HTML from bertviz.head_view; efftx_mini.viz supports bertviz 1.4.x")
    head, body = html[:start], html[start + len(_SCRIPT_OPEN):end]
    body, n_cfg = _REQUIRE_CONFIG.subn("", body)
    body, n_req = _REQUIREJS_CALL.subn("(function ($, d3) {", body, count=1)
    body, n_end = _CALL_END.subn("})(window.__efftxVizLibs.jQuery, window.__efftxVizLibs.d3);\n", body, count=1)
    if (n_cfg, n_req, n_end) != (1, 1, 1):
        raise RuntimeError("unexpected JavaScript from bertviz.head_view; efftx_mini.viz supports bertviz 1.4.x")
    body = _HEADER_COMMENT.sub("", body)  # its source URL is a comment, but keep the page free of URLs
    # Token strings end up in JSON inside the script: keep them from closing it.
    body = body.replace("</", "<\\/").replace("<!--", "<\\!--")
    return f'{head}<script type="text/javascript">\n{_vendored_libraries()}{body}</script>\n'


def _as_bertviz(maps: list[np.ndarray]) -> list[torch.Tensor]:
    # (1, H, T_q, T_k) float64 rounded to 4 decimals: bertviz's JSON stays short.
    return [torch.from_numpy(np.round(m, 4))[None] for m in maps]


def head_view_html(
    attention: Sequence[WeightsLike] | None = None,
    tokens: Sequence[str] | None = None,
    *,
    encoder_attention: Sequence[WeightsLike] | None = None,
    decoder_attention: Sequence[WeightsLike] | None = None,
    cross_attention: Sequence[WeightsLike] | None = None,
    encoder_tokens: Sequence[str] | None = None,
    decoder_tokens: Sequence[str] | None = None,
    batch: int = 0,
    layer: int | None = None,
    heads: Sequence[int] | None = None,
    include_layers: Sequence[int] | None = None,
    prettify_tokens: bool = True,
) -> str:
    """The HTML string of :func:`head_view`: self-contained, no network access, no require.js needed."""
    from bertviz import head_view as bertviz_head_view

    enc_dec = {"encoder_attention": encoder_attention, "decoder_attention": decoder_attention,
               "cross_attention": cross_attention}
    kwargs: dict[str, Any] = {}
    if attention is not None:
        given = [k for k, v in {**enc_dec, "encoder_tokens": encoder_tokens,
                                "decoder_tokens": decoder_tokens}.items() if v is not None]
        if given:
            raise ValueError(f"pass either attention= and tokens= (self-attention) or the encoder-decoder "
                             f"arguments, not both; got attention and {', '.join(given)}")
        maps = _layers(attention, batch, "attention")
        tq, _ = _token_pair(maps, tokens, None, "attention")
        kwargs.update(attention=_as_bertviz(maps), tokens=tq)
        n_layers, n_heads = len(maps), maps[0].shape[0]
    elif any(v is not None for v in enc_dec.values()):
        if tokens is not None:
            raise ValueError("tokens= goes with attention=; for encoder-decoder maps pass encoder_tokens= and "
                             "decoder_tokens=")
        sizes: dict[str, tuple[int, int]] = {}
        for name, value in enc_dec.items():
            if value is None:
                continue
            maps = _layers(value, batch, name)
            _, T_q, T_k = maps[0].shape
            if name == "encoder_attention":
                _tokens(encoder_tokens, T_q, "encoder_tokens", f"T_q of {name}")
                _tokens(encoder_tokens, T_k, "encoder_tokens", f"T_k of {name}")
            elif name == "decoder_attention":
                _tokens(decoder_tokens, T_q, "decoder_tokens", f"T_q of {name}")
                _tokens(decoder_tokens, T_k, "decoder_tokens", f"T_k of {name}")
            else:  # cross-attention: decoder queries attend to encoder keys
                _tokens(decoder_tokens, T_q, "decoder_tokens", f"T_q of {name}")
                _tokens(encoder_tokens, T_k, "encoder_tokens", f"T_k of {name}")
            sizes[name] = (len(maps), maps[0].shape[0])
            kwargs[name] = _as_bertviz(maps)
        if len(set(sizes.values())) != 1:
            raise ValueError("encoder, decoder and cross attention must have the same (layers, heads), got "
                             + ", ".join(f"{k} {v}" for k, v in sizes.items()))
        n_layers, n_heads = next(iter(sizes.values()))
        if encoder_tokens is not None:
            kwargs["encoder_tokens"] = [str(t) for t in encoder_tokens]
        if decoder_tokens is not None:
            kwargs["decoder_tokens"] = [str(t) for t in decoder_tokens]
    else:
        raise ValueError("pass attention= (with tokens=) or at least one of encoder_attention=, "
                         "decoder_attention=, cross_attention=")
    if include_layers is not None:
        include_layers = _index_list(include_layers, n_layers, "include_layers")
    if layer is not None:
        _index_list(layer, n_layers, "layer")
        if include_layers is not None and layer not in include_layers:
            raise ValueError(f"layer={layer} is not in include_layers={include_layers}")
    if heads is not None:
        heads = _index_list(heads, n_heads, "heads")
    with warnings.catch_warnings():  # bertviz 1.4 leaves head_view.js open: a ResourceWarning under -W error
        warnings.simplefilter("ignore", ResourceWarning)
        html = bertviz_head_view(**kwargs, layer=layer, heads=heads, include_layers=include_layers,
                                 prettify_tokens=prettify_tokens, html_action="return").data
    return _offline(html)


def head_view(
    attention: Sequence[WeightsLike] | None = None,
    tokens: Sequence[str] | None = None,
    **kwargs: Any,
) -> HTML:
    """bertviz's head view (Vig 2019) that works offline: in JupyterLab, the classic notebook and a static page.

    Self-attention: ``head_view(attention=[L × (B, H, T, T)], tokens=[...])``. Encoder–decoder:
    ``head_view(encoder_attention=..., decoder_attention=..., cross_attention=..., encoder_tokens=...,
    decoder_tokens=...)`` (any subset of the three maps). Other keyword arguments: ``batch`` (row of
    4-D weights, default 0), ``layer``, ``heads``, ``include_layers``, ``prettify_tokens`` as in
    ``bertviz.head_view``. d3 and jQuery are inlined from ``efftx_mini/viz_vendor`` instead of being
    fetched from a CDN through require.js. Returns an ``IPython.display.HTML``; the raw string is
    :func:`head_view_html`.
    """
    from IPython.display import HTML

    return HTML(head_view_html(attention, tokens, **kwargs))

