"""Head gates: MultiHead(x) = Σ_h ξ_h Att_h(x) W^O_h with ξ_h ∈ {0, 1} (Michel et al. 2019, §2.2 Eq. 1
with the masks of §2.3).

The gates live in :class:`efftx_mini.attention.MultiHeadAttention` (buffer ``head_gates``, off by default);
these helpers switch them on for a whole model and set them by (layer name, head) pairs.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ..attention import MultiHeadAttention

__all__ = ["attention_layers", "add_head_gates", "gate_values", "set_gates"]

Head = tuple[str, int]


def attention_layers(model: nn.Module) -> dict[str, MultiHeadAttention]:
    """Every multi-head attention module of ``model`` by its name (``model`` itself is named "")."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, MultiHeadAttention)}
    if not layers:
        raise ValueError(f"{type(model).__name__} has no efftx_mini.attention.MultiHeadAttention module to gate")
    return layers


def add_head_gates(model: nn.Module) -> dict[str, MultiHeadAttention]:
    """Give every attention layer gates ξ = 1 (the model computes exactly what it did); returns the layers."""
    layers = attention_layers(model)
    for m in layers.values():
        if m.head_gates is None:
            p = next(m.parameters())
            m.register_buffer("head_gates", torch.ones(m.n_heads, device=p.device, dtype=p.dtype))
    return layers


def gate_values(model: nn.Module) -> dict[str, Tensor]:
    """The gates of every gated layer: {name: (H,)} (a view: writing to it changes the model)."""
    return {n: m.head_gates for n, m in attention_layers(model).items() if m.head_gates is not None}


@torch.no_grad()
def set_gates(model: nn.Module, off: Iterable[Head] = ()) -> None:
    """Gates 1 everywhere except 0 for the (layer name, head) pairs in ``off``; adds gates where missing."""
    layers = add_head_gates(model)
    for m in layers.values():
        m.head_gates.fill_(1.0)
    for name, h in off:
        if name not in layers:
            raise ValueError(f"no attention layer named {name!r}; layers are {sorted(layers)}")
        H = layers[name].n_heads
        if not 0 <= h < H:
            raise ValueError(f"head index for {name!r} must be in [0, {H}), got {h}")
        layers[name].head_gates[h] = 0.0
