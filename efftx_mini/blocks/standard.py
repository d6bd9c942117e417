"""The standard blocks: Post-LN (Vaswani et al. 2017, §3.1) and Pre-LN (Xiong et al. 2020; He & Hofmann
2024, Eq. (1) with α = β = 1): Pre-LN X̂ = X + MHA(LN(X)), X_out = X̂ + MLP(LN(X̂)); and the LLaMA block
(Touvron et al. 2023, §2.2), Pre-LN with RMSNorm, SwiGLU, rotary positions, no biases and (optionally) GQA.

Options (all blocks): ``norm="layer"|"rms"|None``, ``bias``, ``activation`` ("gelu", "relu", "swiglu"), ``rope``,
``n_kv_heads``. With the defaults, parameter layout and arithmetic follow ``torch.nn.TransformerEncoderLayer``
(``norm_first=True/False``), so weights copy over one to one: ``qkv`` = ``self_attn.in_proj_*``, ``proj`` =
``self_attn.out_proj``, ``fc1``/``fc2`` = ``linear1``/``linear2``, ``norm1``/``norm2``. The LLaMA block copies
to ``transformers``' ``LlamaDecoderLayer``: ``qkv`` = [q_proj; k_proj; v_proj] (rows of W^Q, W^K permuted within
each head from RoFormer's interleaved pairs to the half-split layout, as ``convert_llama_weights_to_hf`` does),
``proj`` = o_proj, ``fc1`` = [gate_proj; up_proj], ``fc2`` = down_proj, ``norm1``/``norm2`` = input_layernorm /
post_attention_layernorm.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ._base import Block

__all__ = ["PreLNBlock", "PostLNBlock", "LlamaBlock", "llama_d_ff"]


class _StandardBlock(Block):
    norm_first = True

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", eps: float = 1e-5,
                 norm: str | bool | None = "layer", bias: bool = True, first_layer_norm: bool = True,
                 n_kv_heads: int | None = None, rope: bool = False, rope_base: float = 10000.0) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, bias=bias,
                         first_layer_norm=first_layer_norm, n_kv_heads=n_kv_heads, rope=rope, rope_base=rope_base)
        self.qkv = self.linear(d_model, d_model + 2 * self.kv_dim)  # [W^Q; W^K; W^V], one matmul
        self.proj = self.linear(d_model, d_model)  # W^P
        self.fc1, self.fc2 = self.linear(d_model, self.ff_in), self.linear(d_ff, d_model)  # fc1: [W; V] if gated
        self.norm1 = self.make_norm(d_model, eps, block_input=self.norm_first)
        self.norm2 = self.make_norm(d_model, eps)
        self.drop = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.qkv.weight)  # as torch.nn.MultiheadAttention
        if self.bias:
            nn.init.zeros_(self.qkv.bias)
            nn.init.zeros_(self.proj.bias)

    def attn(self, h: Tensor, mask: Tensor | None, positions: Tensor | None = None) -> Tensor:
        q, k, v = (self.heads(t) for t in self.qkv(h).split([self.d_model, self.kv_dim, self.kv_dim], dim=-1))
        return self.drop(self.proj(self.merge(self.sdpa(q, k, v, mask, positions))))

    def mlp(self, h: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(h)))))

    def forward(self, x: Tensor, mask: Tensor | None = None, *, positions: Tensor | None = None) -> Tensor:
        """x (B, T, d), optional bool mask broadcastable to (B, H, T, T), positions for rope → (B, T, d)."""
        self._check(x, mask, positions)
        if self.norm_first:
            x = x + self.attn(self.norm1(x), mask, positions)
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x, mask, positions))
        return self.norm2(x + self.mlp(x))


class PreLNBlock(_StandardBlock):
    """Pre-LN: X̂ = X + MHA(LN(X)), X_out = X̂ + MLP(LN(X̂)) — He & Hofmann 2024, Eq. (1), Fig. 1 (left)."""

    norm_first = True
    final_norm = True


class PostLNBlock(_StandardBlock):
    """Post-LN: X̂ = LN(X + MHA(X)), X_out = LN(X̂ + MLP(X̂)) — Vaswani et al. 2017, §3.1."""

    norm_first = False
    final_norm = False


def llama_d_ff(d_model: int, multiple_of: int = 8) -> int:
    """SwiGLU hidden width with the parameters of a 4d ReLU/GELU MLP: 2/3 · 4d rounded up to ``multiple_of``
    (Shazeer 2020, §2; LLaMA's code rounds to a multiple of 256 at its widths)."""
    return multiple_of * math.ceil(2 * 4 * d_model / 3 / multiple_of)


class LlamaBlock(PreLNBlock):
    """The LLaMA decoder block (Touvron et al. 2023, §2.2): X̂ = X + MHA(RMSNorm(X)) with rotary positions and no
    biases, X_out = X̂ + SwiGLU-FFN(RMSNorm(X̂)); ``n_kv_heads`` < n_heads gives GQA (as in Llama 2 70B)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "swiglu", eps: float = 1e-6,
                 norm: str | bool | None = "rms", bias: bool = False, first_layer_norm: bool = True,
                 n_kv_heads: int | None = None, rope: bool = True, rope_base: float = 10000.0) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, eps=eps, norm=norm, bias=bias,
                         first_layer_norm=first_layer_norm, n_kv_heads=n_kv_heads, rope=rope, rope_base=rope_base)
