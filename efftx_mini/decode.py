"""Greedy decoding and beam search with the GNMT length penalty (Vaswani et al. 2017, §6.1; Wu et al. 2016, §7).

Outputs are (B, T) token ids that start with ``bos``; after ``eos`` a row holds ``pad``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_tokens

__all__ = ["length_penalty", "greedy_decode", "beam_search", "beam_search_steps"]

StepFn = Callable[[Tensor, Tensor], Tensor]


def length_penalty(length: Tensor | int, alpha: float) -> Tensor:
    """lp(Y) = ((5 + |Y|) / 6)^α (Wu et al. 2016, Eq. 14); α = 0 turns it off."""
    return ((5.0 + torch.as_tensor(length, dtype=torch.float32)) / 6.0) ** alpha


@torch.no_grad()
def greedy_decode(model: nn.Module, src: Tensor, max_len: int, bos: int, eos: int) -> Tensor:
    """Arg-max at each step; delegates to :meth:`efftx_mini.transformer.Transformer.greedy_decode`."""
    return model.greedy_decode(src, max_len, bos, eos)


@torch.no_grad()
def beam_search_steps(
    step: StepFn, batch_size: int, beam_size: int, max_len: int, bos: int, eos: int, pad: int,
    alpha: float = 0.6, device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor]:
    """Beam search over any next-token model.

    ``step(ys, rows)`` gets prefixes ys (N, t) and the batch row of each prefix (N,), and returns
    next-token log-probabilities (N, V). Hypotheses are ranked by log P(Y) / lp(Y) where |Y| counts the
    generated tokens including <eos>. Returns the best sequences (B, ≤ max_len) and their scores (B,).
    """
    if beam_size < 1 or max_len < 2:
        raise ValueError(f"need beam_size ≥ 1 and max_len ≥ 2, got beam_size={beam_size}, max_len={max_len}")
    B, K = batch_size, beam_size
    rows = torch.arange(B, device=device).repeat_interleave(K)  # (B·K,)
    ys = torch.full((B * K, 1), bos, dtype=torch.long, device=device)
    logp_sum = torch.zeros(B, K, device=device)
    logp_sum[:, 1:] = float("-inf")  # at the start only one beam is alive
    lengths = torch.zeros(B, K, device=device)
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)
    for t in range(1, max_len):
        logp = step(ys, rows).float()  # (B·K, V)
        V = logp.shape[-1]
        logp = logp.view(B, K, V)
        # a finished beam continues with <pad> at no cost and keeps its length
        frozen = torch.full_like(logp, float("-inf"))
        frozen[..., pad] = 0.0
        logp = torch.where(finished[..., None], frozen, logp)
        cand = logp_sum[..., None] + logp  # (B, K, V)
        new_len = torch.where(finished, lengths, torch.full_like(lengths, float(t)))
        score = cand / length_penalty(new_len, alpha).to(cand.device)[..., None]
        top = score.view(B, K * V).topk(K, dim=-1).indices  # (B, K)
        beam, tok = top // V, top % V
        logp_sum = cand.view(B, K * V).gather(1, top)
        lengths = new_len.gather(1, beam)
        was_finished = finished.gather(1, beam)
        finished = was_finished | (tok == eos)
        src_rows = (beam + torch.arange(B, device=device)[:, None] * K).view(-1)
        ys = torch.cat([ys[src_rows], tok.view(-1, 1)], dim=1)
        if bool(finished.all()):
            break
    final = logp_sum / length_penalty(lengths, alpha).to(logp_sum.device)
    best = final.argmax(dim=-1)  # (B,)
    out = ys.view(B, K, -1)[torch.arange(B, device=device), best]
    return out, final.gather(1, best[:, None]).squeeze(1)


@torch.no_grad()
def beam_search(
    model: nn.Module, src: Tensor, beam_size: int, max_len: int, bos: int, eos: int,
    alpha: float = 0.6, src_mask: Tensor | None = None,
) -> Tensor:
    """Beam search for a :class:`~efftx_mini.transformer.Transformer`: src (B, S) → ids (B, ≤ max_len).

    The paper uses beam size 4 and α = 0.6 (§6.1). The encoder runs once; each step re-decodes the prefixes.
    """
    check_tokens(src, "src")
    pad = model.pad_id if getattr(model, "pad_id", None) is not None else eos
    if src_mask is None:
        src_mask = model.src_mask(src)
    memory = model.encode(src, src_mask)  # (B, S, d)
    # beams never move between batch rows, so each prefix row keeps its memory row: repeat once
    memory_k = memory.repeat_interleave(beam_size, dim=0)  # (B·K, S, d)
    mask_k = None if src_mask is None else src_mask.repeat_interleave(beam_size, dim=0)

    def step(ys: Tensor, rows: Tensor) -> Tensor:
        h = model.decode(ys, memory_k, mask_k)[:, -1]
        return F.log_softmax(model.generator(h).float(), dim=-1)

    return beam_search_steps(step, src.shape[0], beam_size, max_len, bos, eos, pad, alpha, src.device)[0]
