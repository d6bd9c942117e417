"""The simplified blocks of He & Hofmann 2024: SAS (§4.2, Fig. 9) and SAS-P (§4.3, Fig. 10).

SAS  ("Simplified Attention Sub-block"): no attention skip, shaped attention (§4.1), identity values
and projection (W^V = W^P = I, §4.2) except a trainable value matrix in the first layer:
    X̂ = SA(N(X)),   X_out = X̂ + β_FF·MLP(N(X̂)),         β_FF = 0.1 at init.
SAS-P (parallel, §4.3): no skip at all; the shaped attention's αI carries the signal:
    X_out = α_SA·SA(N(X)) + β_FF·MLP(N(X)),               α_SA = 1, β_FF = 0.1.
N is LayerNorm, or the identity with ``norm=False`` (§4.4, "removing normalisation").
SA uses W^Q = 0 at initialisation (§4.1), so SA = identity map at initialisation.
Per-block weight matrices (paper's accounting, no biases/gains): W^Q, W^K (2d²) + MLP (2·d·d_ff) =
10d² for d_ff = 4d, against 12d² for Pre-LN.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import Block
from .shaped_attention import ShapedAttention

__all__ = ["SASBlock", "SASPBlock"]


def _norm(d: int, on: bool, eps: float) -> nn.Module:
    return nn.LayerNorm(d, eps=eps) if on else nn.Identity()


class _Simplified(Block):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", norm: bool = True,
                 beta_ff: float = 0.1, first_layer_value: bool = True, eps: float = 1e-5) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation)
        self.norm_on = bool(norm)
        self.final_norm = self.norm_on
        self.has_value = bool(first_layer_value) and layer_idx == 0
        self.shaped = ShapedAttention(n_heads, causal, dropout=dropout)
        self.beta_ff = nn.Parameter(torch.tensor(float(beta_ff)))
        self.drop = nn.Dropout(dropout)

    def _init_in(self, lin: nn.Linear) -> None:
        """Rows [W^Q; W^K; (W^V); …]: W^Q = 0 (§4.1), W^K xavier, first-layer W^V = I, biases 0."""
        d = self.d_model
        with torch.no_grad():
            lin.weight[:d].zero_()
            nn.init.xavier_uniform_(lin.weight[d: 2 * d])
            lin.bias[: 2 * d].zero_()
            if self.has_value:
                lin.weight[2 * d: 3 * d].copy_(torch.eye(d))
                lin.bias[2 * d: 3 * d].zero_()

    def _qkv_split(self) -> list[int]:
        d = self.d_model
        return [d, d, d] if self.has_value else [d, d]

    def _attend(self, h: Tensor, parts: tuple[Tensor, ...], mask: Tensor | None, explicit: bool) -> Tensor:
        q, k = self.heads(parts[0]), self.heads(parts[1])
        v = self.heads(parts[2] if self.has_value else h)  # identity values: V = N(X)
        return self.merge(self.shaped(q, k, v, mask, explicit=explicit))  # identity projection


class SASBlock(_Simplified):
    """SAS: X̂ = SA(N(X)), X_out = X̂ + β_FF·MLP(N(X̂)) — He & Hofmann 2024, §4.2, Fig. 9."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", norm: bool = True,
                 beta_ff: float = 0.1, first_layer_value: bool = True, eps: float = 1e-5) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, beta_ff=beta_ff,
                         first_layer_value=first_layer_value, eps=eps)
        self.norm1, self.norm2 = _norm(d_model, norm, eps), _norm(d_model, norm, eps)
        self.in_proj = nn.Linear(d_model, sum(self._qkv_split()))
        self.fc1, self.fc2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self._init_in(self.in_proj)

    def forward(self, x: Tensor, mask: Tensor | None = None, *, explicit: bool = False) -> Tensor:
        """x (B, T, d), optional bool mask broadcastable to (B, H, T, T) → (B, T, d)."""
        self._check(x, mask)
        h = self.norm1(x)
        a = self._attend(h, self.in_proj(h).split(self._qkv_split(), dim=-1), mask, explicit)
        return a + self.beta_ff * self.drop(self.fc2(self.drop(self.act(self.fc1(self.norm2(a))))))

    def attention_matrices(self, x: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        """The explicit αI, βS, γC and A (B, H, T, T) of this block for input x."""
        parts = self.in_proj(self.norm1(x)).split(self._qkv_split(), dim=-1)
        return self.shaped.matrices(self.heads(parts[0]), self.heads(parts[1]), mask)


class SASPBlock(_Simplified):
    """SAS-P: X_out = α_SA·SA(N(X)) + β_FF·MLP(N(X)), one fused input matmul d → 2d (+d) + d_ff — §4.3, Fig. 10."""

    alpha_sa = 1.0

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", norm: bool = True,
                 beta_ff: float = 0.1, first_layer_value: bool = True, eps: float = 1e-5) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, norm=norm, beta_ff=beta_ff,
                         first_layer_value=first_layer_value, eps=eps)
        self.norm = _norm(d_model, norm, eps)
        self.fused_in = nn.Linear(d_model, sum(self._qkv_split()) + d_ff)  # [W^Q; W^K; (W^V); W_1]
        self.fc2 = nn.Linear(d_ff, d_model)
        with torch.no_grad():
            bound = d_model ** -0.5
            self.fused_in.weight[sum(self._qkv_split()):].uniform_(-bound, bound)
        self._init_in(self.fused_in)

    def forward(self, x: Tensor, mask: Tensor | None = None, *, explicit: bool = False) -> Tensor:
        """x (B, T, d), optional bool mask broadcastable to (B, H, T, T) → (B, T, d)."""
        self._check(x, mask)
        h = self.norm(x)
        *parts, u = self.fused_in(h).split([*self._qkv_split(), self.d_ff], dim=-1)
        a = self._attend(h, tuple(parts), mask, explicit)
        return self.alpha_sa * a + self.beta_ff * self.drop(self.fc2(self.drop(self.act(u))))

    def attention_matrices(self, x: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        """The explicit αI, βS, γC and A (B, H, T, T) of this block for input x."""
        d = self.d_model
        qk = self.norm(x) @ self.fused_in.weight[: 2 * d].T + self.fused_in.bias[: 2 * d]
        q, k = qk.chunk(2, dim=-1)
        return self.shaped.matrices(self.heads(q), self.heads(k), mask)
