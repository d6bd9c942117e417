"""Heatmap explorers that stay interactive without a Python kernel: precomputed views + a small inline script.

An ipywidgets explorer calls back into Python on every change, so on a static page (the book's site) it is dead.
Here every view the controls can reach is computed up front and embedded in the cell's HTML output (values
quantised to 8 bits over one colour range, base64), and a self-contained script draws the selected view as SVG
when a slider moves or a menu changes. No network, no kernel, no library: it works on the static site, in
JupyterLab and in the classic notebook alike. Used for the attention maps of Vaswani et al. (2017), §3.2,
(:func:`scatter_explorer`) for scatter plots with a caption per view, such as a proxy against accuracy (chapter 15),
and (:func:`figure_explorer`) for small vector drawings: arrows in the plane next to bar charts, such as a query
moving among keys (:func:`query_explorer_static`, chapter 2) and the clock hands of sinusoidal and rotary position
encodings (:func:`clock_explorer_static`, chapter 3).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["StaticExplorer", "StaticFigure", "StaticScatter", "attention_explorer_static", "clock_explorer_static",
           "figure_explorer", "heatmap_explorer", "query_explorer_static", "scatter_explorer"]

LEVELS = 255  # 8-bit quantisation of each view over [vmin, vmax]


def _as_matrix(value: object, where: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().float().numpy()
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D (rows, cols) array, got shape {tuple(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: contains NaN or infinite values")
    return arr


def _colours(cmap: str, n: int = 11) -> list[str]:
    """n evenly spaced stops of a matplotlib colormap as #rrggbb (the script interpolates between them)."""
    import matplotlib

    rgba = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, n))
    return ["#" + "".join(f"{int(round(255 * c)):02x}" for c in row[:3]) for row in rgba]


def _options(keys: list[tuple[object, ...]], controls: list[str]) -> list[list[object]]:
    """Each control's options in order of first appearance; every combination must be a key."""
    options: list[list[object]] = [[] for _ in controls]
    for key in keys:
        if not isinstance(key, tuple) or len(key) != len(controls):
            raise ValueError(f"every key must be a tuple of {len(controls)} values (one per control "
                             f"{controls}), got {key!r}")
        for i, value in enumerate(key):
            if value not in options[i]:
                options[i].append(value)
    expected = int(np.prod([len(o) for o in options]))
    if expected != len(keys):
        raise ValueError(f"views must hold every combination of the controls' options ({expected}), got {len(keys)}")
    return options


def _key(choice: tuple[object, ...]) -> str:
    """A view's key in the payload: the controls' values joined by "|" (what the page's script builds)."""
    return "|".join(str(c) for c in choice)


def _controls(controls: list[str], options: list[list[object]]) -> list[dict[str, Any]]:
    return [{"name": name, "options": [str(o) for o in opts],
             "slider": all(isinstance(o, (int, np.integer)) and not isinstance(o, bool) for o in opts)}
            for name, opts in zip(controls, options, strict=True)]


