"""The simplified blocks of He & Hofmann 2024: SAS (§4.2, Fig. 9) and SAS-P (§4.3, Fig. 10).

Gains as in the paper's Eq. (1): α on skip branches, β on residual branches. Both blocks drop the attention
skip (α_SA = 0) and keep a trainable attention-branch gain β_SA (1 at init, ``attn_block_resid_gain`` in the
authors' code). SA is shaped attention (§4.1) with identity values and projection (W^V = W^P = I, §4.2):
SAS:   X̂ = β_SA·SA(N(X)),   X_out = X̂ + β_FF·MLP(N(X̂)),          β_FF = 0.1 at init;
SAS-P: X_out = β_SA·SA(N(X)) + β_FF·MLP(N(X))  (no skip at all; SA's αI carries the signal, §4.3).
N is LayerNorm, RMSNorm or the identity (``norm="layer"|"rms"|None``, §4.4); without norms, block 0 keeps a
LayerNorm on its input and the stack keeps its final LayerNorm (``first_layer_norm``, ``final_norm``), as the
authors' code does. W^Q = 0 at initialisation (§4.1), so SA is the identity map at initialisation.
The first block keeps a trainable W^V initialised to I (a config of the authors' code, not in the paper;
``first_layer_value``). Per-block weight matrices (no biases/gains): W^Q, W^K (2d²) + MLP (2·d·d_ff) = 10d²
for d_ff = 4d, against 12d² for Pre-LN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import Block, resolve_beta_ff
from .shaped_attention import ShapedAttention

__all__ = ["SASBlock", "SASPBlock"]

Norm = str | bool | None


class _Simplified(Block):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", norm: Norm = "layer",
                 beta_ff: float | str = 0.1, first_layer_value: bool = True, eps: float = 1e-5,
                 bias: bool = True, first_layer_norm: bool = True, final_norm: bool = True,
                 beta_sa: float = 1.0, rope: bool = False, rope_base: float = 10000.0) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, bias=bias,
                         first_layer_norm=first_layer_norm, rope=rope, rope_base=rope_base)
        self.final_norm = bool(final_norm)
        self.has_value = bool(first_layer_value) and layer_idx == 0
        self.shaped = ShapedAttention(n_heads, causal, dropout=dropout)
        self.beta_sa = nn.Parameter(torch.tensor(float(beta_sa)))  # attention-branch gain β_SA, trainable
        self.beta_ff = nn.Parameter(torch.tensor(resolve_beta_ff(beta_ff, n_layers)))  # MLP-branch gain β_FF
        self.drop = nn.Dropout(dropout)

    def _init_in(self, lin: nn.Linear) -> None:
        """Rows [W^Q; W^K; (W^V); …]: W^Q = 0 (§4.1), W^K xavier, first-layer W^V = I, biases 0."""
        d = self.d_model
        with torch.no_grad():
            lin.weight[:d].zero_()
            nn.init.xavier_uniform_(lin.weight[d: 2 * d])
            if lin.bias is not None:
                lin.bias[: 3 * d if self.has_value else 2 * d].zero_()
            if self.has_value:
                lin.weight[2 * d: 3 * d].copy_(torch.eye(d))

    def _qkv_split(self) -> list[int]:
        d = self.d_model
        return [d, d, d] if self.has_value else [d, d]

    def _attend(self, h: Tensor, parts: tuple[Tensor, ...], mask: Tensor | None, explicit: bool,
                positions: Tensor | None = None) -> Tensor:
        q, k = self.rotate(self.heads(parts[0]), self.heads(parts[1]), positions)
        v = self.heads(parts[2] if self.has_value else h)  # identity values: V = N(X)
        if self.kv_cache is not None:  # cache keys and the (identity) values; CV averages every cached value
            if explicit or mask is not None:
                raise ValueError("with a KV cache, use the fused path (explicit=False) and pass the padding through "
                                 "the cache, not as mask")
            k, v, full = self.kv_cache.update(k, v)
            return self.merge(self.shaped(q, k, v, full))
        return self.merge(self.shaped(q, k, v, mask, explicit=explicit))  # identity projection


class SASBlock(_Simplified):
    """SAS: X̂ = β_SA·SA(N(X)), X_out = X̂ + β_FF·MLP(N(X̂)) — He & Hofmann 2024, §4.2, Fig. 9."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", norm: Norm = "layer",
                 beta_ff: float | str = 0.1, first_layer_value: bool = True, eps: float = 1e-5,
                 bias: bool = True, first_layer_norm: bool = True, final_norm: bool = True,
                 beta_sa: float = 1.0, rope: bool = False, rope_base: float = 10000.0) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, beta_ff=beta_ff,
                         first_layer_value=first_layer_value, eps=eps, bias=bias,
                         first_layer_norm=first_layer_norm, final_norm=final_norm, beta_sa=beta_sa, rope=rope,
                         rope_base=rope_base)
        self.norm1, self.norm2 = self.make_norm(d_model, eps, block_input=True), self.make_norm(d_model, eps)
        self.in_proj = self.linear(d_model, sum(self._qkv_split()))
        self.fc1, self.fc2 = self.linear(d_model, self.ff_in), self.linear(d_ff, d_model)
        self._init_in(self.in_proj)

    def forward(self, x: Tensor, mask: Tensor | None = None, *, explicit: bool = False,
                positions: Tensor | None = None) -> Tensor:
        """x (B, T, d), optional bool mask broadcastable to (B, H, T, T), positions for rope → (B, T, d)."""
        self._check(x, mask, positions)
        h = self.norm1(x)
        parts = self.in_proj(h).split(self._qkv_split(), dim=-1)
        a = self.beta_sa * self._attend(h, parts, mask, explicit, positions)
        return a + self.beta_ff * self.drop(self.fc2(self.drop(self.act(self.fc1(self.norm2(a))))))

    def attention_matrices(self, x: Tensor, mask: Tensor | None = None, *,
                           positions: Tensor | None = None) -> dict[str, Tensor]:
        """The explicit αI, βS, γC and A (B, H, T, T) of this block for input x."""
        parts = self.in_proj(self.norm1(x)).split(self._qkv_split(), dim=-1)
        return self.shaped.matrices(*self.rotate(self.heads(parts[0]), self.heads(parts[1]), positions), mask)


