"""Value-SkipInit (He et al. 2023, §4; He & Hofmann 2024, §4.1): A(X) ← α·I + β·A(X), α = 1, β = 0 at init.

The attention sub-block loses its skip connection: X̂ = MHA'(LN(X)) with the modified attention
matrix (values W^V and projection W^P kept), then X_out = X̂ + β_FF·MLP(LN(X̂)) with β_FF = 0.1 as for
SAS (§4.1–§4.2). Fused path: (αI + βA)V = αV + β·SDPA(Q, K, V), no T×T matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import Block, resolve_beta_ff
from .shaped_attention import shaped_attention_matrices

__all__ = ["ValueSkipInitBlock"]


class ValueSkipInitBlock(Block):
    """X̂ = W^P·[(α_h I + β_h A_h) V_h]_h on LN(X); X_out = X̂ + β_FF·MLP(LN(X̂)); α = 1, β = 0 at init."""

    final_norm = True

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", beta_ff: float | str = 0.1,
                 eps: float = 1e-5, norm: str | bool | None = "layer", bias: bool = True,
                 first_layer_norm: bool = True, n_kv_heads: int | None = None, rope: bool = False,
                 rope_base: float = 10000.0) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, bias=bias,
                         first_layer_norm=first_layer_norm, n_kv_heads=n_kv_heads, rope=rope, rope_base=rope_base)
        self.norm1, self.norm2 = self.make_norm(d_model, eps, block_input=True), self.make_norm(d_model, eps)
        self.qkv = self.linear(d_model, d_model + 2 * self.kv_dim)
        self.proj = self.linear(d_model, d_model)
        self.fc1, self.fc2 = self.linear(d_model, self.ff_in), self.linear(d_ff, d_model)
        self.alpha = nn.Parameter(torch.ones(n_heads))
        self.beta = nn.Parameter(torch.zeros(n_heads))
        self.beta_ff = nn.Parameter(torch.tensor(resolve_beta_ff(beta_ff, n_layers)))
        self.drop = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.qkv.weight)
        if self.bias:
            nn.init.zeros_(self.qkv.bias)
            nn.init.zeros_(self.proj.bias)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = self.qkv(self.norm1(x)).split([self.d_model, self.kv_dim, self.kv_dim], dim=-1)
        return self.heads(q), self.heads(k), self.heads(v)

    def forward(self, x: Tensor, mask: Tensor | None = None, *, explicit: bool = False,
                positions: Tensor | None = None) -> Tensor:
        """x (B, T, d), optional bool mask broadcastable to (B, H, T, T), positions for rope → (B, T, d)."""
        self._check(x, mask, positions)
        q, k, v = self._qkv(x)
        if explicit:
            if self.kv_cache is not None:
                raise ValueError("the explicit path builds the T×T matrix and has no KV cache; use explicit=False")
            o = self.attention_matrices(x, mask, positions=positions)["A"] @ self.expand_kv(v)
        else:
            o = (self.alpha.view(1, -1, 1, 1) * self.expand_kv(v)
                 + self.beta.view(1, -1, 1, 1) * self.sdpa(q, k, v, mask, positions))
        h = self.drop(self.proj(self.merge(o)))
        return h + self.beta_ff * self.drop(self.fc2(self.drop(self.act(self.fc1(self.norm2(h))))))

    def attention_matrices(self, x: Tensor, mask: Tensor | None = None, *,
                           positions: Tensor | None = None) -> dict[str, Tensor]:
        """αI, βA and their sum, each (B, H, T, T) (γ = 0: no centring term)."""
        q, k, _ = self._qkv(x)
        q, k = self.rotate(q, k, positions)
        out = shaped_attention_matrices(q, self.expand_kv(k), self.alpha, self.beta, torch.zeros_like(self.alpha),
                                        causal=self.causal, mask=mask)
        for key in ("centre", "C"):
            out.pop(key)
        return out