class StaticExplorer:
    """The HTML of one explorer; displayed through ``_repr_html_`` (Jupyter, myst-nb)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
        self.element_id = f"efftx-explorer-{digest}"

    def view(self, *choice: object) -> np.ndarray:
        """The dequantised panels of one choice of the controls, (panels, rows, cols) — what the page draws."""
        p = self.payload
        out = []
        for encoded, (lo, hi) in zip(self._stored(choice), p["ranges"], strict=True):
            q = np.frombuffer(base64.b64decode(encoded), dtype=np.uint8).astype(np.float64)
            out.append((lo + q / LEVELS * (hi - lo)).reshape(p["rows"], p["cols"]))
        return np.stack(out)

    def _stored(self, choice: tuple[object, ...]) -> Any:
        """The view of one choice of the controls as the payload stores it (the page's ``data-view`` key)."""
        key = _key(choice)
        if key not in self.payload["views"]:
            raise KeyError(f"no view for {choice}; controls: {self.payload['controls']}")
        return self.payload["views"][key]

    def __repr__(self) -> str:
        names = ", ".join(c["name"] for c in self.payload["controls"])
        return f"StaticExplorer({len(self.payload['views'])} views; controls: {names})"

    def _script(self) -> str:
        """The page-side script of this kind (:func:`_page_script`)."""
        return _SCRIPT

    def _repr_html_(self) -> str:
        data = json.dumps(self.payload, separators=(",", ":")).replace("</", "<\\/")
        return (f'<div class="efftx-explorer" id="{self.element_id}" data-efftx-explorer="1">'
                f'<script type="application/json" class="efftx-explorer-data">{data}</script>'
                f"<script>{self._script() % json.dumps(self.element_id)}</script></div>")


def heatmap_explorer(
    views: Mapping[tuple[object, ...], Sequence[object]],
    controls: Sequence[str],
    panels: Sequence[str],
    *,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    panel_ranges: Sequence[tuple[float, float] | None] | None = None,
    cmap: str = "viridis",
    title: str = "",
) -> StaticExplorer:
    """An explorer over precomputed heatmaps: ``views[(c1, c2, ...)]`` is one 2-D array per panel.

    One control per key position, named by ``controls``; its options are the values met at that position, in
    order of first appearance. A control whose options are all integers is a slider, any other a menu. Every
    combination the controls can reach must be in ``views``. One colour scale (``vmin``..``vmax``, default: the
    range of all views) for every panel, unless ``panel_ranges`` gives a panel its own (vmin, vmax) (e.g. an
    image next to a map); values are stored with 8 bits, so the page shows them to about (vmax - vmin) / 255.
    """
    if not views:
        raise ValueError("views is empty: nothing to explore")
    controls = list(controls)
    panels = list(panels)
    keys = list(views)
    options = _options(keys, controls)
    mats = {key: [_as_matrix(m, f"views[{key!r}][{j}]") for j, m in enumerate(views[key])] for key in keys}
    shape = mats[keys[0]][0].shape
    for key, ms in mats.items():
        if len(ms) != len(panels):
            raise ValueError(f"views[{key!r}] has {len(ms)} arrays, expected one per panel ({len(panels)})")
        for m in ms:
            if m.shape != shape:
                raise ValueError(f"views[{key!r}]: every array must have shape {shape}, got {m.shape}")
    rows, cols = shape
    if x_labels is not None and len(x_labels) != cols:
        raise ValueError(f"x_labels: expected {cols} labels (columns), got {len(x_labels)}")
    if y_labels is not None and len(y_labels) != rows:
        raise ValueError(f"y_labels: expected {rows} labels (rows), got {len(y_labels)}")
    every = np.stack([m for ms in mats.values() for m in ms])
    lo = float(every.min()) if vmin is None else float(vmin)
    hi = float(every.max()) if vmax is None else float(vmax)
    if panel_ranges is not None and len(panel_ranges) != len(panels):
        raise ValueError(f"panel_ranges: expected one (vmin, vmax) or None per panel ({len(panels)}), "
                         f"got {len(panel_ranges)}")
    ranges = []
    for j, own in enumerate(panel_ranges or [None] * len(panels)):
        a, b = (lo, hi) if own is None else (float(own[0]), float(own[1]))
        if own is not None and not b > a:
            raise ValueError(f"panel_ranges[{j}]: expected vmin < vmax, got {own}")
        ranges.append((a, b if b > a else a + 1.0))
    encoded = {}
    for key, ms in mats.items():
        q = [np.rint((np.clip(m, a, b) - a) / (b - a) * LEVELS).astype(np.uint8)
             for m, (a, b) in zip(ms, ranges, strict=True)]
        encoded[_key(key)] = [base64.b64encode(a.tobytes()).decode("ascii") for a in q]
    payload = {
        "title": title,
        "controls": _controls(controls, options),
        "panels": panels,
        "rows": rows,
        "cols": cols,
        "x_labels": [str(t) for t in x_labels] if x_labels is not None else None,
        "y_labels": [str(t) for t in y_labels] if y_labels is not None else None,
        "ranges": [list(r) for r in ranges],
        "colours": _colours(cmap),
        "views": encoded,
    }
    return StaticExplorer(payload)


def attention_explorer_static(
    weights: Sequence[object],
    query_tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    *,
    batch: int = 0,
) -> StaticExplorer:
    """Attention maps per layer (slider) and head or their mean (menu), kernel-free; same input as ``attention_grid``.

    ``weights``: a list over layers of (H, T_q, T_k) or (B, H, T_q, T_k) attention weights.
    """
    layers = []
    for i, w in enumerate(weights):
        if isinstance(w, torch.Tensor):
            w = w.detach().cpu().float().numpy()
        arr = np.asarray(w, dtype=np.float64)
        if arr.ndim == 4:
            if not 0 <= batch < arr.shape[0]:
                raise ValueError(f"batch={batch} out of range for weights[{i}] of shape {arr.shape}")
            arr = arr[batch]
        if arr.ndim != 3:
            raise ValueError(f"weights[{i}]: expected (H, T_q, T_k) or (B, H, T_q, T_k), got shape {arr.shape}")
        layers.append(arr)
    if not layers:
        raise ValueError("weights is empty: expected a list over layers")
    if any(a.shape != layers[0].shape for a in layers):
        raise ValueError(f"every layer must have the same shape, got {[a.shape for a in layers]}")
    n_heads, t_q, t_k = layers[0].shape
    key_tokens = query_tokens if key_tokens is None else key_tokens
    views: dict[tuple[object, ...], list[np.ndarray]] = {}
    for layer, arr in enumerate(layers):
        for head in [*range(n_heads), "mean"]:
            views[(layer, head)] = [arr.mean(0) if head == "mean" else arr[head]]
    return heatmap_explorer(views, ["layer", "head"], ["attention weights"], x_labels=list(key_tokens),
                            y_labels=list(query_tokens), vmin=0.0, vmax=float(max(a.max() for a in layers)),
                            title="rows: queries, columns: keys")


class StaticScatter(StaticExplorer):
    """A scatter explorer's HTML (same container, controls and ``data-view`` attribute as :class:`StaticExplorer`)."""

    def view(self, *choice: object) -> np.ndarray:
        """The (2, n) x and y of one choice of the controls, as stored in the page."""
        v = self._stored(choice)
        return np.array([v["x"], v["y"]], dtype=np.float64)

    def note(self, *choice: object) -> str:
        """The caption shown under the view (e.g. a rank correlation and its interval)."""
        return self._stored(choice)["note"]

    def _script(self) -> str:
        return _SCATTER_SCRIPT


def scatter_explorer(
    views: Mapping[tuple[object, ...], tuple[Sequence[float], Sequence[float], str]],
    controls: Sequence[str],
    *,
    x_label: str,
    y_label: str,
    cmap: str = "viridis",
    title: str = "",
) -> StaticScatter:
    """An explorer over precomputed scatter plots: ``views[(c1, c2, ...)] = (x, y, note)``.

    Controls work as in :func:`heatmap_explorer` (integer options: a slider, others: a menu; every combination
    must be present). Each view has its own axis ranges; point i is coloured by the rank of its x within the
    view, and ``note`` is printed under the plot. Values are stored with 4 significant digits.
    """
    if not views:
        raise ValueError("views is empty: nothing to explore")
    controls = list(controls)
    options = _options(list(views), controls)
    encoded = {}
    n = None
    for key, view in views.items():
        if len(view) != 3:
            raise ValueError(f"views[{key!r}] must be (x, y, note), got {len(view)} items")
        x, y = (np.asarray(v, dtype=np.float64) for v in view[:2])
        if x.ndim != 1 or x.shape != y.shape or x.size < 2:
            raise ValueError(f"views[{key!r}]: x and y must be 1-D of the same length ≥ 2, got {x.shape} and {y.shape}")
        if n is not None and x.size != n:
            raise ValueError(f"views[{key!r}]: every view must have the same number of points ({n}), got {x.size}")
        n = x.size
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError(f"views[{key!r}]: contains NaN or infinite values")
        rank = np.argsort(np.argsort(x, kind="stable"), kind="stable")
        encoded[_key(key)] = {
            "x": [float(f"{v:.4g}") for v in x], "y": [float(f"{v:.4g}") for v in y],
            "c": [int(r) for r in rank], "note": str(view[2])}
    payload = {
        "kind": "scatter",
        "title": title,
        "controls": _controls(controls, options),
        "x_label": x_label,
        "y_label": y_label,
        "n": n,
        "colours": _colours(cmap),
        "views": encoded,
    }
    return StaticScatter(payload)


class StaticFigure(StaticExplorer):
    """A figure explorer's HTML: panels of arrows or bars, redrawn from precomputed views (no kernel)."""

    def view(self, *choice: object) -> list[dict[str, Any]]:
        """The panels of one choice of the controls, as stored in the page (numbers to 3 significant digits)."""
        return self._stored(choice)

    def _script(self) -> str:
        return _FIGURE_SCRIPT


def _num(value: object) -> float:
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"a drawn value is NaN or infinite: {value!r}")
    return float(f"{v:.3g}")


