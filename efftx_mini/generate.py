"""Generation from a decoder-only LM: greedy, temperature, top-k and top-p (nucleus, Holtzman et al. 2020, §3.1)
sampling, a key/value cache so that each new token costs one position of work, stop tokens, batched prompts.

- :func:`filter_logits` — top-k and top-p truncation of (B, V) logits (the rest → −∞)
- :func:`next_token_probs` — softmax(filter(logits / temperature)), the distribution one step samples from
- :class:`KVCache` — every layer's keys and values (L, B, n_kv_heads, max_len, d_head) for the positions seen
- :func:`generate` — prompts of different lengths are padded on the left; each row keeps its own positions
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_float, shape_str

__all__ = ["filter_logits", "next_token_probs", "KVCache", "Generation", "generate"]


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0 (use greedy=True for argmax), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                              or not 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must lie in (0, 1] or be None, got {top_p!r}")


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """logits (B, V) with everything outside the top k and outside the nucleus set to −∞.

    Top-k keeps the k largest logits (ties with the k-th are kept). Top-p keeps the smallest set of most
    probable tokens whose probability sums to at least p (Holtzman et al. 2020, Eq. (2)): a token is dropped
    when the tokens ranked above it already hold mass ≥ p. The probabilities and their running sum are taken in
    float64 and the comparison allows the sum's rounding error (V·2⁻⁵²), so a p that lies exactly on a token
    boundary (e.g. 25 of 50 equal tokens for p = 0.5) keeps exactly those tokens; tied tokens are ranked by id
    (stable sort). Top-k is applied first, then top-p."""
    check_float(logits, "logits")
    if logits.dim() != 2 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have shape (B, V) with V > 0, got {shape_str(logits.shape)}")
    _check_sampling(1.0, top_k, top_p)
    out = logits
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(out, top_k, dim=-1).values[:, -1:]  # (B, 1)
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        V = out.shape[-1]
        sorted_logits, order = torch.sort(out, dim=-1, descending=True, stable=True)
        probs = torch.softmax(sorted_logits.double(), dim=-1)  # (B, V), most probable first
        mass_above = F.pad(probs.cumsum(-1)[:, :-1], (1, 0))  # mass of the tokens ranked above each token
        drop_sorted = mass_above >= top_p - V * 2.0 ** -52  # ≥ p up to the float64 sum's rounding
        drop_sorted[:, 0] = False  # the most probable token always stays
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def next_token_probs(logits: Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float | None = None) -> Tensor:
    """The (B, V) distribution one sampling step draws from: softmax(filter(logits / temperature))."""
    _check_sampling(temperature, top_k, top_p)
    return torch.softmax(filter_logits(logits.float() / temperature, top_k, top_p), dim=-1)


class _LayerKV:
    """One layer's view of a :class:`KVCache`; :meth:`Block.sdpa` calls :meth:`update`."""

    def __init__(self, cache: KVCache, index: int) -> None:
        self.cache, self.index, self.updated = cache, index, False

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Store k, v (B, n_kv, T, d_h) at the next T positions; return the keys and values of every position
        so far (B, n_kv, S, d_h) and the bool mask (B, 1, T, S) of the keys each new query may attend to."""
        c = self.cache
        s, T = c.length, k.shape[2]
        if k.shape[:2] != c.k.shape[1:3] or k.shape[-1] != c.k.shape[-1]:
            raise ValueError(f"keys of shape {shape_str(k.shape)} do not fit a cache of (B, n_kv, ·, d_h) = "
                             f"{shape_str((c.k.shape[1], c.k.shape[2], '·', c.k.shape[-1]))}")
        c.k[self.index, :, :, s:s + T] = k
        c.v[self.index, :, :, s:s + T] = v
        self.updated = True
        return c.k[self.index, :, :, :s + T], c.v[self.index, :, :, :s + T], c.step_mask


class KVCache:
    """Keys and values of every layer for the positions seen so far: the rows of K and V that causal
    attention would recompute at every step (query i only reads keys j ≤ i, and those never change).

    Storage: ``k``, ``v`` of shape (L, B, n_kv_heads, max_len, d_head); ``valid`` (B, max_len) marks real
    (not padding) positions; ``n_valid`` (B,) counts them per row; ``length`` positions are filled."""

    def __init__(self, model: torch.nn.Module, batch_size: int, max_len: int | None = None, *,
                 dtype: torch.dtype | None = None) -> None:
        blocks = list(getattr(model, "blocks", []))
        if not blocks or not hasattr(blocks[0], "n_kv_heads"):
            raise ValueError("KVCache needs a model with .blocks of efftx_mini.blocks.Block (e.g. DecoderOnlyLM)")
        if not blocks[0].causal:
            raise ValueError("a KV cache needs causal blocks: in a bidirectional block every new token changes the "
                             f"keys and values of all earlier positions (got {type(blocks[0]).__name__}, causal=False)")
        max_len = int(model.max_len) if max_len is None else max_len
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1 or max_len < 1:
            raise ValueError(f"batch_size and max_len must be positive ints, got {batch_size!r}, {max_len!r}")
        p = next(model.parameters())
        dtype = dtype or p.dtype
        shape = (len(blocks), batch_size, blocks[0].n_kv_heads, max_len, blocks[0].d_head)
        self.k = torch.zeros(shape, device=p.device, dtype=dtype)
        self.v = torch.zeros(shape, device=p.device, dtype=dtype)
        self.valid = torch.zeros(batch_size, max_len, dtype=torch.bool, device=p.device)
        self.n_valid = torch.zeros(batch_size, dtype=torch.long, device=p.device)
        self.length, self.max_len = 0, max_len
        self.layers = [_LayerKV(self, i) for i in range(len(blocks))]
        self.step_mask = torch.ones(batch_size, 1, 1, 0, dtype=torch.bool, device=p.device)

    @property
    def bytes_per_token_per_layer(self) -> int:
        """Bytes one position adds to one layer's cache for one sequence: 2 · n_kv_heads · d_head · bytes."""
        return 2 * self.k.shape[2] * self.k.shape[4] * self.k.element_size()

    @property
    def nbytes(self) -> int:
        """Bytes held by the keys and values (all layers, rows and max_len positions)."""
        return self.k.nbytes + self.v.nbytes

    def begin(self, valid: Tensor) -> None:
        """Before a forward over T new positions: mark which are real and build their (B, 1, T, S) mask."""
        B, T = valid.shape
        s = self.length
        if B != self.k.shape[1]:
            raise ValueError(f"the cache holds {self.k.shape[1]} rows, got tokens for {B}")
        if s + T > self.max_len:
            raise ValueError(f"{T} new positions after {s} cached ones exceed the cache's max_len={self.max_len}")
        self.valid[:, s:s + T] = valid
        S = s + T
        causal = torch.arange(S, device=valid.device)[None, :] <= s + torch.arange(T, device=valid.device)[:, None]
        self.step_mask = self.valid[:, None, None, :S] & causal  # (B, 1, T, S)
        for layer in self.layers:
            layer.updated = False

    def end(self, T: int, block_name: str = "block") -> None:
        """After the forward: every layer must have stored its keys; advance the cache by T positions."""
        if not all(layer.updated for layer in self.layers):
            raise ValueError(f"{block_name} does not route attention through Block.sdpa, so it has no KV cache; "
                             "generate with use_cache=False")
        self.n_valid += self.valid[:, self.length:self.length + T].sum(1)
        self.length += T


