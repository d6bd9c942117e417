"""Seeded toy tasks for chapters 2–3: key–value lookup (Graves et al. 2014) and order-sensitive tasks.

Every generator returns ``(tokens, targets)`` as ``torch.long`` tensors, is deterministic given
``seed``, and never downloads anything. Tagging targets use :data:`IGNORE` (−100, the default
``ignore_index`` of ``torch.nn.functional.cross_entropy``) where a position has no answer.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "IGNORE",
    "kv_vocab_size",
    "pair_id",
    "query_id",
    "kv_lookup",
    "previous_token",
    "reverse",
    "sort_tokens",
    "which_first",
]

IGNORE = -100


def _gen(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


def _check_pos(**sizes: int) -> None:
    for name, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"{name} must be an int, got {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"{name} must be positive, got {n}")


# -- key–value lookup ----------------------------------------------------------------------------
def kv_vocab_size(n_keys: int, n_values: int) -> int:
    """Pair tokens (k, v) take ids 0 … n_keys·n_values − 1; query tokens take the next n_keys ids."""
    return n_keys * n_values + n_keys


def pair_id(k: Tensor | int, v: Tensor | int, n_values: int) -> Tensor | int:
    """Token id of the stored pair (key k, value v)."""
    return k * n_values + v


def query_id(k: Tensor | int, n_keys: int, n_values: int) -> Tensor | int:
    """Token id of the question "what is stored under key k?"."""
    return n_keys * n_values + k


def kv_lookup(
    n: int, n_pairs: int = 4, n_keys: int = 8, n_values: int = 8, *, seed: int | None = 0
) -> tuple[Tensor, Tensor]:
    """A tiny dictionary and one question about it.

    tokens (n, n_pairs + 1): n_pairs pair tokens with distinct keys, then one query token whose key
    is one of them. targets (n,): the value stored under the queried key, in [0, n_values).
    """
    _check_pos(n=n, n_pairs=n_pairs, n_keys=n_keys, n_values=n_values)
    if n_pairs > n_keys:
        raise ValueError(f"n_pairs must be <= n_keys (keys are distinct), got n_pairs={n_pairs}, n_keys={n_keys}")
    g = _gen(seed)
    keys = torch.rand(n, n_keys, generator=g).argsort(dim=1)[:, :n_pairs]  # (n, P) distinct keys
    values = torch.randint(0, n_values, (n, n_pairs), generator=g)  # (n, P)
    which = torch.randint(0, n_pairs, (n,), generator=g)  # (n,) which pair is asked about
    rows = torch.arange(n)
    q = query_id(keys[rows, which], n_keys, n_values)
    tokens = torch.cat([pair_id(keys, values, n_values), q[:, None]], dim=1)
    return tokens, values[rows, which]


# -- order-sensitive tasks -----------------------------------------------------------------------
def previous_token(
    n: int, length: int = 8, vocab: int = 16, *, offset: int = 1, seed: int | None = 0
) -> tuple[Tensor, Tensor]:
    """Tagging: at each position output the token ``offset`` places earlier (IGNORE where none)."""
    _check_pos(n=n, length=length, vocab=vocab, offset=offset)
    tokens = torch.randint(0, vocab, (n, length), generator=_gen(seed))
    targets = torch.full_like(tokens, IGNORE)
    if offset < length:
        targets[:, offset:] = tokens[:, :-offset]
    return tokens, targets


def reverse(n: int, length: int = 8, vocab: int = 16, *, seed: int | None = 0) -> tuple[Tensor, Tensor]:
    """Tagging: position i outputs the token at position length − 1 − i."""
    _check_pos(n=n, length=length, vocab=vocab)
    tokens = torch.randint(0, vocab, (n, length), generator=_gen(seed))
    return tokens, tokens.flip(1)


def sort_tokens(n: int, length: int = 8, vocab: int = 16, *, seed: int | None = 0) -> tuple[Tensor, Tensor]:
    """Tagging: position i outputs the i-th smallest token of the sequence."""
    _check_pos(n=n, length=length, vocab=vocab)
    tokens = torch.randint(0, vocab, (n, length), generator=_gen(seed))
    return tokens, tokens.sort(dim=1).values


def which_first(n: int, length: int = 8, vocab: int = 16, *, seed: int | None = 0) -> tuple[Tensor, Tensor]:
    """Classification: token 0 ("A") and token 1 ("B") occur once each among filler tokens 2 … vocab − 1;
    the target is 1 if A comes before B, else 0."""
    _check_pos(n=n, length=length, vocab=vocab)
    if length < 2 or vocab < 3:
        raise ValueError(f"which_first needs length >= 2 and vocab >= 3, got length={length}, vocab={vocab}")
    g = _gen(seed)
    tokens = torch.randint(2, vocab, (n, length), generator=g)
    slots = torch.rand(n, length, generator=g).argsort(dim=1)[:, :2]  # two distinct positions
    rows = torch.arange(n)
    tokens[rows, slots[:, 0]] = 0
    tokens[rows, slots[:, 1]] = 1
    return tokens, (slots[:, 0] < slots[:, 1]).long()
