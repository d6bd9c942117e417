"""The linear-time and local attentions of chapter 10 by name, all with one call signature:
``fn(q, k, v, mask=None, *, causal=False, dropout_p=0.0, need_weights=False) -> (out, weights | None)``.

"performer" draws fresh random features at every call; a model that keeps (and redraws) its features uses
:class:`~efftx_mini.efficient.performer.Performer`, which has the same call."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .cosformer import cosformer_attention
from .linear import linear_attention
from .local import local_attention
from .performer import performer_attention

__all__ = ["LINEAR_TIME_ATTENTIONS", "AttentionFn"]

AttentionFn = Callable[..., tuple[Tensor, Tensor | None]]

#: name → attention function (chapter 10); options such as ``window=`` or ``chunk=`` pass through as keywords.
LINEAR_TIME_ATTENTIONS: dict[str, AttentionFn] = {
    "linear": linear_attention,
    "cosformer": cosformer_attention,
    "local": local_attention,
    "performer": performer_attention,
}
