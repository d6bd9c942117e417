"""The parallel block of GPT-J (Wang & Komatsuzaki 2021) and PaLM (Chowdhery et al. 2022, §2):
X_out = X + MHA(LN(X)) + MLP(LN(X)) — He & Hofmann 2024, §4.3 (kept skips).

Both sub-blocks read the same LN(X), so their input projections fuse into ONE matmul
d → 3d + d_ff ([W^Q; W^K; W^V; W_1]), and their output projections into one matmul d + d_ff → d
([W^P, W_2] applied to the concatenation [attention heads, activated hidden units]).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import Block

__all__ = ["ParallelBlock"]


class ParallelBlock(Block):
    """X_out = X + MHA(LN(X)) + MLP(LN(X)) with fused in/out projections (PaLM §2 "Parallel Layers")."""

    final_norm = True

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", eps: float = 1e-5,
                 norm: str | bool | None = "layer", bias: bool = True, first_layer_norm: bool = True,
                 n_kv_heads: int | None = None, rope: bool = False, rope_base: float = 10000.0) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, bias=bias,
                         first_layer_norm=first_layer_norm, n_kv_heads=n_kv_heads, rope=rope, rope_base=rope_base)
        d, qkv = d_model, d_model + 2 * self.kv_dim
        self.norm = self.make_norm(d, eps, block_input=True)
        self.fused_in = self.linear(d, qkv + self.ff_in)  # rows: W^Q, W^K, W^V (3d with MHA), W_1 (d_ff or 2·d_ff)
        self.fused_out = self.linear(d + d_ff, d)  # columns: W^P (d), W_2 (d_ff); one bias b^P + b_2
        self.drop = nn.Dropout(dropout)
        with torch.no_grad():  # same initial distributions as the unfused Pre-LN block's layers
            nn.init.xavier_uniform_(self.fused_in.weight[:qkv])
            if self.bias:
                nn.init.zeros_(self.fused_in.bias[:qkv])
            for w, fan_in in ((self.fused_in.weight[qkv:], d), (self.fused_out.weight[:, :d], d),
                              (self.fused_out.weight[:, d:], d_ff)):
                bound = fan_in ** -0.5
                w.uniform_(-bound, bound)

    def split_weights(self) -> dict[str, Tensor]:
        """The fused matrices cut back into the unfused ones (views): W_q, W_k, W_v, W_1, W_p, W_2 and biases
        (biases only with ``bias=True``)."""
        d = self.d_model
        sizes = [d, self.kv_dim, self.kv_dim, self.ff_in]
        wq, wk, wv, w1 = self.fused_in.weight.split(sizes)
        wp, w2 = self.fused_out.weight.split([d, self.d_ff], dim=1)
        out = {"wq": wq, "wk": wk, "wv": wv, "w1": w1, "wp": wp, "w2": w2}
        if self.bias:
            bq, bk, bv, b1 = self.fused_in.bias.split(sizes)
            out.update(bq=bq, bk=bk, bv=bv, b1=b1, b_out=self.fused_out.bias)
        return out

    def forward(self, x: Tensor, mask: Tensor | None = None, *, positions: Tensor | None = None) -> Tensor:
        """x (B, T, d), optional bool mask broadcastable to (B, H, T, T), positions for rope → (B, T, d)."""
        self._check(x, mask, positions)
        q, k, v, u = self.fused_in(self.norm(x)).split([self.d_model, self.kv_dim, self.kv_dim, self.ff_in], dim=-1)
        a = self.merge(self.sdpa(self.heads(q), self.heads(k), self.heads(v), mask, positions))  # (B, T, d)
        z = torch.cat([a, self.drop(self.act(u))], dim=-1)  # (B, T, d + d_ff)
        return x + self.drop(self.fused_out(z))
