"""Attention functions by name, all with one call signature, so a model swaps its attention with a string.

Every entry is called as ``fn(q, k, v, mask=None, *, causal=False) -> Tensor``: q (..., T_q, d),
k (..., T_k, d), v (..., T_k, d_v), ``mask`` bool broadcastable to (..., T_q, T_k) with True = may attend,
``causal=True`` lets query i see keys j ≤ i (top-left aligned, as ``F.scaled_dot_product_attention``); the
result is (..., T_q, d_v). The inputs and errors are those of
:func:`efftx_mini.attention.scaled_dot_product_attention`, which returns ``(out, weights)``; the entries here
return ``out`` only. A query with no allowed key gives zeros, never NaN.

Exact attention (chapter 9): "softmax" (the package's explicit formula, T_q × T_k weights), "sdpa" (PyTorch's
fused ``F.scaled_dot_product_attention``), "online" (online softmax over key blocks, plain autograd),
"blockwise" (tiles, recomputing backward). Approximate attentions (chapter 10): "linear", "cosformer", "local",
"performer" (FAVOR+, fresh random features at every call), from
:data:`efftx_mini.efficient.linear_time.LINEAR_TIME_ATTENTIONS`, here returning ``out`` only.
"""

from __future__ import annotations

import functools
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from ..attention import scaled_dot_product_attention
from ._common import check_attention_inputs
from .blockwise import blockwise_attention
from .linear_time import LINEAR_TIME_ATTENTIONS
from .online_softmax import online_attention

__all__ = ["AttentionFn", "ATTENTIONS", "get_attention", "softmax_attention", "sdpa_attention"]


class AttentionFn(Protocol):
    def __call__(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *,
                 causal: bool = False) -> Tensor: ...


def _with_causal(q: Tensor, k: Tensor, mask: Tensor | None, causal: bool) -> Tensor | None:
    if not causal:
        return mask
    tri = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
    return tri if mask is None else mask & tri


def softmax_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *,
                      causal: bool = False) -> Tensor:
    """Explicit softmax(QKᵀ/√d)V with the (..., T_q, T_k) weights built (Vaswani et al. 2017, §3.2.1, Eq. (1))."""
    mask = check_attention_inputs(q, k, v, mask, causal)
    return scaled_dot_product_attention(q, k, v, _with_causal(q, k, mask, causal), need_weights=True)[0]


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *,
                   causal: bool = False) -> Tensor:
    """PyTorch's fused ``F.scaled_dot_product_attention`` (a FlashAttention-style kernel where one applies)."""
    mask = check_attention_inputs(q, k, v, mask, causal)
    if mask is None and causal:  # the fused causal path, no mask tensor at all
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return scaled_dot_product_attention(q, k, v, _with_causal(q, k, mask, causal))[0]


ATTENTIONS: dict[str, AttentionFn] = {
    "softmax": softmax_attention,
    "sdpa": sdpa_attention,
    "online": online_attention,
    "blockwise": blockwise_attention,
}


def _out_only(fn):  # noqa: ANN001, ANN202 - the chapter-10 forms return (out, weights | None), as the core does
    @functools.wraps(fn)
    def call(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False) -> Tensor:
        return fn(q, k, v, mask, causal=causal)[0]
    return call


ATTENTIONS.update({name: _out_only(fn) for name, fn in LINEAR_TIME_ATTENTIONS.items()})


def get_attention(name: str) -> AttentionFn:
    """The attention function registered as ``name`` (see :data:`ATTENTIONS`)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in ATTENTIONS:
        raise ValueError(f"unknown attention {name!r}; expected one of {sorted(ATTENTIONS)}")
    return ATTENTIONS[name]
