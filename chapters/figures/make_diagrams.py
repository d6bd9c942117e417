"""Draw the book's schematic diagrams as SVG: ``python chapters/figures/make_diagrams.py`` rewrites
chapters/figures/*.svg (tests/test_diagrams.py checks that the committed files are this script's output).

The diagrams are language-neutral: they carry only math and code names (the names in ``efftx_mini``), so one
file serves the English and the Korean edition; each chapter writes its own caption.

- ``sdpa.svg``: scaled dot-product attention, ``efftx_mini.attention.scaled_dot_product_attention``
  (Vaswani et al. 2017, §3.2.1, Eq. 1; chapter 1).
- ``mha.svg``: multi-head attention, ``efftx_mini.attention.MultiHeadAttention`` (§3.2.2; chapter 1).
- ``encoder_decoder.svg``: the post-LN encoder–decoder, ``efftx_mini.transformer.Transformer``, with its three
  attentions numbered (§3.1–3.2.3, Figure 1; chapter 4).
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"
INK, GREY = "#222222", "#666666"
FILL = {"attn": "#fde2c4", "norm": "#e8e3f3", "ffn": "#d6eef8", "linear": "#e6f2dc", "io": "#ffffff",
        "softmax": "#f9d7d7", "plain": "#f2f2f2"}
ATTN = {1: "#2b6cb0", 2: "#c05621", 3: "#2f855a"}  # the three attentions of chapter 4


def rich(text: str) -> str:
    """Escape ``text`` and turn x_{ab} / x_a into subscripts and x^{ab} / x^a into superscripts, where x is a
    one-letter symbol (so that code names such as src_mask keep their underscore)."""
    out, i = [], 0
    pattern = re.compile(r"(?<=(?<![A-Za-z0-9_])[A-Za-z])([_^])(\{[^}]*\}|[A-Za-z0-9]+)")
    for m in pattern.finditer(text):
        out.append(escape(text[i:m.start()]))
        body = m.group(2).strip("{}")
        shift = "sub" if m.group(1) == "_" else "super"
        out.append(f'<tspan baseline-shift="{shift}" font-size="72%">{escape(body)}</tspan>')
        i = m.end()
    out.append(escape(text[i:]))
    return "".join(out)


class Svg:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.items: list[str] = []

    def text(self, x: float, y: float, label: str, size: float = 13, anchor: str = "middle", mono: bool = False,
             color: str = INK, weight: str = "normal") -> None:
        family = MONO if mono else FONT
        self.items.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-family="{family}" font-size="{size}" text-anchor="{anchor}" '
            f'dominant-baseline="middle" fill="{color}" font-weight="{weight}">{rich(label)}</text>')

    def box(self, x: float, y: float, w: float, h: float, label: str, kind: str = "plain", mono: bool = False,
            dashed: bool = False, stroke: str = INK, size: float = 13, note: str | None = None) -> None:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        self.items.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
                          f'fill="{FILL[kind]}" stroke="{stroke}" stroke-width="1.4"{dash}/>')
        if note is None:
            self.text(x + w / 2, y + h / 2, label, size, mono=mono)
        else:
            self.text(x + w / 2, y + h / 2 - 8, label, size, mono=mono)
            self.text(x + w / 2, y + h / 2 + 10, note, size - 2.5, mono=True, color=GREY)

    def frame(self, x: float, y: float, w: float, h: float, label: str) -> None:
        self.items.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="10" fill="none" '
                          f'stroke="{GREY}" stroke-width="1.2" stroke-dasharray="2 3"/>')
        if label:
            self.text(x + w + 8, y + h / 2, label, 14, anchor="start", weight="bold")

    def arrow(self, *points: tuple[float, float], color: str = INK) -> None:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.items.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.4" '
                          f'marker-end="url(#head)"/>')

    def line(self, *points: tuple[float, float], color: str = INK) -> None:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.items.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.4"/>')

    def badge(self, x: float, y: float, n: int) -> None:
        self.items.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="10" fill="{ATTN[n]}"/>')
        self.text(x, y + 0.5, str(n), 12, color="#ffffff", weight="bold")

    def render(self) -> str:
        defs = ('<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker></defs>')
        body = "\n  ".join(self.items)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}">\n  {defs}\n'
                f'  <rect width="{self.width}" height="{self.height}" fill="#ffffff"/>\n  {body}\n</svg>\n')


def sdpa() -> str:
    """softmax(Q K^T / sqrt(d_k)) V, top to bottom, with the shape after every step."""
    s = Svg(430, 470)
    cx, w, h = 170, 220, 38
    s.box(50, 14, 90, 40, "Q", "io", note="(T_q, d_k)")
    s.box(200, 14, 90, 40, "K", "io", note="(T_k, d_k)")
    s.box(320, 14, 90, 40, "V", "io", note="(T_k, d_v)")
    y = 90
    s.arrow((95, 54), (95, 72), (cx - 30, 72), (cx - 30, y))
    s.arrow((245, 54), (245, 72), (cx + 30, 72), (cx + 30, y))
    steps = [("Q K^T", "plain", False, "(T_q, T_k)"), ("÷ √d_k", "plain", False, None),
             ("masked_fill(~mask, −∞)", "plain", True, "mask: bool, True = ✓"),
             ("softmax(·, dim=−1)", "softmax", False, "A: (T_q, T_k)")]
    for i, (label, kind, dashed, note) in enumerate(steps):
        mono = "(" in label
        s.box(cx - w / 2, y, w, h + (8 if note else 0), label, kind, mono=mono, dashed=dashed, note=note)
        y += h + (8 if note else 0)
        if i < len(steps) - 1:
            s.arrow((cx, y), (cx, y + 22))
            y += 22
    s.arrow((cx, y), (cx, y + 22))
    y += 22
    s.box(cx - w / 2, y, w, h, "A V", "plain")
    s.arrow((365, 54), (365, y + h / 2), (cx + w / 2, y + h / 2))
    s.arrow((cx, y + h), (cx, y + h + 22))
    s.box(cx - 60, y + h + 22, 120, 40, "O", "io", note="(T_q, d_v)")
    return s.render()


def mha() -> str:
    """Project, split into H heads, attend per head, concatenate, project."""
    s = Svg(520, 500)
    cx = 250
    s.box(cx - 70, 12, 140, 40, "X", "io", note="(B, T, d)")
    xs = (110, 250, 390)
    for x, name in zip(xs, ("Q", "K", "V"), strict=True):
        s.arrow((cx, 52), (cx, 66), (x, 66), (x, 84))
        s.box(x - 55, 84, 110, 36, f"X W^{name}", "linear")
    s.box(50, 146, 400, 44, "rearrange", "plain", mono=True, note="b t (h d) → b h t d")
    for x in xs:
        s.arrow((x, 120), (x, 146))
    for k in (2, 1, 0):
        off = 8 * k
        s.box(70 + off, 216 - off, 360, 56, "softmax(Q_h K_h^T / √d_h) V_h", "attn", mono=False,
              note="h = 1 … H" if k == 0 else None)
    s.text(448, 222, "× H", 15, anchor="start", weight="bold")
    s.arrow((cx, 190), (cx, 208))
    s.arrow((cx, 272), (cx, 298))
    s.box(50, 298, 400, 44, "rearrange", "plain", mono=True, note="b h t d → b t (h d)")
    s.arrow((cx, 342), (cx, 366))
    s.box(cx - 70, 366, 140, 36, "· W^O", "linear")
    s.arrow((cx, 402), (cx, 426))
    s.box(cx - 70, 426, 140, 40, "MultiHead(X)", "io", note="(B, T, d)")
    s.text(cx, 484, "d_h = d / H", 12, color=GREY)
    return s.render()


def encoder_decoder() -> str:
    """Post-LN encoder (left) and decoder (right), N layers each; the three attentions numbered 1–3."""
    s = Svg(1010, 760)
    w, h, gap = 360, 36, 20
    enc_x, dec_x = 80, 560
    ecx, dcx = enc_x + w / 2, dec_x + w / 2

    def sublayer(x: float, y: float, label: str, kind: str, n: int | None = None, note: str | None = None,
                 extra_h: float = 0.0, side: str = "left") -> float:
        """A sublayer box, its residual around it into LayerNorm(x + ·); returns the y below the norm box."""
        stroke = ATTN[n] if n else INK
        bh = h + extra_h
        s.box(x, y, w, bh, label, kind, mono=True, stroke=stroke, size=11.5, note=note)
        if n:
            s.badge(x + w - 2 if side == "left" else x + 2, y + 2, n)
        s.arrow((x + w / 2, y + bh), (x + w / 2, y + bh + gap))
        ny = y + bh + gap
        s.box(x, ny, w, h, "LayerNorm(x + sublayer(x))", "norm", mono=True, size=11.5)
        # residual: from above the sublayer, down the outer side, into the norm box
        edge, out = (x, x - 16) if side == "left" else (x + w, x + w + 16)
        s.arrow((x + w / 2, y - 10), (out, y - 10), (out, ny + h / 2), (edge, ny + h / 2))
        return ny + h

    # inputs
    s.box(ecx - 75, 14, 150, 40, "src", "io", mono=True, note="(B, S)")
    s.box(dcx - 75, 14, 150, 40, "tgt_in", "io", mono=True, note="(B, T)")
    for x in (ecx, dcx):
        s.arrow((x, 54), (x, 74))
        s.box(x - w / 2, 74, w, h, "Embedding · √d + PE", "linear", mono=True, size=12)
        s.arrow((x, 74 + h), (x, 74 + h + 30))
    top = 74 + h + 30
    # encoder layer
    y = sublayer(enc_x, top + 16, "MultiHeadAttention(x, x, x, src_mask)", "attn", 1)
    s.arrow((ecx, y), (ecx, y + gap + 10))
    y = sublayer(enc_x, y + gap + 10, "FeedForward", "ffn")
    enc_bottom = y + 12
    s.frame(enc_x - 28, top, w + 44, enc_bottom - top, "")
    s.text(enc_x - 34, top + (enc_bottom - top) / 2, "N ×", 14, anchor="end", weight="bold")
    s.arrow((ecx, enc_bottom), (ecx, enc_bottom + 30))
    s.box(ecx - 90, enc_bottom + 30, 180, 40, "memory", "io", mono=True, note="(B, S, d)")
    mem_y = enc_bottom + 50
    # decoder layer
    y = sublayer(dec_x, top + 16, "MultiHeadAttention(y, y, y, tgt_mask)", "attn", 2,
                 note="tgt_mask = causal ∧ padding", extra_h=12, side="right")
    s.arrow((dcx, y), (dcx, y + gap + 10))
    cross_y = y + gap + 10
    y = sublayer(dec_x, cross_y, "MultiHeadAttention(y, memory, memory, src_mask)", "attn", 3, side="right")
    s.arrow((dcx, y), (dcx, y + gap + 10))
    y = sublayer(dec_x, y + gap + 10, "FeedForward", "ffn", side="right")
    dec_bottom = y + 12
    s.frame(dec_x - 16, top, w + 48, dec_bottom - top, "× N")
    # memory feeds every decoder layer's cross-attention (keys and values)
    s.arrow((ecx + 90, mem_y), (500, mem_y), (500, cross_y + h / 2), (dec_x, cross_y + h / 2), color=ATTN[3])
    s.text(508, mem_y - 12, "K, V", 12, anchor="start", color=ATTN[3], weight="bold")
    # output head
    s.arrow((dcx, dec_bottom), (dcx, dec_bottom + 24))
    y = dec_bottom + 24
    s.box(dec_x, y, w, h, "Linear(d, V_tgt)", "linear", mono=True, size=12)
    s.arrow((dcx, y + h), (dcx, y + h + 20))
    y += h + 20
    s.box(dec_x, y, w, h, "softmax", "softmax", mono=True, size=12)
    s.arrow((dcx, y + h), (dcx, y + h + 20))
    y += h + 20
    s.box(dcx - 110, y, 220, 34, "p(y_t | y_{<t}, src)", "io")
    s.height = int(y + 34 + 14)
    # legend: the three attentions
    ly = mem_y + 70
    for n, (label, note) in {1: ("x, x, x", "src_mask"), 2: ("y, y, y", "causal ∧ padding"),
                             3: ("y, memory, memory", "src_mask")}.items():
        s.badge(enc_x + 10, ly, n)
        s.text(enc_x + 28, ly, f"Q, K, V = {label}   mask: {note}", 12, anchor="start", mono=True)
        ly += 28
    return s.render()


DIAGRAMS = {"sdpa.svg": sdpa, "mha.svg": mha, "encoder_decoder.svg": encoder_decoder}


def main() -> None:
    for name, draw in DIAGRAMS.items():
        (HERE / name).write_text(draw(), encoding="utf-8")
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
