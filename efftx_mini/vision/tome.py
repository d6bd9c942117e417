"""Token merging (ToMe; Bolya et al. 2023, "Token Merging: Your ViT but Faster", §3): in every block, between
attention and MLP, merge r tokens by *bipartite soft matching* — split the tokens alternately into sets A and B,
join each token of A to its most similar token of B (cosine similarity of the keys, averaged over heads), keep
the r most similar edges and average each merged group weighted by its *size* (the number of patches it stands
for). *Proportional attention* adds log s to every key's logit, softmax(QKᵀ/√d + log s), so a token that stands
for s patches is attended to as if it were s copies (§3, "Tracking Token Size").

Applied to a trained :class:`~efftx_mini.vision.ViT` of Pre-LN blocks without retraining: :func:`tome_forward`
runs the model's own weights with merging; r = 0 gives the model's output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._checks import shape_str
from ._token_blocks import attention_half, check_reducible, classify, embed_tokens, finish_block
from .vit import ViT

__all__ = ["Matching", "bipartite_soft_matching", "merge_wavg", "r_schedule", "TokenTrace", "tome_forward"]


@dataclass(frozen=True)
class Matching:
    """Which tokens merge: A = even positions, B = odd ones; ``unm_idx`` (B, |A|−r, 1) the unmerged A tokens (in
    order), ``src_idx`` (B, r, 1) the merged A tokens, ``dst_idx`` (B, r, 1) their partners in B."""

    unm_idx: Tensor
    src_idx: Tensor
    dst_idx: Tensor
    r: int

    def _rows(self, idx: Tensor, T: int) -> Tensor:
        """Positions 2·idx of A tokens as rows of the (B·T, c) view: one ``index_select`` instead of a gather."""
        B = idx.shape[0]
        return (2 * idx[..., 0] + T * torch.arange(B, device=idx.device)[:, None]).reshape(-1)

    def merge(self, x: Tensor, mode: str = "sum") -> Tensor:
        """(B, T, c) → (B, T − r, c): [unmerged A tokens; B tokens with their merged A tokens reduced in]."""
        n, T, c = x.shape
        flat = x.reshape(n * T, c)
        unm = flat.index_select(0, self._rows(self.unm_idx, T)).view(n, -1, c)
        src = flat.index_select(0, self._rows(self.src_idx, T)).view(n, self.r, c)
        dst = x[:, 1::2].scatter_reduce(1, self.dst_idx.expand(n, self.r, c), src, reduce=mode)
        return torch.cat([unm, dst], dim=1)


def bipartite_soft_matching(metric: Tensor, r: int, class_token: bool = True) -> Matching | None:
    """§3, "Bipartite Soft Matching": metric (B, T, c) → the r most similar (A, B) pairs, or None when r = 0.

    The class token (position 0, in A) is never merged; r is capped at half of the other tokens."""
    if metric.dim() != 3:
        raise ValueError(f"metric must have shape (B, T, c), got {shape_str(metric.shape)}")
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise ValueError(f"r must be a non-negative int, got {r!r}")
    r = min(r, (metric.shape[1] - int(class_token)) // 2)
    if r == 0:
        return None
    with torch.no_grad():
        m = metric / metric.norm(dim=-1, keepdim=True)
        scores = m[:, ::2] @ m[:, 1::2].transpose(-1, -2)  # (B, |A|, |B|) cosine similarities
        if class_token:
            scores[:, 0, :] = -math.inf
        node_max, node_idx = scores.max(dim=-1)  # each A token's best B partner
        edge_idx = node_max.argsort(dim=-1, descending=True)[..., None]
        unm_idx = edge_idx[:, r:].sort(dim=1).values  # unmerged A tokens in order (the class token first)
        src_idx = edge_idx[:, :r]
        dst_idx = node_idx[..., None].gather(1, src_idx)
    return Matching(unm_idx, src_idx, dst_idx, r)


def merge_wavg(matching: Matching, x: Tensor, size: Tensor) -> tuple[Tensor, Tensor]:
    """Size-weighted average of each merged group: x (B, T, d), size (B, T, 1) → (B, T − r, d), (B, T − r, 1).

    Σ s·x and Σ s are summed in one pass, the size riding along as one more channel."""
    both = matching.merge(torch.cat([x * size, size], dim=-1), mode="sum")
    size = both[..., -1:]
    return both[..., :-1] / size, size


def r_schedule(r: int | Sequence[int], depth: int) -> list[int]:
    """Tokens to merge in each of ``depth`` blocks: a constant r, or one entry per block."""
    if isinstance(r, int) and not isinstance(r, bool):
        if r < 0:
            raise ValueError(f"r must be non-negative, got {r}")
        return [r] * depth
    rs = list(r)
    if len(rs) != depth or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in rs):
        raise ValueError(f"r must be an int or {depth} non-negative ints (one per block), got {r!r}")
    return rs


@dataclass
class TokenTrace:
    """Per block, the token sizes (B, T_l) after reduction and, with ``trace``, the token each patch belongs to
    (B, N) — the groups the chapter draws."""

    sizes: list[Tensor] = field(default_factory=list)
    groups: list[Tensor] = field(default_factory=list)


def tome_forward(model: ViT, images: Tensor, r: int | Sequence[int], prop_attn: bool = True,
                 trace: bool = False) -> tuple[Tensor, TokenTrace]:
    """Logits (B, K) of ``model`` with ToMe (r tokens merged per block) and the sizes (and groups) of every block."""
    check_reducible(model)
    rs = r_schedule(r, model.depth)
    x = embed_tokens(model, images)
    B, T = x.shape[:2]
    size = torch.ones(B, T, 1, dtype=x.dtype, device=x.device)
    source = torch.eye(T, dtype=x.dtype, device=x.device)[None].expand(B, T, T) if trace else None
    merged, out = False, TokenTrace()
    for blk, rr in zip(model.blocks, rs, strict=True):
        log_size = size[..., 0].log() if prop_attn and merged else None  # all sizes are 1 before the first merge
        x, keys, _ = attention_half(blk, x, log_size)
        m = bipartite_soft_matching(keys.mean(1), rr, class_token=True) if rr else None
        if m is not None:
            x, size = merge_wavg(m, x, size)
            merged = True
            if source is not None:
                source = m.merge(source, mode="amax")
        x = finish_block(blk, x)
        out.sizes.append(size[..., 0])
        if source is not None:
            out.groups.append(source[:, :, 1:].argmax(1))  # (B, N): the token each patch belongs to
    return classify(model, x), out
