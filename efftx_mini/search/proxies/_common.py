"""What the proxies share: the batch check, a private copy of the model, the weighted layers, the loss."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ..._checks import shape_str

__all__ = ["Batch", "check_batch", "private_copy", "weighted_layers", "signed_abs_weights"]

#: (inputs (B, …), integer class labels (B,)) — one minibatch of training data
Batch = tuple[Tensor, Tensor]


def check_batch(batch: object) -> Batch:
    """A (inputs, labels) pair with one label per input row."""
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        raise ValueError(f"batch must be a pair (inputs, labels), got {type(batch).__name__}")
    x, y = batch
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise ValueError(f"batch inputs must be a float tensor (B, …), got {getattr(x, 'dtype', type(x))} "
                         f"of shape {shape_str(getattr(x, 'shape', ()))}")
    if not isinstance(y, Tensor) or y.dtype != torch.long or y.shape != x.shape[:1]:
        raise ValueError(f"batch labels must be int64 of shape ({x.shape[0]},), got "
                         f"{getattr(y, 'dtype', type(y))} of shape {shape_str(getattr(y, 'shape', ()))}")
    return x, y


def private_copy(model: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """A deep copy in training mode (so a proxy never changes the caller's model), optionally cast."""
    net = copy.deepcopy(model)
    if dtype is not None:
        net = net.to(dtype)
    net.train()
    net.zero_grad(set_to_none=True)
    return net


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers zero-cost-nas scores: every nn.Linear and nn.Conv2d (``get_layer_metric_array``)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]


@torch.no_grad()
def signed_abs_weights(model: nn.Module) -> None:
    """Replace every entry of the state dict by its absolute value (synflow's and DSS's ``linearize``)."""
    for t in model.state_dict().values():
        if t.is_floating_point():
            t.abs_()
