"""The schematic diagrams (chapters/figures/*.svg): each is the output of chapters/figures/make_diagrams.py,
well-formed SVG, self-contained (no external reference), language-neutral (its words are math and code names
only, so one file serves both editions), and shown in both editions of its chapter."""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "chapters" / "figures"
# every word of three or more letters that a diagram may contain: code and math names, no prose
CODE_NAMES = {
    "src", "tgt", "mask", "masked", "fill", "softmax", "dim", "bool", "True", "rearrange", "MultiHead",
    "MultiHeadAttention", "memory", "padding", "causal", "LayerNorm", "sublayer", "FeedForward", "Embedding",
    "Linear",
}
WHERE = {"sdpa.svg": "01_attention", "mha.svg": "01_attention", "encoder_decoder.svg": "04_encoder_decoder"}


def _module():
    spec = importlib.util.spec_from_file_location("make_diagrams", FIGURES / "make_diagrams.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_committed_diagrams_are_the_scripts_output() -> None:
    module = _module()
    assert set(module.DIAGRAMS) == set(WHERE)
    for name, draw in module.DIAGRAMS.items():
        assert (FIGURES / name).read_text(encoding="utf-8") == draw(), \
            f"{name} is stale: run `python chapters/figures/make_diagrams.py`"


@pytest.mark.parametrize("name", sorted(WHERE))
def test_diagram_is_self_contained_and_language_neutral(name: str) -> None:
    text = (FIGURES / name).read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    assert not re.search(r"(?:href|src)\s*=\s*\"(?!#)", text), f"{name} references an external resource"
    words = " ".join(" ".join(t.itertext()) for t in root.iter() if t.tag.endswith("text"))
    assert not re.search(r"[가-힣]", words), f"{name} contains Korean text"
    prose = sorted({w for w in re.findall(r"[A-Za-z]{3,}", words)} - CODE_NAMES)
    assert not prose, f"{name} contains words that are not code or math names: {prose}"


@pytest.mark.parametrize("name", sorted(WHERE))
def test_diagram_is_shown_in_both_editions(name: str) -> None:
    for lang in ("en", "ko"):
        chapter = (ROOT / "chapters" / lang / f"{WHERE[name]}.md").read_text(encoding="utf-8")
        assert f"../figures/{name}" in chapter, f"chapters/{lang}/{WHERE[name]}.md does not show {name}"