@dataclass
class Generation:
    """What :func:`generate` returns: new tokens per prompt (ending with the stop token if one was drawn) and,
    when asked for, the model's raw next-token logits at every step (B, steps, V)."""

    tokens: list[list[int]]
    logits: Tensor | None = None


def _prompt_rows(prompts: Tensor | Sequence[Sequence[int] | Tensor], vocab: int, max_len: int,
                 new: int) -> list[list[int]]:
    if isinstance(prompts, Tensor):
        if prompts.dim() != 2 or prompts.is_floating_point():
            raise ValueError(f"prompts given as a tensor must be integer ids of shape (B, T), got {prompts.dtype} "
                             f"{shape_str(prompts.shape)}")
        rows = [[int(t) for t in r] for r in prompts]
    else:
        rows = [[int(t) for t in (r.tolist() if isinstance(r, Tensor) else r)] for r in prompts]
    if not rows:
        raise ValueError("prompts must hold at least one prompt, got none")
    for i, r in enumerate(rows):
        if not r:
            raise ValueError(f"prompt {i} is empty; every prompt needs at least one token")
        if min(r) < 0 or max(r) >= vocab:
            raise ValueError(f"prompt {i} has token ids outside [0, {vocab}): min {min(r)}, max {max(r)}")
    longest = max(len(r) for r in rows)
    if longest + new > max_len:
        raise ValueError(f"the longest prompt ({longest} tokens) plus max_new_tokens={new} exceeds the model's "
                         f"context max_len={max_len}")
    return rows