def figure_explorer(
    views: Mapping[tuple[object, ...], Sequence[Mapping[str, Any]]],
    controls: Sequence[str],
    panels: Sequence[Mapping[str, Any]],
    *,
    title: str = "",
) -> StaticFigure:
    """An explorer over precomputed drawings: ``views[(c1, c2, ...)]`` holds one dict per panel.

    A panel is ``{"kind": "arrows", "labels": [...], "colours": [...], "circle": bool}`` (vectors from the origin
    in the plane, a dashed unit circle; a view gives ``{"arrows": [[x, y], ...], "lim": half-width, "title": str,
    "circle": radius (optional)}``) or
    ``{"kind": "bars", "labels": [...], "colours": [...], "highlight_colour": str, "ylim": [lo, hi] or None,
    "y_label": str, "x_label": str}`` (a view gives ``{"values": [...], "highlight": index (optional),
    "title": str}``; the highlighted bar takes ``highlight_colour``). Controls work as in :func:`heatmap_explorer`
    (integer options: a slider, others: a menu; every combination must be present).
    """
    if not views:
        raise ValueError("views is empty: nothing to explore")
    controls = list(controls)
    keys = list(views)
    options = _options(keys, controls)
    specs = [dict(p) for p in panels]
    for j, spec in enumerate(specs):
        if spec.get("kind") not in ("arrows", "bars"):
            raise ValueError(f"panels[{j}]: kind must be 'arrows' or 'bars', got {spec.get('kind')!r}")
    encoded = {}
    for key, drawn in views.items():
        if len(drawn) != len(specs):
            raise ValueError(f"views[{key!r}] has {len(drawn)} panels, expected {len(specs)}")
        out = []
        for j, (spec, view) in enumerate(zip(specs, drawn, strict=True)):
            n = len(spec.get("labels", []))
            if spec["kind"] == "arrows":
                arrows = np.asarray(view["arrows"], dtype=np.float64)
                if arrows.ndim != 2 or arrows.shape[1] != 2 or (n and arrows.shape[0] != n):
                    raise ValueError(f"views[{key!r}][{j}]: arrows must be ({n or 'n'}, 2), got {arrows.shape}")
                item = {"arrows": [[_num(x), _num(y)] for x, y in arrows], "lim": _num(view.get("lim", 1.4)),
                        "title": str(view.get("title", ""))}
                if view.get("circle") is not None:
                    item["circle"] = _num(view["circle"])
                out.append(item)
            else:
                values = [_num(v) for v in view["values"]]
                if n and len(values) != n:
                    raise ValueError(f"views[{key!r}][{j}]: expected {n} bar values, got {len(values)}")
                item: dict[str, Any] = {"values": values, "title": str(view.get("title", ""))}
                if view.get("highlight") is not None:
                    item["highlight"] = int(view["highlight"])
                out.append(item)
        encoded[_key(key)] = out
    payload = {"kind": "figure", "title": title, "controls": _controls(controls, options), "panels": specs,
               "views": encoded}
    return StaticFigure(payload)


