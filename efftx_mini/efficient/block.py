"""A Pre-LN block with attention chosen by name and a chunked feed-forward (Liu & Abbeel 2023, §3; Dao 2023).

Same parameters, layout and arithmetic as :class:`efftx_mini.blocks.PreLNBlock` (so state dicts copy over), with
two switches: ``attention`` names an entry of :data:`efftx_mini.efficient.ATTENTIONS` (e.g. "blockwise": no
T×T tensor in forward or backward), and ``ffn_chunk`` runs the MLP that many positions at a time with
checkpointing (None: the plain MLP). Use it in a model with ``DecoderOnlyLM(EfficientPreLNBlock, …,
block_kwargs={"attention": "blockwise", "ffn_chunk": 256})``. Attention-weight dropout is not applied (the
registry's functions have no dropout); residual and MLP dropout are.
"""

from __future__ import annotations

from torch import Tensor

from ..blocks import PreLNBlock
from .blockwise_feedforward import blockwise_feedforward
from .registry import get_attention

__all__ = ["EfficientPreLNBlock"]


class EfficientPreLNBlock(PreLNBlock):
    """Pre-LN: X̂ = X + MHA(LN(X)), X_out = X̂ + MLP(LN(X̂)), with MHA's core and the MLP's schedule swappable."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, causal: bool, dropout: float = 0.0,
                 layer_idx: int = 0, n_layers: int = 1, activation: str = "gelu", eps: float = 1e-5,
                 attention: str = "blockwise", ffn_chunk: int | None = 256) -> None:
        super().__init__(d_model, n_heads, d_ff, causal=causal, dropout=dropout, layer_idx=layer_idx,
                         n_layers=n_layers, activation=activation, eps=eps)
        self.attention, self.attention_fn = attention, get_attention(attention)
        if ffn_chunk is not None and (isinstance(ffn_chunk, bool) or not isinstance(ffn_chunk, int) or ffn_chunk <= 0):
            raise ValueError(f"ffn_chunk must be a positive int or None, got {ffn_chunk!r}")
        self.ffn_chunk = ffn_chunk

    def sdpa(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, positions: Tensor | None = None) -> Tensor:
        """q, k, v (B, H, T, d_h) → (B, H, T, d_h) through the named attention, causal as the block (q and k
        rotated first when the block uses rotary positions). No KV cache: generation uses the standard blocks."""
        if self.kv_cache is not None:
            raise ValueError(f"{type(self).__name__} has no KV cache path; generate with a standard block")
        q, k = self.rotate(q, k, positions)
        return self.attention_fn(q, k, v, mask, causal=self.causal)

    def mlp(self, h: Tensor) -> Tensor:
        if self.ffn_chunk is None:
            return super().mlp(h)
        return blockwise_feedforward(super().mlp, h, self.ffn_chunk)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, attention={self.attention!r}, ffn_chunk={self.ffn_chunk}"
