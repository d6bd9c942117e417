"""Reference solution of lab 01 (attention with masks)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def causal_mask(T: int) -> Tensor:
    return torch.ones(T, T, dtype=torch.bool).tril()


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    return (tokens != pad_id)[:, None, None, :]


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None
                                 ) -> tuple[Tensor, Tensor]:
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same width d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same T_k, got k {tuple(k.shape)} and v {tuple(v.shape)}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is None:
        weights = torch.softmax(scores, dim=-1)
    else:
        mask = mask.expand(scores.shape)
        ok = mask.any(dim=-1, keepdim=True)  # rows with at least one allowed key
        scores = scores.masked_fill(~(mask | ~ok), float("-inf"))  # an empty row sees every key, then is zeroed
        weights = torch.softmax(scores, dim=-1).masked_fill(~ok, 0.0)
    return weights @ v, weights


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    B, T, d = x.shape
    if d % n_heads:
        raise ValueError(f"n_heads={n_heads} does not divide d={d}")
    return x.reshape(B, T, n_heads, d // n_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    B, H, T, dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * dh)


def multi_head_attention(query: Tensor, key: Tensor, value: Tensor, in_proj_weight: Tensor, in_proj_bias: Tensor,
                         out_weight: Tensor, out_bias: Tensor, n_heads: int, mask: Tensor | None = None) -> Tensor:
    wq, wk, wv = in_proj_weight.chunk(3)
    bq, bk, bv = in_proj_bias.chunk(3)
    q = split_heads(query @ wq.T + bq, n_heads)
    k = split_heads(key @ wk.T + bk, n_heads)
    v = split_heads(value @ wv.T + bv, n_heads)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ out_weight.T + out_bias
