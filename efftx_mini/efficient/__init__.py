"""Efficient attention (part III): one call signature, ``fn(q, k, v, mask=None, *, causal=False) -> out``.

- :mod:`~efftx_mini.efficient.online_softmax` — one-pass softmax, merging partial results
  (Milakov & Gimelshein 2018)
- :mod:`~efftx_mini.efficient.blockwise` — exact attention in tiles, recomputing backward
  (Rabe & Staats 2021; Dao et al. 2022; Dao 2023)
- :mod:`~efftx_mini.efficient.blockwise_feedforward` — the MLP chunk by chunk (Liu & Abbeel 2023)
- :mod:`~efftx_mini.efficient.linear`, :mod:`~efftx_mini.efficient.cosformer`, :mod:`~efftx_mini.efficient.local`,
  :mod:`~efftx_mini.efficient.performer`, :mod:`~efftx_mini.efficient.linear_time` — linear-time and local attention
  (chapter 10)
- :mod:`~efftx_mini.efficient.lra_model` — the encoder classifier of the offline Long Range Arena (chapter 10)
- :mod:`~efftx_mini.efficient.registry` — ``get_attention(name)`` / ``ATTENTIONS``, every entry above by name
- :mod:`~efftx_mini.efficient.block` — a Pre-LN block with attention by name and a chunked MLP
"""

from __future__ import annotations

from .block import EfficientPreLNBlock
from .blockwise import blockwise_attention, blockwise_attention_lse
from .blockwise_feedforward import BlockwiseFeedForward, blockwise_feedforward
from .linear_time import LINEAR_TIME_ATTENTIONS
from .online_softmax import (
    SoftmaxState,
    merge_states,
    online_attention,
    online_logsumexp,
    online_softmax,
    softmax_state,
)
from .performer import Performer, performer_attention
from .registry import ATTENTIONS, AttentionFn, get_attention, sdpa_attention, softmax_attention

__all__ = [
    "LINEAR_TIME_ATTENTIONS", "Performer", "performer_attention",
    "ATTENTIONS", "AttentionFn", "get_attention", "softmax_attention", "sdpa_attention",
    "SoftmaxState", "softmax_state", "merge_states", "online_softmax", "online_logsumexp", "online_attention",
    "blockwise_attention", "blockwise_attention_lse", "blockwise_feedforward", "BlockwiseFeedForward",
    "EfficientPreLNBlock",
]