def _mpl_colours(n: int) -> list[str]:
    """The first n colours of matplotlib's default cycle (C0, C1, ...), as the book's static figures use them."""
    import matplotlib
    from matplotlib.colors import to_hex

    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    return [to_hex(cycle[j % len(cycle)]) for j in range(n)]


def query_explorer_static(
    keys: object,
    *,
    angles: Sequence[int] = tuple(range(0, 360, 15)),
    lengths: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0),
) -> StaticFigure:
    """A query $q$ moving among fixed 2-D keys and its attention weights $\\mathrm{softmax}(q k^\\top)$ (a soft
    dictionary lookup at $\\tau = 1$; Vaswani et al. 2017, §3.2.1): a slider turns $q$ (``angles`` in degrees),
    a menu sets its length $\\|q\\|$. ``keys``: (n, 2)."""
    k = _as_matrix(keys, "keys")
    if k.shape[1] != 2:
        raise ValueError(f"keys: expected (n, 2) vectors in the plane, got shape {k.shape}")
    n = k.shape[0]
    colours = _mpl_colours(n)
    labels = [f"k{j}" for j in range(n)]
    views: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    for length in lengths:
        for angle in angles:
            q = float(length) * np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
            s = k @ q
            alpha = np.exp(s - s.max())
            alpha /= alpha.sum()
            lim = max(1.4, float(np.abs(k).max()) + 0.3, float(length) + 0.3)
            views[(f"{float(length):g}", int(angle))] = [
                {"arrows": np.vstack([k, q[None]]), "lim": lim, "title": f"|q| = {float(length):g}, {int(angle)}°"},
                {"values": alpha, "title": f"max α = {alpha.max():.2f}"},
            ]
    panels = [{"kind": "arrows", "labels": [*labels, "q"], "colours": [*colours, "#000000"], "circle": True},
              {"kind": "bars", "labels": labels, "colours": colours, "ylim": [0.0, 1.0], "y_label": "α",
               "x_label": "softmax(q·k)"}]
    return figure_explorer(views, ["|q|", "angle"], panels)


