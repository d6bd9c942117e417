"""Schematics of the blocks side by side — Pre-LN, Post-LN, Parallel, SAS, SAS-P (He & Hofmann 2024, Figs. 1, 9, 10).

Drawn from the specification below with matplotlib, labelled with math and code names only, so one figure serves
every language edition. Each panel reads bottom (X_in) to top (X_out): where each normalisation N sits, which
branches have a skip, and where the trainable gains β_SA, β_FF act.

    python -m efftx_mini.blocks.diagram blocks.svg   # write the figure as SVG (or .png/.pdf)
"""

from __future__ import annotations

import sys
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Ellipse, FancyBboxPatch

__all__ = ["SPECS", "draw_block", "draw_blocks", "main"]

_COLOURS = {"norm": "#fde0a0", "attn": "#b9d7f0", "shaped": "#c9e8c0", "mlp": "#f4c2c2", "io": "#ffffff"}

# A node: (x, y, label, kind); kind "sum" is a ⊕, "dot" a branching point, "io" the input/output.
# An edge: (from, to, label, via) where via lists intermediate (x, y) points (a skip goes around the boxes).
SPECS: dict[str, dict[str, Any]] = {
    "Pre-LN": {
        "nodes": {"in": (0.5, 0.0, "$X_{in}$", "io"), "n1": (0.5, 1.2, "LN", "norm"), "att": (0.5, 2.4, "MHA", "attn"),
                  "s1": (0.5, 3.6, "", "sum"), "n2": (0.5, 4.8, "LN", "norm"), "mlp": (0.5, 6.0, "MLP", "mlp"),
                  "s2": (0.5, 7.2, "", "sum"), "out": (0.5, 8.4, "$X_{out}$", "io")},
        "edges": [("in", "n1", "", []), ("n1", "att", "", []), ("att", "s1", "", []), ("s1", "n2", "", []),
                  ("n2", "mlp", "", []), ("mlp", "s2", "", []), ("s2", "out", "", []),
                  ("in", "s1", "", [(0.5, 0.55), (0.93, 0.55), (0.93, 3.6)]),
                  ("s1", "s2", "", [(0.5, 4.15), (0.93, 4.15), (0.93, 7.2)])],
        "note": "$12d^2$",
    },
    "Post-LN": {
        "nodes": {"in": (0.5, 0.0, "$X_{in}$", "io"), "att": (0.5, 1.6, "MHA", "attn"), "s1": (0.5, 2.8, "", "sum"),
                  "n1": (0.5, 3.8, "LN", "norm"), "mlp": (0.5, 5.2, "MLP", "mlp"), "s2": (0.5, 6.4, "", "sum"),
                  "n2": (0.5, 7.4, "LN", "norm"), "out": (0.5, 8.4, "$X_{out}$", "io")},
        "edges": [("in", "att", "", []), ("att", "s1", "", []), ("s1", "n1", "", []), ("n1", "mlp", "", []),
                  ("mlp", "s2", "", []), ("s2", "n2", "", []), ("n2", "out", "", []),
                  ("in", "s1", "", [(0.5, 0.55), (0.93, 0.55), (0.93, 2.8)]),
                  ("n1", "s2", "", [(0.5, 4.35), (0.93, 4.35), (0.93, 6.4)])],
        "note": "$12d^2$",
    },
    "Parallel": {
        "nodes": {"in": (0.5, 0.0, "$X_{in}$", "io"), "n1": (0.5, 1.6, "LN", "norm"), "b": (0.5, 2.6, "", "dot"),
                  "att": (0.27, 4.0, "MHA", "attn"), "mlp": (0.73, 4.0, "MLP", "mlp"), "s1": (0.5, 6.2, "", "sum"),
                  "out": (0.5, 8.4, "$X_{out}$", "io")},
        "edges": [("in", "n1", "", []), ("n1", "b", "", []), ("b", "att", "", [(0.27, 2.6)]),
                  ("b", "mlp", "", [(0.73, 2.6)]), ("att", "s1", "", [(0.27, 5.3)]), ("mlp", "s1", "", [(0.73, 5.3)]),
                  ("s1", "out", "", []),
                  ("in", "s1", "", [(0.5, 0.55), (0.97, 0.55), (0.97, 6.2)])],
        "note": "$12d^2$, fused",
    },
    "SAS": {
        "nodes": {"in": (0.5, 0.0, "$X_{in}$", "io"), "n1": (0.5, 1.1, "N", "norm"),
                  "att": (0.5, 2.4, "SA\n$W^V{=}W^P{=}I$", "shaped"), "b1": (0.5, 3.7, "", "dot"),
                  "n2": (0.5, 4.8, "N", "norm"), "mlp": (0.5, 6.0, "MLP", "mlp"), "s2": (0.5, 7.2, "", "sum"),
                  "out": (0.5, 8.4, "$X_{out}$", "io")},
        "edges": [("in", "n1", "", []), ("n1", "att", "", []), ("att", "b1", r"$\beta_{SA}$", []),
                  ("b1", "n2", "", []), ("n2", "mlp", "", []), ("mlp", "s2", r"$\beta_{FF}$", []),
                  ("s2", "out", "", []), ("b1", "s2", "", [(0.93, 3.7), (0.93, 7.2)])],
        "note": "$10d^2$",
    },
    "SAS-P": {
        "nodes": {"in": (0.5, 0.0, "$X_{in}$", "io"), "n1": (0.5, 1.6, "N", "norm"), "b": (0.5, 2.6, "", "dot"),
                  "att": (0.27, 4.0, "SA", "shaped"), "mlp": (0.73, 4.0, "MLP", "mlp"), "s1": (0.5, 6.2, "", "sum"),
                  "out": (0.5, 8.4, "$X_{out}$", "io")},
        "edges": [("in", "n1", "", []), ("n1", "b", "", []), ("b", "att", "", [(0.27, 2.6)]),
                  ("b", "mlp", "", [(0.73, 2.6)]), ("att", "s1", r"$\beta_{SA}$", [(0.27, 5.3)]),
                  ("mlp", "s1", r"$\beta_{FF}$", [(0.73, 5.3)]), ("s1", "out", "", [])],
        "note": "$10d^2$, fused",
    },
}

