"""What token merging and token pruning share: a trained ViT's embedding, and one Pre-LN block split at the
point between attention and MLP where both reduce the tokens (Bolya et al. 2023, §3; Liang et al. 2022, §3)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..blocks.standard import _StandardBlock
from .vit import ViT

__all__ = ["check_reducible", "embed_tokens", "attention_half", "finish_block", "classify"]


def check_reducible(model: ViT) -> None:
    """A ViT with one class token and Pre-LN blocks (the layout whose weights token reduction reuses)."""
    if not isinstance(model, ViT) or model.pool != "cls" or model.n_extra != 1:
        raise TypeError("token reduction works on a ViT with one class token (pool='cls'), got "
                        f"{type(model).__name__}" + (f" with pool={model.pool!r}" if isinstance(model, ViT) else ""))
    for b in model.blocks:
        if not isinstance(b, _StandardBlock) or not b.norm_first:
            raise TypeError(f"token reduction needs the ViT's Pre-LN blocks, got {type(b).__name__}")


def embed_tokens(model: ViT, images: Tensor) -> Tensor:
    """z_0 = [x_class; patches E] + E_pos: (B, 1 + N, d), exactly as ``model.tokens`` starts."""
    x = model.embed(images)
    return model.positions(torch.cat([model.extra_tokens.to(x.dtype).expand(x.shape[0], -1, -1), x], dim=1))


def attention_half(block: _StandardBlock, x: Tensor, log_size: Tensor | None = None,
                   cls_attention: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
    """x + MHA(LN x) with ``log_size`` (B, T) added to every key's logit (proportional attention; None: plain).

    Returns the new x (B, T, d), the keys (B, H, T, d_h) (ToMe's metric is their mean over heads) and, with
    ``cls_attention``, the class token's attention to the other tokens averaged over heads (B, T − 1)."""
    h = block.norm1(x)
    q, k, v = (block.heads(t) for t in block.qkv(h).split([block.d_model, block.kv_dim, block.kv_dim], dim=-1))
    bias = None if log_size is None else log_size.to(x.dtype)[:, None, None, :]  # (B, 1, 1, T)
    cls = None
    if cls_attention:
        s = q[:, :, :1] @ k.transpose(-1, -2) / math.sqrt(block.d_head)  # (B, H, 1, T)
        cls = (s if bias is None else s + bias).softmax(-1)[:, :, 0, 1:].mean(1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    return x + block.proj(block.merge(out)), k, cls


def finish_block(block: _StandardBlock, x: Tensor) -> Tensor:
    """The MLP half: x + MLP(LN x)."""
    return x + block.mlp(block.norm2(x))


def classify(model: ViT, x: Tensor) -> Tensor:
    """Final LayerNorm and the head on the class token: (B, T, d) → (B, K)."""
    return model.head(model.norm(x)[:, 0])