class SASPBlock(_Simplified):
    """SAS-P: X_out = β_SA·SA(N(X)) + β_FF·MLP(N(X)), one fused input matmul d → 2d (+d) + d_ff — §4.3, Fig. 10."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", norm: Norm = "layer",
                 beta_ff: float | str = 0.1, first_layer_value: bool = True, eps: float = 1e-5,
                 bias: bool = True, first_layer_norm: bool = True, final_norm: bool = True,
                 beta_sa: float = 1.0, rope: bool = False, rope_base: float = 10000.0) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, beta_ff=beta_ff,
                         first_layer_value=first_layer_value, eps=eps, bias=bias,
                         first_layer_norm=first_layer_norm, final_norm=final_norm, beta_sa=beta_sa, rope=rope,
                         rope_base=rope_base)
        self.norm = self.make_norm(d_model, eps, block_input=True)
        self.fused_in = self.linear(d_model, sum(self._qkv_split()) + self.ff_in)  # [W^Q; W^K; (W^V); W_1]
        self.fc2 = self.linear(d_ff, d_model)
        with torch.no_grad():
            bound = d_model ** -0.5
            self.fused_in.weight[sum(self._qkv_split()):].uniform_(-bound, bound)
        self._init_in(self.fused_in)

    def forward(self, x: Tensor, mask: Tensor | None = None, *, explicit: bool = False,
                positions: Tensor | None = None) -> Tensor:
        """x (B, T, d), optional bool mask broadcastable to (B, H, T, T), positions for rope → (B, T, d)."""
        self._check(x, mask, positions)
        h = self.norm(x)
        *parts, u = self.fused_in(h).split([*self._qkv_split(), self.ff_in], dim=-1)
        a = self._attend(h, tuple(parts), mask, explicit, positions)
        return self.beta_sa * a + self.beta_ff * self.drop(self.fc2(self.drop(self.act(u))))

    def attention_matrices(self, x: Tensor, mask: Tensor | None = None, *,
                           positions: Tensor | None = None) -> dict[str, Tensor]:
        """The explicit αI, βS, γC and A (B, H, T, T) of this block for input x."""
        d = self.d_model
        b = None if self.fused_in.bias is None else self.fused_in.bias[: 2 * d]
        q, k = F.linear(self.norm(x), self.fused_in.weight[: 2 * d], b).chunk(2, dim=-1)
        return self.shaped.matrices(*self.rotate(self.heads(q), self.heads(k), positions), mask)
