"""Reference solution of lab 02 (sampling and the KV cache)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must lie in (0, 1], got {p}")
    if p == 1.0:
        return logits
    V = logits.shape[-1]
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = torch.softmax(sorted_logits.double(), dim=-1)
    above = F.pad(probs.cumsum(-1)[:, :-1], (1, 0))  # mass of the tokens ranked above each token
    drop = above >= p - V * 2.0 ** -52
    drop[:, 0] = False
    return logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))


def next_token_probs(logits: Tensor, temperature: float, top_p: float | None) -> Tensor:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scaled = logits.float() / temperature
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)
    return torch.softmax(scaled, dim=-1)


class KVCache:
    def __init__(self, batch: int, heads: int, max_len: int, d_head: int, dtype: torch.dtype = torch.float32
                 ) -> None:
        self.k = torch.zeros(batch, heads, max_len, d_head, dtype=dtype)
        self.v = torch.zeros(batch, heads, max_len, d_head, dtype=dtype)
        self.length, self.max_len = 0, max_len

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        B, H, T, d = k.shape
        if (B, H, d) != (self.k.shape[0], self.k.shape[1], self.k.shape[3]) or v.shape != k.shape:
            raise ValueError(f"expected k, v of shape ({self.k.shape[0]}, {self.k.shape[1]}, T, {self.k.shape[3]}), "
                             f"got {tuple(k.shape)} and {tuple(v.shape)}")
        if self.length + T > self.max_len:
            raise ValueError(f"{T} new positions after {self.length} exceed max_len={self.max_len}")
        s = self.length
        self.k[:, :, s:s + T] = k
        self.v[:, :, s:s + T] = v
        self.length += T
        return self.k[:, :, :self.length], self.v[:, :, :self.length]


def cached_causal_attention(q: Tensor, k: Tensor, v: Tensor, cache: KVCache) -> Tensor:
    s = cache.length
    keys, values = cache.append(k, v)
    T_new, S = q.shape[2], keys.shape[2]
    allowed = torch.arange(S)[None, :] <= s + torch.arange(T_new)[:, None]  # (T_new, S)
    scores = (q @ keys.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ values
