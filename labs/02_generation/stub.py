"""Lab 02 — sampling and the KV cache (part II: chapter 6). Copy this file to solution.py and fill it in.

Rules: PyTorch tensor operations only; nothing from ``efftx_mini`` and not
``torch.nn.functional.scaled_dot_product_attention`` in this file (the tests compare your code with them).
"""

from __future__ import annotations

import torch  # noqa: F401 (you will need it)
from torch import Tensor


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus (top-p) truncation (Holtzman et al. 2020, §3.1): logits (B, V) -> (B, V), every token outside the
    nucleus set to −inf.

    The nucleus of a row is the smallest set of most probable tokens whose probabilities sum to at least p. Rank
    the tokens by probability, most probable first, equal probabilities by token id (a stable sort); drop a token
    when the tokens ranked above it already hold mass >= p. The most probable token always stays. Compute the
    probabilities and their running sum in float64, and compare with p − V·2⁻⁵² so that rounding cannot drop a
    token that lies exactly on the boundary (50 equal tokens and p = 0.5 keep exactly 25). ValueError unless
    0 < p <= 1; p = 1 keeps everything.
    """
    raise NotImplementedError("top_p_filter")


def next_token_probs(logits: Tensor, temperature: float, top_p: float | None) -> Tensor:
    """The (B, V) distribution one sampling step draws from: softmax(top_p_filter(logits / temperature)); with
    top_p None, no truncation. ValueError unless temperature > 0."""
    raise NotImplementedError("next_token_probs")


class KVCache:
    """The keys and values of one attention layer for the positions seen so far.

    Preallocate ``k`` and ``v`` of shape (batch, heads, max_len, d_head) in ``dtype``; ``length`` counts the filled
    positions.
    """

    def __init__(self, batch: int, heads: int, max_len: int, d_head: int, dtype: torch.dtype = torch.float32
                 ) -> None:
        raise NotImplementedError("KVCache.__init__")

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store k, v (batch, heads, T_new, d_head) at the next T_new positions; return the keys and values of every
        position so far, (batch, heads, length, d_head) each. ValueError when they would not fit in max_len or
        their shape does not match the cache."""
        raise NotImplementedError("KVCache.append")


def cached_causal_attention(q: Tensor, k: Tensor, v: Tensor, cache: KVCache) -> Tensor:
    """Causal attention for T_new new positions, reading earlier positions from the cache.

    q, k, v (batch, heads, T_new, d_head) belong to absolute positions s … s+T_new−1, where s = cache.length before
    the call. Append k, v to the cache, then let the query at position s+i attend to every cached key at positions
    <= s+i. Returns (batch, heads, T_new, d_head). Feeding a sequence in pieces must give the same result as causal
    attention over the whole sequence at once.
    """
    raise NotImplementedError("cached_causal_attention")
