"""What every block shares: one constructor, one ``forward(x (B, T, d), mask=None) -> (B, T, d)``.

Notation of He & Hofmann 2024 (arXiv 2311.01906), §3, Eq. (1): a block maps X_in to X_out through
an attention sub-block and an MLP sub-block; every block here works in a bidirectional encoder
(``causal=False``) and in a causal decoder (``causal=True``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .._checks import check_float, check_mask, shape_str

__all__ = ["Block", "matrix_params"]

_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


def matrix_params(module: nn.Module) -> int:
    """Entries of the weight matrices (parameters with ≥ 2 dims): the paper's accounting, biases,
    norm gains and per-head scalars excluded (He & Hofmann 2024, §4.2 and Table 1)."""
    return sum(p.numel() for p in module.parameters() if p.dim() >= 2)


class Block(nn.Module):
    """Base class: checks sizes and input, runs multi-head SDPA with the causal flag."""

    #: Whether a stack of these blocks ends with a final normalisation layer.
    final_norm: bool = True

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
        layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu",
    ) -> None:
        super().__init__()
        for name, v in (("d_model", d_model), ("n_heads", n_heads), ("d_ff", d_ff), ("n_layers", n_layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if d_model % n_heads:
            raise ValueError(f"n_heads must divide d_model, got d_model={d_model}, n_heads={n_heads}")
        if not 0 <= layer_idx < n_layers:
            raise ValueError(f"layer_idx must be in [0, n_layers={n_layers}), got {layer_idx}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.d_model, self.n_heads, self.d_head, self.d_ff = d_model, n_heads, d_model // n_heads, d_ff
        self.causal, self.dropout, self.layer_idx, self.n_layers = bool(causal), dropout, layer_idx, n_layers
        self.activation = activation
        self.act = _ACTIVATIONS[activation]

    def _check(self, x: Tensor, mask: Tensor | None) -> None:
        check_float(x, "x")
        if x.dim() != 3 or x.shape[-1] != self.d_model or x.shape[1] == 0:
            raise ValueError(f"x must have shape (B, T, {self.d_model}) with T > 0, got {shape_str(x.shape)}")
        if mask is not None:
            B, T = x.shape[:2]
            check_mask(mask, (B, self.n_heads, T, T), "(B, H, T, T)")

    def _full_mask(self, mask: Tensor | None, T: int, device: torch.device) -> Tensor | None:
        """The boolean (…, T, T) mask actually used, or None when ``is_causal``/no mask suffices."""
        if mask is None:
            return None
        if self.causal:
            mask = mask & torch.ones(T, T, dtype=torch.bool, device=device).tril()
        return mask

    def heads(self, t: Tensor) -> Tensor:
        return rearrange(t, "b t (h e) -> b h t e", h=self.n_heads)

    def merge(self, t: Tensor) -> Tensor:
        return rearrange(t, "b h t e -> b t (h e)")

    def sdpa(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """softmax(QKᵀ/√d_h + M) V per head (§3); q, k, v (B, H, T, d_h); no T×T matrix when mask is None."""
        p = self.dropout if self.training else 0.0
        full = self._full_mask(mask, q.shape[-2], q.device)
        if full is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        # rows with no key at all give zeros (never NaN)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=full, dropout_p=p)
        return out.masked_fill(~full.any(-1, keepdim=True), 0.0)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, d_ff={self.d_ff}, causal={self.causal}, "
                f"layer_idx={self.layer_idx}")