def clock_explorer_static(
    q: object,
    k: object,
    *,
    m: int = 3,
    positions: Sequence[int] = tuple(range(0, 33)),
    pairs: Sequence[int] = (0, 2, 4, 8, 16, 31),
    base: float = 10000.0,
) -> StaticFigure:
    """The clock hands of position encodings: each feature pair $i$ turns by $\\omega_i = \\mathrm{base}^{-2i/d}$
    per position. Sinusoidal (Vaswani et al. 2017, §3.5): the pairs of $\\mathrm{PE}[m]$ and $\\mathrm{PE}[n]$ and
    the contributions $\\cos((n-m)\\omega_i)$ to their dot product. Rotary (Su et al. 2021, eq. 34): pair $i$ of
    the query at $m$ and of the key at $n$, each rotated by its position, and the contributions
    $\\mathrm{Re}(q_i \\bar k_i e^{\\mathrm{i}(m-n)\\theta_i})$ to the score. Menus: the encoding and the pair;
    slider: $n$. ``q``, ``k``: (d,) vectors with even d (the rotary query and key)."""
    qv, kv = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64) for v in (q, k))
    if qv.ndim != 1 or qv.shape != kv.shape or qv.size % 2:
        raise ValueError(f"q and k: expected two (d,) vectors of the same even d, got {qv.shape} and {kv.shape}")
    d = qv.size
    if any(not 0 <= i < d // 2 for i in pairs):
        raise ValueError(f"pairs: every index must be in [0, {d // 2}), got {list(pairs)}")
    omega = base ** (-np.arange(0, d, 2) / d)  # (d/2,)
    qz, kz = qv[0::2] + 1j * qv[1::2], kv[0::2] + 1j * kv[1::2]
    lim_rope = 1.25 * max(np.abs(qz).max(), np.abs(kz).max())
    c_m, c_n = _mpl_colours(4)[0], _mpl_colours(4)[3]
    views: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    for enc in ("sinusoidal", "rotary"):
        for i in pairs:
            for n in positions:
                if enc == "sinusoidal":
                    hands = np.array([[np.cos(m * omega[i]), np.sin(m * omega[i])],
                                      [np.cos(n * omega[i]), np.sin(n * omega[i])]])
                    contrib = np.cos((n - m) * omega)
                    total, lim = f"PE[{m}]·PE[{n}] = {contrib.sum():.2f}", 1.4
                else:
                    zq, zk = qz[i] * np.exp(1j * m * omega[i]), kz[i] * np.exp(1j * n * omega[i])
                    hands = np.array([[zq.real, zq.imag], [zk.real, zk.imag]])
                    contrib = (qz * np.conj(kz) * np.exp(1j * (m - n) * omega)).real
                    total, lim = f"<R{m} q, R{n} k> = {contrib.sum():.2f}", lim_rope
                views[(enc, f"i={i}", int(n))] = [
                    {"arrows": hands, "lim": lim, "circle": 1.0 if enc == "sinusoidal" else abs(kz[i]),
                     "title": f"i = {i}: (n − m)·ω = {(n - m) * omega[i]:.2f} rad"},
                    {"values": contrib, "highlight": i, "title": total}]
    panels = [{"kind": "arrows", "labels": [f"m={m}", "n"], "colours": [c_m, c_n], "circle": True},
              {"kind": "bars", "labels": [str(j) for j in range(d // 2)], "colours": ["#9db8d2"] * (d // 2),
               "highlight_colour": c_n, "ylim": None, "y_label": "", "x_label": "i"}]
    return figure_explorer(views, ["encoding", "pair", "n"], panels)


# The page-side half of every explorer, joined by _page_script: _HEAD finds the container (once) and reads the JSON
# next to it, the kind's setup defines its helpers, _CONTROL_BAR builds one slider (integer options) or menu per
# control, and the kind's body draws its panels and redraws the selected view on every input event.
_HEAD = r"""
(function () {
  var root = document.getElementById(%s);
  if (!root || root.getAttribute("data-ready")) return;
  root.setAttribute("data-ready", "1");
  var d = JSON.parse(root.querySelector("script.efftx-explorer-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
"""

_CONTROL_BAR = r"""  var bar = document.createElement("div");
  bar.className = "efftx-explorer-controls";
  bar.style.cssText = "display:flex;flex-wrap:wrap;gap:1rem;align-items:center;margin:.3rem 0;font-size:.9rem";
  root.appendChild(bar);
  var inputs = d.controls.map(function (c) {
    var label = document.createElement("label");
    label.textContent = c.name + " ";
    var input;
    if (c.slider) {
      input = document.createElement("input");
      input.type = "range"; input.min = 0; input.max = c.options.length - 1; input.step = 1; input.value = 0;
      var shown = document.createElement("output");
      shown.textContent = c.options[0];
      input.addEventListener("input", function () { shown.textContent = c.options[+input.value]; });
      label.appendChild(input); label.appendChild(shown);
    } else {
      input = document.createElement("select");
      c.options.forEach(function (o, i) {
        var opt = document.createElement("option"); opt.value = i; opt.textContent = o; input.appendChild(opt);
      });
      label.appendChild(input);
    }
    input.setAttribute("data-control", c.name);
    bar.appendChild(label);
    return input;
  });
  function selected() {  // the key of the view the controls point at, also recorded as the root's data-view
    var key = inputs.map(function (input, i) { return d.controls[i].options[+input.value]; }).join("|");
    root.setAttribute("data-view", key);
    return key;
  }
"""

# every kind's body defines draw(): the controls redraw on every input event, and once at the start
_FOOT = r"""  inputs.forEach(function (input) {
    input.addEventListener("input", draw); input.addEventListener("change", draw);
  });
  draw();
})();
"""

# colour stops of the payload's colormap, for the kinds that colour by value
_STOPS = r"""  function hex(c) { return [1, 3, 5].map(function (i) { return parseInt(c.substr(i, 2), 16); }); }
  var stops = d.colours.map(hex);
"""


def _page_script(setup: str, body: str) -> str:
    """One kind's script: the shared head, control bar and foot around its ``setup`` and ``body`` (``%s``: the id)."""
    return _HEAD + setup + _CONTROL_BAR + body + _FOOT


# Heatmaps: one SVG grid of cells per panel, 8-bit values decoded from base64, one colour scale per panel.
_SCRIPT = _page_script(_STOPS + r"""  function colour(q) {
    var x = q / 255 * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
    var a = stops[i], b = stops[i + 1];
    return "rgb(" + [0, 1, 2].map(function (j) { return Math.round(a[j] + f * (b[j] - a[j])); }).join(",") + ")";
  }
  function decode(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
""", r"""  var cell = Math.max(8, Math.min(40, Math.floor(320 / Math.max(d.rows, d.cols))));
  var lab = (d.x_labels || d.y_labels) ? 70 : 0;
  var panelsDiv = document.createElement("div");
  panelsDiv.style.cssText = "display:flex;flex-wrap:wrap;gap:.8rem";
  root.appendChild(panelsDiv);
  var rects = d.panels.map(function (name) {
    var w = lab + d.cols * cell + 2, h = 18 + d.rows * cell + lab + 2;
    var svg = el("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, class: "efftx-explorer-panel" });
    panelsDiv.appendChild(svg);
    var t = el("text", { x: lab + d.cols * cell / 2, y: 13, "text-anchor": "middle", "font-size": 12 }, svg);
    t.textContent = name;
    var cells = [];
    for (var r = 0; r < d.rows; r++) for (var c = 0; c < d.cols; c++) {
      var rect = el("rect", { x: lab + c * cell, y: 18 + r * cell, width: cell, height: cell }, svg);
      el("title", {}, rect);
      cells.push(rect);
    }
    (d.y_labels || []).forEach(function (s, r) {
      var e = el("text", { x: lab - 4, y: 18 + (r + 0.5) * cell + 4, "text-anchor": "end", "font-size": 11 }, svg);
      e.textContent = s;
    });
    (d.x_labels || []).forEach(function (s, c) {
      var x = lab + (c + 0.5) * cell, y = 18 + d.rows * cell + 6;
      var e = el("text", { x: x, y: y, "text-anchor": "end", "font-size": 11,
                           transform: "rotate(-60 " + x + " " + y + ")" }, svg);
      e.textContent = s;
    });
    return cells;
  });
  var legend = document.createElement("div");
  legend.style.cssText = "font-size:.8rem;color:#555";
  function span(r) { return r[0].toPrecision(3) + " … " + r[1].toPrecision(3); }
  var shared = d.ranges.every(function (r) { return r[0] === d.ranges[0][0] && r[1] === d.ranges[0][1]; });
  legend.textContent = (d.title ? d.title + " · " : "") + "colour scale " +
    (shared ? span(d.ranges[0]) : d.panels.map(function (n, p) { return n + ": " + span(d.ranges[p]); }).join(", "));
  root.appendChild(legend);
  function draw() {
    var panels = d.views[selected()];
    panels.forEach(function (encoded, p) {
      var q = decode(encoded), cells = rects[p], lo = d.ranges[p][0], hi = d.ranges[p][1];
      for (var i = 0; i < cells.length; i++) {
        cells[i].setAttribute("fill", colour(q[i]));
        cells[i].firstChild.textContent = (lo + q[i] / 255 * (hi - lo)).toFixed(3);
      }
    });
  }
""")

# Scatter plots: one SVG panel, points as small squares coloured by x-rank, a caption.
_SCATTER_SCRIPT = _page_script(_STOPS + r"""  function colour(t) {
    var x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
    var a = stops[i], b = stops[i + 1];
    return "rgb(" + [0, 1, 2].map(function (j) { return Math.round(a[j] + f * (b[j] - a[j])); }).join(",") + ")";
  }
""", r"""  var W = 420, H = 320, L = 60, B = 44, T = 10, R = 10;
  var svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, class: "efftx-explorer-panel" });
  root.appendChild(svg);
  el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999" }, svg);
  var xl = el("text", { x: L + (W - L - R) / 2, y: H - 6, "text-anchor": "middle", "font-size": 12 }, svg);
  xl.textContent = d.x_label;
  var yx = 14, yy = T + (H - T - B) / 2;
  var yl = el("text", { x: yx, y: yy, "text-anchor": "middle", "font-size": 12,
                        transform: "rotate(-90 " + yx + " " + yy + ")" }, svg);
  yl.textContent = d.y_label;
  var ticks = [];
  for (var k = 0; k < 6; k++) ticks.push(el("text", { "font-size": 10 }, svg));
  var dots = [];
  for (var i = 0; i < d.n; i++) {
    var r = el("rect", { width: 7, height: 7, stroke: "#333", "stroke-width": 0.5 }, svg);
    el("title", {}, r);
    dots.push(r);
  }
  var note = document.createElement("div");
  note.className = "efftx-explorer-note";
  note.style.cssText = "font-size:.9rem;margin:.2rem 0";
  root.appendChild(note);
  if (d.title) {
    var t = document.createElement("div");
    t.style.cssText = "font-size:.8rem;color:#555";
    t.textContent = d.title;
    root.appendChild(t);
  }
  function range(v) {
    var lo = Math.min.apply(null, v), hi = Math.max.apply(null, v);
    if (hi === lo) { hi = lo + 1; }
    var pad = 0.05 * (hi - lo);
    return [lo - pad, hi + pad];
  }
  function fmt(v) {
    var small = Math.abs(v) < 1e-2 && v !== 0;
    return Math.abs(v) >= 1e4 || small ? v.toExponential(1) : (+v.toPrecision(3)).toString();
  }
  function draw() {
    var v = d.views[selected()];
    var rx = range(v.x), ry = range(v.y);
    function px(x) { return L + (x - rx[0]) / (rx[1] - rx[0]) * (W - L - R); }
    function py(y) { return H - B - (y - ry[0]) / (ry[1] - ry[0]) * (H - T - B); }
    for (var i = 0; i < d.n; i++) {
      dots[i].setAttribute("x", px(v.x[i]) - 3.5);
      dots[i].setAttribute("y", py(v.y[i]) - 3.5);
      dots[i].setAttribute("fill", colour(v.c[i] / Math.max(1, d.n - 1)));
      dots[i].firstChild.textContent = "x " + v.x[i] + ", y " + v.y[i];
    }
    var tx = [rx[0], (rx[0] + rx[1]) / 2, rx[1]], ty = [ry[0], (ry[0] + ry[1]) / 2, ry[1]];
    tx.forEach(function (x, k) {
      var e = ticks[k]; e.setAttribute("x", px(x)); e.setAttribute("y", H - B + 14);
      e.setAttribute("text-anchor", k === 0 ? "start" : (k === 2 ? "end" : "middle")); e.textContent = fmt(x);
    });
    ty.forEach(function (y, k) {
      var e = ticks[3 + k]; e.setAttribute("x", L - 4); e.setAttribute("y", py(y) + (k === 0 ? 0 : (k === 2 ? 8 : 4)));
      e.setAttribute("text-anchor", "end"); e.textContent = fmt(y);
    });
    note.textContent = v.note;
  }
""")

# Figures: arrow panels (vectors from the origin, an optional unit circle) and bar panels.
_FIGURE_SCRIPT = _page_script("", r"""  var W = 300, H = 280, id = root.id;
  var holder = document.createElement("div");
  holder.style.cssText = "display:flex;flex-wrap:wrap;gap:.8rem";
  root.appendChild(holder);
  var svgs = d.panels.map(function (p, j) {
    var w = p.kind === "bars" ? Math.max(W, 40 + 16 * p.labels.length) : W;
    var svg = el("svg", { width: w, height: H, viewBox: "0 0 " + w + " " + H, class: "efftx-explorer-panel" });
    holder.appendChild(svg);
    return svg;
  });
  function fmt(v) { return (+v.toPrecision(3)).toString(); }
  function arrows(svg, p, v, j) {
    var c = W / 2, cy = 20 + (H - 20) / 2, s = (H - 40) / 2 / v.lim;
    var defs = el("defs", {}, svg);
    p.colours.forEach(function (col, a) {
      var mk = el("marker", { id: id + "-m" + j + "-" + a, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6,
                              markerHeight: 6, orient: "auto-start-reverse" }, defs);
      el("path", { d: "M0,0 L10,5 L0,10 z", fill: col }, mk);
    });
    el("line", { x1: c - v.lim * s, y1: cy, x2: c + v.lim * s, y2: cy, stroke: "#ddd" }, svg);
    el("line", { x1: c, y1: cy - v.lim * s, x2: c, y2: cy + v.lim * s, stroke: "#ddd" }, svg);
    var rad = v.circle !== undefined ? v.circle : (p.circle ? 1 : 0);
    if (rad) el("circle", { cx: c, cy: cy, r: rad * s, fill: "none", stroke: "#bbb", "stroke-dasharray": "3 3" }, svg);
    v.arrows.forEach(function (xy, a) {
      var x = c + xy[0] * s, y = cy - xy[1] * s;
      el("line", { x1: c, y1: cy, x2: x, y2: y, stroke: p.colours[a], "stroke-width": a === v.arrows.length - 1 ? 3 : 2,
                   "marker-end": "url(#" + id + "-m" + j + "-" + a + ")" }, svg);
      var r = Math.max(Math.hypot(xy[0], xy[1]), 1e-9);
      var t = el("text", { x: x + 12 * xy[0] / r, y: y - 12 * xy[1] / r + 4, "text-anchor": "middle", "font-size": 12,
                           fill: p.colours[a] }, svg);
      t.textContent = p.labels[a];
    });
    var tt = el("text", { x: W / 2, y: 14, "text-anchor": "middle", "font-size": 12 }, svg);
    tt.textContent = v.title;
  }
  function bars(svg, p, v) {
    var w = +svg.getAttribute("width"), L = 36, B = 30, T = 22, R = 6, n = v.values.length;
    var lo = p.ylim ? p.ylim[0] : Math.min(0, Math.min.apply(null, v.values));
    var hi = p.ylim ? p.ylim[1] : Math.max(0, Math.max.apply(null, v.values));
    if (!p.ylim) { var pad = 0.05 * (hi - lo || 1); lo = Math.min(lo, -pad) ; hi = hi + pad; }
    function py(y) { return T + (hi - y) / (hi - lo) * (H - T - B); }
    var bw = (w - L - R) / n;
    el("line", { x1: L, y1: py(0), x2: w - R, y2: py(0), stroke: "#999" }, svg);
    v.values.forEach(function (val, b) {
      var y0 = py(Math.max(val, 0)), y1 = py(Math.min(val, 0));
      var r = el("rect", { x: L + b * bw + 1, y: y0, width: Math.max(bw - 2, 1), height: Math.max(y1 - y0, 0.5),
                           fill: b === v.highlight ? p.highlight_colour : (p.colours || [])[b] || "#4c72b0" }, svg);
      el("title", {}, r).textContent = p.labels[b] + ": " + fmt(val);
      if (n <= 12) {
        var t = el("text", { x: L + (b + 0.5) * bw, y: H - B + 14, "text-anchor": "middle", "font-size": 11 }, svg);
        t.textContent = p.labels[b];
      }
    });
    [lo, hi].forEach(function (y) {
      var t = el("text", { x: L - 4, y: py(y) + 4, "text-anchor": "end", "font-size": 10 }, svg);
      t.textContent = fmt(y);
    });
    var xl = el("text", { x: L + (w - L - R) / 2, y: H - 4, "text-anchor": "middle", "font-size": 11 }, svg);
    xl.textContent = p.x_label || "";
    var yl = el("text", { x: 10, y: T + (H - T - B) / 2, "text-anchor": "middle", "font-size": 12,
                          transform: "rotate(-90 10 " + (T + (H - T - B) / 2) + ")" }, svg);
    yl.textContent = p.y_label || "";
    var tt = el("text", { x: w / 2, y: 14, "text-anchor": "middle", "font-size": 12 }, svg);
    tt.textContent = v.title;
  }
  function draw() {
    d.views[selected()].forEach(function (v, j) {
      var svg = svgs[j], p = d.panels[j];
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      if (p.kind === "arrows") arrows(svg, p, v, j); else bars(svg, p, v);
    });
  }
  if (d.title) {
    var t = document.createElement("div");
    t.style.cssText = "font-size:.8rem;color:#555";
    t.textContent = d.title;
    root.appendChild(t);
  }
""")
