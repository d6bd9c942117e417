"""Outlier feature dimensions in the inputs of a model's linear layers (Dettmers et al. 2022, §4.1).

The paper calls a hidden-state dimension an *outlier feature* when its magnitude reaches 6.0, in at least 25% of
the transformer's layers, and in at least 6% of the sequence positions. :func:`input_stats` records, for every
quantizable linear layer, the largest |x| of each input dimension and the fraction of tokens in which it reaches
the threshold; :func:`outlier_features` applies the paper's criteria to the layers it names. The paper tracks the
inputs of the attention projections (query/key/value and output) and of the first feed-forward layer, and ignores
the second feed-forward layer (§4.1); the quant experiment does the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .model import SKIP, capture_inputs, quantizable_linears

__all__ = ["input_stats", "outlier_features"]


def input_stats(model: nn.Module, calibrate: Callable[[nn.Module], None], threshold: float = 6.0,
                skip: tuple[str, ...] = SKIP) -> dict[str, dict[str, Tensor]]:
    """Per linear layer: ``absmax`` (K,) the largest |x| per input dimension, ``frac`` (K,) the fraction of tokens
    with |x| ≥ threshold, ``absmean`` (K,) the mean |x| (AWQ's s_x)."""
    stats: dict[str, dict[str, Tensor]] = {}
    for name, lin in quantizable_linears(model, skip):
        acc = {"absmax": torch.zeros(lin.in_features, dtype=torch.float64),
               "hits": torch.zeros(lin.in_features, dtype=torch.float64),
               "abssum": torch.zeros(lin.in_features, dtype=torch.float64), "n": torch.zeros((), dtype=torch.float64)}

        def sink(x: Tensor, acc: dict[str, Tensor] = acc) -> None:
            a = x.reshape(-1, x.shape[-1]).abs().double().cpu()
            acc["absmax"] = torch.maximum(acc["absmax"], a.amax(0))
            acc["hits"] += (a >= threshold).sum(0)
            acc["abssum"] += a.sum(0)
            acc["n"] += a.shape[0]

        capture_inputs(model, lin, calibrate, sink)
        n = float(acc["n"])
        stats[name] = {"absmax": acc["absmax"].float(), "frac": (acc["hits"] / max(n, 1.0)).float(),
                       "absmean": (acc["abssum"] / max(n, 1.0)).float()}
    return stats


def outlier_features(stats: dict[str, dict[str, Tensor]], layers: list[str], min_layer_frac: float = 0.25,
                     min_token_frac: float = 0.06) -> list[int]:
    """Hidden dimensions that reach the threshold in ≥ ``min_layer_frac`` of ``layers`` and, in each of those
    layers, in ≥ ``min_token_frac`` of the tokens (Dettmers et al. 2022, §4.1: 6.0, 25%, 6%)."""
    if not layers:
        raise ValueError("layers must name at least one layer of stats")
    K = stats[layers[0]]["frac"].numel()
    hit = torch.stack([stats[n]["frac"] >= min_token_frac for n in layers]).float()  # (layers, K)
    dims = (hit.mean(0) >= min_layer_frac).nonzero().flatten()
    assert all(stats[n]["frac"].numel() == K for n in layers)
    return [int(d) for d in dims]
