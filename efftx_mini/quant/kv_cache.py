"""An int8 key/value cache for chapter 6's generation: every cached key and value vector (one position of one
head) is stored as symmetric int8 codes with its own float32 scale (absmax / 127), and dequantized when the
attention reads it. Cache memory per position and layer: 2 · n_kv_heads · (d_head + 4) bytes instead of
2 · n_kv_heads · d_head · 4 in float32.

Use it as ``generate(model, prompts, n, cache_cls=Int8KVCache)`` or ``model(tokens, cache=Int8KVCache(model, B))``.
The queries of the current step also read the *quantized* keys and values of their own positions, so a prefill
through this cache gives the logits a quantized-cache model would produce at every position.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import shape_str
from ..generate import KVCache

__all__ = ["Int8KVCache", "quantize_vectors"]


def quantize_vectors(t: Tensor) -> tuple[Tensor, Tensor]:
    """t (…, d) → int8 codes (…, d) and scales (…, 1): one absmax scale per vector, codes in −127…127."""
    amax = t.abs().amax(-1, keepdim=True).float()
    scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
    codes = torch.clamp(torch.round(t.float() / scale), -127, 127).to(torch.int8)
    return codes, scale


class _Int8LayerKV:
    """One layer's view of an :class:`Int8KVCache`, called by ``Block.sdpa`` like the float cache's layers."""

    def __init__(self, cache: Int8KVCache, index: int) -> None:
        self.cache, self.index, self.updated = cache, index, False

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cache
        s, T = c.length, k.shape[2]
        if k.shape[:2] != c.k.shape[1:3] or k.shape[-1] != c.k.shape[-1]:
            raise ValueError(f"keys of shape {shape_str(k.shape)} do not fit a cache of (B, n_kv, ·, d_h) = "
                             f"{shape_str((c.k.shape[1], c.k.shape[2], '·', c.k.shape[-1]))}")
        i = self.index
        c.k[i, :, :, s:s + T], c.k_scale[i, :, :, s:s + T] = quantize_vectors(k)
        c.v[i, :, :, s:s + T], c.v_scale[i, :, :, s:s + T] = quantize_vectors(v)
        self.updated = True
        keys = (c.k[i, :, :, :s + T].float() * c.k_scale[i, :, :, :s + T]).to(k.dtype)
        values = (c.v[i, :, :, :s + T].float() * c.v_scale[i, :, :, :s + T]).to(v.dtype)
        return keys, values, c.step_mask


class Int8KVCache(KVCache):
    """:class:`efftx_mini.generate.KVCache` with int8 keys and values: ``k``, ``v`` int8 (L, B, n_kv, max_len,
    d_head) and ``k_scale``, ``v_scale`` float32 (L, B, n_kv, max_len, 1)."""

    def __init__(self, model: torch.nn.Module, batch_size: int, max_len: int | None = None, *,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(model, batch_size, max_len, dtype=dtype)
        shape = self.k.shape
        dev = self.k.device
        self.k = torch.zeros(shape, dtype=torch.int8, device=dev)
        self.v = torch.zeros(shape, dtype=torch.int8, device=dev)
        self.k_scale = torch.ones(*shape[:-1], 1, dtype=torch.float32, device=dev)
        self.v_scale = torch.ones(*shape[:-1], 1, dtype=torch.float32, device=dev)
        self.layers = [_Int8LayerKV(self, i) for i in range(shape[0])]

    @property
    def bytes_per_token_per_layer(self) -> int:
        """2 · n_kv_heads · (d_head int8 codes + one float32 scale)."""
        return 2 * self.k.shape[2] * (self.k.shape[4] + 4)

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes + self.k_scale.nbytes + self.v_scale.nbytes
