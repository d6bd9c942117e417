"""Structured head removal: keep only the rows of W^Q, W^K, W^V and the columns of W^O of the kept heads.

MultiHead(x) = Σ_h Att_h(x) W^O_h (Vaswani et al. 2017, §3.2.2, written per head as in Michel et al. 2019,
Eq. 1), so dropping head h's slices gives exactly the output of gating it off (ξ_h = 0), from a smaller
dense layer: the four projections cost 4·d·H'·d_h instead of 4·d·H·d_h multiply-adds per token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..attention import MultiHeadAttention
from .gates import attention_layers

__all__ = ["ShrunkMultiHeadAttention", "shrink_attention", "remove_heads"]


class ShrunkMultiHeadAttention(MultiHeadAttention):
    """Multi-head attention with H' heads of width d_h where H'·d_h may be smaller than d_model.

    ``in_proj_weight`` (3·H'·d_h, d) = [W^Q; W^K; W^V] of the kept heads, ``out_proj`` (d ← H'·d_h).
    Built by :func:`shrink_attention`; same call signature and outputs as :class:`MultiHeadAttention`.
    """

    mask_shape = "(B, H', T_q, T_k)"

    def __init__(self, d_model: int, n_heads: int, d_head: int, dropout: float = 0.0, bias: bool = True) -> None:
        if n_heads <= 0 or d_head <= 0:
            raise ValueError(f"n_heads and d_head must be positive, got n_heads={n_heads}, d_head={d_head}")
        super().__init__(d_model, 1, dropout, bias)  # one head of width d_model: always valid, replaced below
        inner = n_heads * d_head
        self.n_heads, self.d_head, self.inner = n_heads, d_head, inner
        self.in_proj_weight = nn.Parameter(torch.empty(3 * inner, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * inner)) if bias else None
        self.out_proj = nn.Linear(inner, d_model, bias=bias)
        self.register_buffer("head_gates", None)
        self.reset_parameters()

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        w, b, n = self.in_proj_weight, self.in_proj_bias, self.inner
        if query is key and key is value:
            return F.linear(query, w, b).chunk(3, dim=-1)
        wq, wk, wv = w.split(n)
        bq, bk, bv = (None, None, None) if b is None else b.split(n)
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, d_head={self.d_head}, dropout={self.dropout}"


def _check_heads(heads: Iterable[int], n_heads: int, what: str) -> list[int]:
    hs = [int(h) for h in heads]
    bad = [h for h in hs if not 0 <= h < n_heads]
    if bad:
        raise ValueError(f"{what}: head indices must be in [0, {n_heads}), got {bad}")
    if len(set(hs)) != len(hs):
        raise ValueError(f"{what}: head indices must be distinct, got {hs}")
    return hs


@torch.no_grad()
def shrink_attention(mha: MultiHeadAttention, remove: Sequence[int]) -> ShrunkMultiHeadAttention:
    """A new, smaller layer computing what ``mha`` computes with the heads in ``remove`` gated off.

    Head h owns rows [h·d_h, (h+1)·d_h) of each of W^Q, W^K, W^V (and their biases) and the same columns
    of W^O; the output bias stays. Gates of the kept heads carry over. Removing every head is an error.
    """
    if not isinstance(mha, MultiHeadAttention):
        raise TypeError(f"shrink_attention needs an efftx_mini MultiHeadAttention, got {type(mha).__name__}")
    H, dh, d = mha.n_heads, mha.d_head, mha.d_model
    gone = set(_check_heads(remove, H, "shrink_attention"))
    keep = [h for h in range(H) if h not in gone]
    if not keep:
        raise ValueError(f"cannot remove all {H} heads of a layer: keep at least one (remove={sorted(gone)})")
    if type(mha) not in (MultiHeadAttention, ShrunkMultiHeadAttention):
        raise TypeError(f"shrink_attention handles MultiHeadAttention itself, not the subclass "
                        f"{type(mha).__name__} (its head_projections may do more than slice W^Q, W^K, W^V)")
    inner = H * dh
    if getattr(mha, "n_kv_heads", H) != H or tuple(mha.in_proj_weight.shape) != (3 * inner, d):
        raise ValueError(f"shrink_attention needs separate K and V heads for every query head: in_proj_weight "
                         f"of shape (3·H·d_h, d) = {(3 * inner, d)}, got {tuple(mha.in_proj_weight.shape)} "
                         f"with n_kv_heads={getattr(mha, 'n_kv_heads', H)}")
    cols = torch.cat([torch.arange(h * dh, (h + 1) * dh) for h in keep])  # within one of Q, K, V
    rows = torch.cat([cols + i * inner for i in range(3)])  # within [W^Q; W^K; W^V]
    bias = mha.in_proj_bias is not None
    new = ShrunkMultiHeadAttention(d, len(keep), dh, mha.dropout, bias).to(mha.in_proj_weight)
    new.in_proj_weight.copy_(mha.in_proj_weight[rows.to(mha.in_proj_weight.device)])
    if bias:
        new.in_proj_bias.copy_(mha.in_proj_bias[rows.to(mha.in_proj_bias.device)])
        new.out_proj.bias.copy_(mha.out_proj.bias)
    new.out_proj.weight.copy_(mha.out_proj.weight[:, cols.to(mha.out_proj.weight.device)])
    if mha.head_gates is not None:
        new.register_buffer("head_gates", mha.head_gates[torch.tensor(keep, device=mha.head_gates.device)].clone())
    new.train(mha.training)
    return new


def remove_heads(model: nn.Module, heads: Mapping[str, Sequence[int]]) -> nn.Module:
    """Replace, in place, each named attention layer by its shrunk copy without ``heads[name]``; returns model.

    ``heads`` maps layer names (as in :func:`efftx_mini.compress.attention_layers`) to head indices.
    """
    layers = attention_layers(model)
    for name in heads:
        if name not in layers:
            raise ValueError(f"no attention layer named {name!r}; layers are {sorted(layers)}")
    for name, hs in heads.items():
        if not hs:
            continue
        new = shrink_attention(layers[name], hs)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else None
        if parent is None:
            raise ValueError("remove_heads replaces attention layers inside a model; call shrink_attention "
                             "on a bare MultiHeadAttention")
        setattr(parent, child, new)
    return model
