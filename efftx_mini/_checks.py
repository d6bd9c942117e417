"""Input checks shared by the modules: every error names the expected and the actual shape or dtype."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def shape_str(shape: Sequence[int | str]) -> str:
    items = [str(s) for s in shape]
    return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def check_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_float(x: object, name: str) -> torch.Tensor:
    x = check_tensor(x, name)
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def check_rank(x: torch.Tensor, name: str, rank: int, expected: str) -> None:
    if x.dim() != rank:
        raise ValueError(
            f"{name} must have shape {expected} ({rank} dims), got {shape_str(x.shape)} "
            f"({x.dim()} dims)"
        )


def check_tokens(tokens: object, name: str = "tokens") -> torch.Tensor:
    """Token ids: an integer tensor of shape (B, T) with T > 0."""
    tokens = check_tensor(tokens, name)
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids (torch.long), got dtype {tokens.dtype}")
    check_rank(tokens, name, 2, "(B, T)")
    if tokens.shape[1] == 0:
        raise ValueError(f"{name} must have at least one position, got shape {shape_str(tokens.shape)}")
    return tokens


def check_mask(mask: object, target: Sequence[int], target_desc: str, name: str = "mask") -> torch.Tensor:
    """A boolean mask (True = may attend) that broadcasts to ``target``."""
    mask = check_tensor(mask, name)
    if mask.dtype != torch.bool:
        raise TypeError(
            f"{name} must be a bool tensor (True = may attend), got dtype {mask.dtype}; "
            "use mask.bool() or efftx_mini.masks to build one"
        )
    try:
        shape = torch.broadcast_shapes(mask.shape, tuple(target))
    except RuntimeError:
        shape = None
    if shape is None or tuple(shape) != tuple(target):
        raise ValueError(
            f"{name} of shape {shape_str(mask.shape)} does not broadcast to {target_desc} = "
            f"{shape_str(target)}"
        )
    return mask


def _is_fake(t: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import is_fake

    return bool(is_fake(t))


def check_token_ids(tokens: torch.Tensor, vocab: int, name: str = "tokens", vocab_name: str = "vocab") -> None:
    """Every id in ``tokens`` lies in [0, vocab): else a ValueError naming the vocabulary size and the bad id.

    Tensors without data (the meta device, or fake tensors when a step is traced for its memory) are not checked.
    """
    if tokens.is_meta or _is_fake(tokens):
        return
    bad = tokens[(tokens < 0) | (tokens >= vocab)]
    if bad.numel():
        raise ValueError(
            f"{name} holds token id {int(bad[0])} outside the vocabulary: ids must lie in [0, {vocab}) "
            f"({vocab_name}={vocab}), got min {int(tokens.min())}, max {int(tokens.max())}"
        )