@torch.no_grad()
def generate(model: torch.nn.Module, prompts: Tensor | Sequence[Sequence[int] | Tensor], max_new_tokens: int, *,
             greedy: bool = False, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, stop_tokens: Iterable[int] = (), use_cache: bool = True,
             pad_id: int = 0, return_logits: bool = False, cache_cls: type[KVCache] | None = None) -> Generation:
    """Continue each prompt by up to ``max_new_tokens`` tokens (a row stops after drawing a stop token).

    ``greedy`` takes the argmax; otherwise a token is drawn from :func:`next_token_probs` with ``generator``
    (a seeded ``torch.Generator`` on the CPU makes it reproducible). Prompts of different lengths are padded
    on the left with ``pad_id`` (never attended to; positions count real tokens only). ``use_cache=False``
    recomputes the whole sequence at every step — the reference the cache must reproduce. ``cache_cls``: the
    cache to use (default :class:`KVCache`; e.g. ``efftx_mini.quant.Int8KVCache`` for int8 keys and values)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not greedy:
        _check_sampling(temperature, top_k, top_p)
    vocab, max_len = int(model.vocab_size), int(model.max_len)
    rows = _prompt_rows(prompts, vocab, max_len, max_new_tokens)
    stops = {int(t) for t in stop_tokens}
    dev = next(model.parameters()).device
    B, L = len(rows), max(len(r) for r in rows)
    tokens = torch.full((B, L), pad_id, dtype=torch.long)
    valid = torch.zeros(B, L, dtype=torch.bool)
    for i, r in enumerate(rows):
        tokens[i, L - len(r):] = torch.tensor(r)
        valid[i, L - len(r):] = True
    tokens, valid = tokens.to(dev), valid.to(dev)
    was_training = model.training
    model.eval()
    try:
        cache = (cache_cls or KVCache)(model, B, L + max_new_tokens) if use_cache else None
        logits = model(tokens, valid=valid, cache=cache)[:, -1]
        out: list[list[int]] = [[] for _ in rows]
        done = [False] * B
        steps: list[Tensor] = []
        for step in range(max_new_tokens):
            if return_logits:
                steps.append(logits.float().cpu())
            if greedy:
                nxt = logits.argmax(-1).cpu()
            else:
                probs = next_token_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p).cpu()
                nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            for i in range(B):
                if not done[i]:
                    out[i].append(int(nxt[i]))
                    done[i] = int(nxt[i]) in stops
            if all(done) or step == max_new_tokens - 1:
                break
            nxt = nxt[:, None].to(dev)
            if cache is not None:
                logits = model(nxt, cache=cache)[:, -1]
            else:
                tokens = torch.cat([tokens, nxt], dim=1)
                valid = torch.cat([valid, torch.ones_like(nxt, dtype=torch.bool)], dim=1)
                logits = model(tokens, valid=valid)[:, -1]
    finally:
        model.train(was_training)
    return Generation(out, torch.stack(steps, dim=1) if return_logits else None)
