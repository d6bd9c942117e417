"""Transformer blocks with one interface, from the standard Pre-LN block to the simplified SAS-P block.

He & Hofmann 2024 ("Simplifying Transformer Blocks", ICLR, arXiv 2311.01906). Every block is built as
``Block(d_model, n_heads, d_ff, *, causal, dropout=0.0, layer_idx=0, n_layers=1, ...)`` and called as
``block(x (B, T, d), mask=None) -> (B, T, d)``; ``mask`` is an optional bool mask (True = may attend).
Every block also takes ``norm="layer"|"rms"|None``, ``bias``, ``activation`` ("gelu", "relu" or the gated "swiglu")
and ``rope`` (rotary positions; then ``block(x, mask, positions=…)``).

- :mod:`.standard` — :class:`PreLNBlock`, :class:`PostLNBlock` (Eq. (1)), :class:`LlamaBlock` (Touvron et al. 2023:
  RMSNorm, SwiGLU, RoPE, no biases, GQA by ``n_kv_heads``)
- :mod:`.parallel` — :class:`ParallelBlock` (GPT-J / PaLM, fused projections)
- :mod:`.value_skipinit` — :class:`ValueSkipInitBlock` (§4.1)
- :mod:`.shaped_attention` — shaped attention αI + βS − γC (§4.1 (shaped attention)), fused and explicit
- :mod:`.simplified` — :class:`SASBlock`, :class:`SASPBlock` (§4.2–§4.4)
- :mod:`.rank_collapse` — token cosine similarity across depth at initialisation (Dong et al. 2021)
- :mod:`.diagram` — the five blocks drawn side by side (``python -m efftx_mini.blocks.diagram OUT.svg``)
"""

from __future__ import annotations

from ._base import GATED, NORMS, Block, beta_ff_for_depth, make_norm, matrix_params, swiglu
from .parallel import ParallelBlock
from .rank_collapse import depth_cosines, token_cosine
from .shaped_attention import (
    ShapedAttention,
    centering_matrix,
    shaped_attention,
    shaped_attention_matrices,
    uniform_average,
)
from .simplified import SASBlock, SASPBlock
from .standard import LlamaBlock, PostLNBlock, PreLNBlock, llama_d_ff
from .value_skipinit import ValueSkipInitBlock

#: Registry: name → class; names are matched case-insensitively with "_" read as "-".
BLOCKS: dict[str, type[Block]] = {
    "pre-ln": PreLNBlock,
    "post-ln": PostLNBlock,
    "parallel": ParallelBlock,
    "value-skipinit": ValueSkipInitBlock,
    "sas": SASBlock,
    "sas-p": SASPBlock,
    "llama": LlamaBlock,
}


def get_block(block: str | type[Block]) -> type[Block]:
    """A block class from a class or a registry name such as ``"sas-p"``."""
    if isinstance(block, type) and issubclass(block, Block):
        return block
    if isinstance(block, str):
        key = block.strip().lower().replace("_", "-")
        if key in BLOCKS:
            return BLOCKS[key]
        raise ValueError(f"unknown block {block!r}; expected one of {sorted(BLOCKS)} or a Block subclass")
    raise TypeError(f"block must be a name (str) or a Block subclass, got {type(block).__name__}")


__all__ = [
    "BLOCKS", "Block", "get_block", "matrix_params", "NORMS", "make_norm", "beta_ff_for_depth",
    "PreLNBlock", "PostLNBlock", "LlamaBlock", "llama_d_ff", "swiglu", "GATED", "ParallelBlock",
    "ValueSkipInitBlock", "SASBlock", "SASPBlock", "ShapedAttention", "centering_matrix", "shaped_attention",
    "shaped_attention_matrices", "uniform_average", "depth_cosines", "token_cosine",
]
