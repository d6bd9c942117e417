"""Checks on a drawn matplotlib figure that the book's plots must pass: no legend covers data, no axis label is
longer than its axes.

The book build runs :func:`figure_problems` on every figure a chapter displays (an IPython startup file of
``book/build.py`` wraps ``FigureCanvasBase.print_figure``) and the tests fail on any problem it records. A
legend *covers data* when a point of a line or of a scatter, or a point sampled along a line's segments, lies
inside the legend's box, or when a bar, a filled area or an error bar overlaps it; images (heatmaps) are not
data that a legend may avoid. An axis label is *too long* when its text is wider than the side of the axes it
labels: such a label belongs in the caption.
"""

from __future__ import annotations

import numpy as np

__all__ = ["figure_problems", "legend_covers_data", "long_axis_labels"]

_SAMPLES = 24  # points sampled along each drawn line segment
_MARGIN = 1.5  # pixels: the legend's box is shrunk by this much before testing (anti-aliased edges)


def _inside(points: np.ndarray, box) -> bool:
    if points.size == 0:
        return False
    x0, y0, x1, y1 = box.x0 + _MARGIN, box.y0 + _MARGIN, box.x1 - _MARGIN, box.y1 - _MARGIN
    p = points[np.isfinite(points).all(axis=1)]
    return bool(((p[:, 0] > x0) & (p[:, 0] < x1) & (p[:, 1] > y0) & (p[:, 1] < y1)).any())


def _along(points: np.ndarray) -> np.ndarray:
    """The vertices of a polyline and points sampled along its segments (display coordinates)."""
    if len(points) < 2:
        return points
    t = np.linspace(0.0, 1.0, _SAMPLES)[None, :, None]
    seg = points[:-1, None, :] + t * (points[1:, None, :] - points[:-1, None, :])
    return seg.reshape(-1, 2)


def _overlap_area(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


def _artist_hits(ax, box, renderer) -> list[str]:
    """Names of the data artists of ``ax`` that the box ``box`` (display coordinates) covers."""
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection
    from matplotlib.patches import Rectangle

    hits = []
    for line in ax.get_lines():
        if not line.get_visible() or not len(line.get_xydata()):
            continue
        xy = np.asarray(line.get_transform().transform(line.get_xydata()), dtype=float)
        drawn = _along(xy) if line.get_linestyle() not in ("None", "", " ", "none") else xy
        if _inside(drawn, box):
            hits.append(f"line {line.get_label()!r}")
    for patch in ax.patches:
        if not patch.get_visible() or not isinstance(patch, Rectangle):
            continue
        ext = patch.get_window_extent(renderer)
        if ext.width * ext.height > 0 and _overlap_area(ext, box) > 4.0:
            hits.append(f"bar {patch.get_label()!r}")
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):
            offsets = np.asarray(coll.get_offset_transform().transform(coll.get_offsets()), dtype=float)
            if _inside(offsets, box):
                hits.append(f"points {coll.get_label()!r}")
        elif isinstance(coll, LineCollection):
            trans = coll.get_transform()
            if any(_inside(_along(np.asarray(trans.transform(seg), dtype=float)), box) for seg in coll.get_segments()
                   if len(seg)):
                hits.append(f"lines {coll.get_label()!r}")
        elif isinstance(coll, PolyCollection):
            trans = coll.get_transform()
            for path in coll.get_paths():
                shape = path.transformed(trans)
                if shape.intersects_bbox(box, filled=True):
                    hits.append(f"area {coll.get_label()!r}")
                    break
    return hits


def legend_covers_data(fig) -> list[str]:
    """One message per legend of ``fig`` that covers data of its axes (a figure legend: of any axes)."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    out = []
    for i, ax in enumerate(fig.axes):
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        hits = _artist_hits(ax, box, renderer)
        if hits:
            title = ax.get_title() or f"axes {i}"
            out.append(f"legend covers data in {title!r}: {', '.join(sorted(set(hits))[:4])}")
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        for i, ax in enumerate(fig.axes):
            hits = _artist_hits(ax, box, renderer)
            if hits:
                out.append(f"figure legend covers data in {ax.get_title() or f'axes {i}'!r}: {', '.join(hits[:4])}")
    return out


def long_axis_labels(fig) -> list[str]:
    """One message per axis label wider than the side of its axes (x: the width, y: the height)."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    out = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        box = ax.get_window_extent(renderer)
        for label, side, along in ((ax.xaxis.get_label(), box.width, "width"),
                                   (ax.yaxis.get_label(), box.height, "height")):
            if not (label.get_visible() and label.get_text()):
                continue
            extent = label.get_window_extent(renderer)
            if getattr(extent, along) > side:
                out.append(f"axis label longer than its axes: {label.get_text()!r}")
    return out


def figure_problems(fig) -> list[str]:
    """Everything :func:`legend_covers_data` and :func:`long_axis_labels` find in ``fig``."""
    return legend_covers_data(fig) + long_axis_labels(fig)
