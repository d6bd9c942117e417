"""Converting a multi-head checkpoint to grouped-query attention by mean-pooling key and value heads
(Ainslie et al. 2023, §2.1 "uptraining": mean-pool the projection matrices of each group, then continue
pre-training for a proportion α of the original steps).

G is the number of groups, i.e. of key/value heads (the paper's GQA-G; G = 1 is MQA, G = H is MHA), and each
group has H/G query heads. Query head i reads key/value head i // (H/G) (:meth:`efftx_mini.blocks.Block.expand_kv`),
so group g holds the heads g·H/G … (g+1)·H/G − 1, and its pooled W^K, W^V (and biases) are the means of those
heads' rows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .lm import DecoderOnlyLM

__all__ = ["mean_pool_kv_heads", "qkv_layer", "pool_qkv_rows"]


def qkv_layer(block: nn.Module) -> nn.Linear:
    """The linear layer whose output rows start with [W^Q; W^K; W^V] (``qkv``, or the parallel block's ``fused_in``)."""
    for name in ("qkv", "fused_in"):
        layer = getattr(block, name, None)
        if isinstance(layer, nn.Linear):
            return layer
    raise ValueError(f"{type(block).__name__} has no qkv or fused_in projection to pool")


def _pool_rows(rows: Tensor, n_kv: int, d_head: int) -> Tensor:
    """(h·d_h, …) rows of h heads → (G·d_h, …) with G = n_kv groups: the mean over each group of h / G consecutive
    heads."""
    h = rows.shape[0] // d_head
    grouped = rows.reshape(n_kv, h // n_kv, d_head, *rows.shape[1:])
    return grouped.mean(1).reshape(n_kv * d_head, *rows.shape[1:])


def pool_qkv_rows(t: Tensor, d_model: int, kv_dim: int, n_kv_heads: int, d_head: int) -> Tensor:
    """A tensor with rows [Q (d_model); K (kv_dim); V (kv_dim); rest] (a qkv or fused weight, its bias, or an
    optimiser moment of either) with the K and V rows mean-pooled to ``n_kv_heads`` groups."""
    q, k, v, rest = t.split([d_model, kv_dim, kv_dim, t.shape[0] - d_model - 2 * kv_dim])
    return torch.cat([q, _pool_rows(k, n_kv_heads, d_head), _pool_rows(v, n_kv_heads, d_head), rest])


def mean_pool_kv_heads(model: DecoderOnlyLM, n_kv_heads: int) -> DecoderOnlyLM:
    """A new DecoderOnlyLM with ``n_kv_heads`` key/value heads whose W^K, W^V are group means of ``model``'s;
    every other weight is copied. ``n_kv_heads`` must divide the model's current number of key/value heads."""
    if not isinstance(model, DecoderOnlyLM):
        raise TypeError(f"model must be a DecoderOnlyLM, got {type(model).__name__}")
    blk0 = model.blocks[0]
    cur = blk0.n_kv_heads
    if isinstance(n_kv_heads, bool) or not isinstance(n_kv_heads, int) or n_kv_heads < 1 or cur % n_kv_heads:
        raise ValueError(f"n_kv_heads must be a positive int dividing the model's {cur} key/value heads, "
                         f"got {n_kv_heads!r}")
    cfg = {**model.config, "n_kv_heads": n_kv_heads}
    new = DecoderOnlyLM(**cfg)
    state = model.state_dict()
    d, kv, d_head = blk0.d_model, blk0.kv_dim, blk0.d_head
    names = {id(m): n for n, m in model.named_modules()}
    for blk in model.blocks:
        prefix = names[id(qkv_layer(blk))]
        for suffix in ("weight", "bias"):
            key = f"{prefix}.{suffix}"
            if key not in state:
                continue
            state[key] = pool_qkv_rows(state[key], d, kv, n_kv_heads, d_head)
    new.load_state_dict(state)
    new.train(model.training)
    return new.to(next(model.parameters()).device)
