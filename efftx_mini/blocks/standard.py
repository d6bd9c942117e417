"""The standard blocks: Post-LN (Vaswani et al. 2017, §3.1) and Pre-LN (Xiong et al. 2020; He & Hofmann
2024, Eq. (1) with α = β = 1): Pre-LN X̂ = X + MHA(LN(X)), X_out = X̂ + MLP(LN(X̂)).

Options (all blocks): ``norm="layer"|"rms"|None``, ``bias``, ``activation``. With the defaults, parameter layout
and arithmetic follow ``torch.nn.TransformerEncoderLayer`` (``norm_first=True/False``),
so weights copy over one to one: ``qkv`` = ``self_attn.in_proj_*``, ``proj`` = ``self_attn.out_proj``,
``fc1``/``fc2`` = ``linear1``/``linear2``, ``norm1``/``norm2``.
"""

from __future__ import annotations

from torch import Tensor, nn

from ._base import Block

__all__ = ["PreLNBlock", "PostLNBlock"]


class _StandardBlock(Block):
    norm_first = True

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", eps: float = 1e-5,
                 norm: str | bool | None = "layer", bias: bool = True, first_layer_norm: bool = True,
                 n_kv_heads: int | None = None) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, bias=bias,
                         first_layer_norm=first_layer_norm, n_kv_heads=n_kv_heads)
        self.qkv = self.linear(d_model, d_model + 2 * self.kv_dim)  # [W^Q; W^K; W^V], one matmul
        self.proj = self.linear(d_model, d_model)  # W^P
        self.fc1, self.fc2 = self.linear(d_model, d_ff), self.linear(d_ff, d_model)
        self.norm1 = self.make_norm(d_model, eps, block_input=self.norm_first)
        self.norm2 = self.make_norm(d_model, eps)
        self.drop = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.qkv.weight)  # as torch.nn.MultiheadAttention
        if self.bias:
            nn.init.zeros_(self.qkv.bias)
            nn.init.zeros_(self.proj.bias)

    def attn(self, h: Tensor, mask: Tensor | None) -> Tensor:
        q, k, v = (self.heads(t) for t in self.qkv(h).split([self.d_model, self.kv_dim, self.kv_dim], dim=-1))
        return self.drop(self.proj(self.merge(self.sdpa(q, k, v, mask))))

    def mlp(self, h: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(h)))))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, T, d), optional bool mask broadcastable to (B, H, T, T) → (B, T, d)."""
        self._check(x, mask)
        if self.norm_first:
            x = x + self.attn(self.norm1(x), mask)
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x, mask))
        return self.norm2(x + self.mlp(x))


class PreLNBlock(_StandardBlock):
    """Pre-LN: X̂ = X + MHA(LN(X)), X_out = X̂ + MLP(LN(X̂)) — He & Hofmann 2024, Eq. (1), Fig. 1 (left)."""

    norm_first = True
    final_norm = True


class PostLNBlock(_StandardBlock):
    """Post-LN: X̂ = LN(X + MHA(X)), X_out = LN(X̂ + MLP(X̂)) — Vaswani et al. 2017, §3.1."""

    norm_first = False
    final_norm = False