_BOX_W, _BOX_H = 0.34, 0.62
_RX, _RY = 0.05, 0.22  # radii of the ⊕ marker in data units (x spans 1, y spans ~10 on a tall panel)


def _anchor(node: tuple, toward: tuple[float, float]) -> tuple[float, float]:
    """Where an edge between ``node`` and the point ``toward`` meets the node's outline."""
    x, y, _, kind = node
    tx, ty = toward
    if kind == "dot":
        return x, y
    if kind == "sum":
        u, v = (tx - x) / _RX, (ty - y) / _RY
        n = (u * u + v * v) ** 0.5
        return x + _RX * u / n, y + _RY * v / n
    half = 0.2 if kind == "io" else _BOX_H / 2
    if abs(ty - y) < 1e-9:
        return (x + _BOX_W / 2 if tx > x else x - _BOX_W / 2), y
    return x, (y + half if ty > y else y - half)


def draw_block(ax: Axes, name: str) -> Axes:
    """One panel: the block ``name`` (a key of :data:`SPECS`) drawn bottom to top."""
    if name not in SPECS:
        raise ValueError(f"unknown block {name!r}; expected one of {list(SPECS)}")
    spec = SPECS[name]
    nodes = spec["nodes"]
    for a, b, label, via in spec["edges"]:
        pts = [(nodes[a][0], nodes[a][1]), *via, (nodes[b][0], nodes[b][1])]
        pts[0] = _anchor(nodes[a], pts[1])
        pts[-1] = _anchor(nodes[b], pts[-2])
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, color="0.25", lw=1.1, zorder=1)
        ax.annotate("", xy=pts[-1], xytext=pts[-2],
                    arrowprops={"arrowstyle": "-|>", "color": "0.25", "lw": 1.1, "shrinkA": 0, "shrinkB": 0})
        if label:  # a gain sits on the branch right after its box
            (x0, y0), (x1, y1) = pts[0], pts[1]
            ax.text((x0 + x1) / 2 + 0.04, (y0 + y1) / 2, label, fontsize=10, color="#7a1f1f", ha="left",
                    va="center", zorder=3)
    for x, y, label, kind in nodes.values():
        if kind == "sum":
            ax.add_patch(Ellipse((x, y), 2 * _RX, 2 * _RY, facecolor="white", edgecolor="0.2", lw=1.1, zorder=2))
            ax.text(x, y, "+", ha="center", va="center", fontsize=11, zorder=3)
        elif kind == "dot":
            ax.add_patch(Circle((x, y), 0.025, color="0.25", zorder=2))
        elif kind == "io":
            ax.text(x, y, label, ha="center", va="center", fontsize=11, zorder=3)
        else:
            h = _BOX_H * (1.5 if "\n" in label else 1.0)
            ax.add_patch(FancyBboxPatch((x - _BOX_W / 2, y - h / 2), _BOX_W, h, boxstyle="round,pad=0.02",
                                        facecolor=_COLOURS[kind], edgecolor="0.2", lw=1.0, zorder=2))
            ax.text(x, y, label, ha="center", va="center", fontsize=9 if "\n" in label else 10, zorder=3)
    ax.set_title(name, fontsize=12)
    ax.text(0.5, -0.75, spec["note"], ha="center", va="center", fontsize=9, color="0.3")
    ax.set_xlim(0.0, 1.02)
    ax.set_ylim(-1.1, 8.8)
    ax.axis("off")
    return ax


def draw_blocks(names: list[str] | None = None, *, figsize: tuple[float, float] = (12.0, 5.6)) -> Figure:
    """All blocks side by side, with a legend line for N, SA and the gains (language-neutral labels)."""
    names = list(SPECS) if names is None else names
    fig, axes = plt.subplots(1, len(names), figsize=figsize, squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        draw_block(ax, name)
    fig.text(0.5, 0.015, r"N: LayerNorm | RMSNorm | identity;   SA: $(\alpha I + \beta S - \gamma C)\,V$, "
             r"$W^Q{=}0$ at init;   $\beta_{SA}$, $\beta_{FF}$: trainable gains;   "
             r"$12d^2$ / $10d^2$: weight-matrix entries per block ($d_{ff}=4d$)",
             ha="center", va="bottom", fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.08, wspace=0.05)
    return fig


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m efftx_mini.blocks.diagram OUT.svg", file=sys.stderr)
        return 2
    fig = draw_blocks()
    fig.savefig(argv[0], metadata={"Date": None} if argv[0].endswith(".svg") else None)
    plt.close(fig)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
