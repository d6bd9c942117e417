"""ToMe and EViT-style pruning on a trained-shape ViT: r = 0 / keep-all give the model's output, token sizes
always sum to the number of patches, the matching equals a brute-force search, the whole forward pass equals a
reference written head by head and token by token from the papers, proportional attention makes a
merged token of two identical tokens count as two, and the pruning keeps the most attended tokens."""

from __future__ import annotations

import math

import pytest
import torch

from efftx_mini.vision import (
    ViT,
    bipartite_soft_matching,
    evit_forward,
    keep_counts,
    merge_wavg,
    prune_tokens,
    tome_forward,
)
from efftx_mini.vision._token_blocks import attention_half, embed_tokens


def _vit(patch: int = 4) -> ViT:
    torch.manual_seed(0)
    return ViT(28, patch, 1, 10, 32, 3, 4, 64).double().eval()


def test_r_zero_and_keep_all_equal_the_model() -> None:
    model = _vit()
    x = torch.rand(3, 1, 28, 28, dtype=torch.double)
    ref = model(x)
    torch.testing.assert_close(tome_forward(model, x, 0)[0], ref)
    torch.testing.assert_close(evit_forward(model, x, keep_rate=1.0)[0], ref)


@pytest.mark.parametrize("r", [1, 3, 8, 30])
def test_tome_sizes_sum_to_the_number_of_patches(r: int) -> None:
    model = _vit()
    _, trace = tome_forward(model, torch.rand(2, 1, 28, 28, dtype=torch.double), r, trace=True)
    N = model.embed.n_patches
    T = N + 1
    for sizes, groups in zip(trace.sizes, trace.groups, strict=True):
        assert sizes[:, 0].eq(1).all()  # the class token is never merged
        torch.testing.assert_close(sizes[:, 1:].sum(1), torch.full((2,), float(N), dtype=torch.double))
        want = min(r, (T - 1) // 2)
        assert sizes.shape[1] == T - want
        T -= want
        counts = torch.stack([torch.bincount(g - 1, minlength=sizes.shape[1] - 1) for g in groups])
        torch.testing.assert_close(counts.double(), sizes[:, 1:])  # the groups the explorer draws match the sizes


@pytest.mark.parametrize("rate", [0.9, 0.5, 0.2])
def test_evit_sizes_sum_to_the_number_of_patches(rate: float) -> None:
    model = _vit()
    _, trace = evit_forward(model, torch.rand(2, 1, 28, 28, dtype=torch.double), keep_rate=rate, trace=True)
    N = model.embed.n_patches
    for sizes, groups in zip(trace.sizes, trace.groups, strict=True):
        torch.testing.assert_close(sizes[:, 1:].sum(1), torch.full((2,), float(N), dtype=torch.double))
        counts = torch.stack([torch.bincount(g, minlength=sizes.shape[1] - 1) for g in groups])
        torch.testing.assert_close(counts.double(), sizes[:, 1:])
    assert trace.sizes[-1].shape[1] < N + 1


def test_keep_counts_follow_the_paper_rule() -> None:
    assert keep_counts(49, 0.7, [1, 2], 3) == [None, 35, 26]  # ⌈0.7·49⌉ = 35, then ⌈0.7·36⌉ = 26
    assert keep_counts(16, 1.0, [0, 1], 2) == [None, None]
    with pytest.raises(ValueError, match="keep_rate"):
        keep_counts(16, 0.0, [1], 2)


def _brute_matching(metric: torch.Tensor, r: int) -> list[tuple[int, int]]:
    """(A index, B index) of the r best edges, by loops: A = even positions except the class token (0)."""
    T = metric.shape[0]
    m = metric / metric.norm(dim=-1, keepdim=True)
    best = []
    for a in range(2, T, 2):
        sims = [(float(m[a] @ m[b]), b) for b in range(1, T, 2)]
        s, b = max(sims, key=lambda t: (t[0], -t[1]))
        best.append((s, a, b))
    best.sort(key=lambda t: -t[0])
    return [(a, b) for _, a, b in best[:r]]


def test_bipartite_matching_and_weighted_merge_equal_brute_force() -> None:
    torch.manual_seed(1)
    T, d, r = 11, 6, 3
    metric = torch.randn(1, T, d, dtype=torch.double)
    x = torch.randn(1, T, 4, dtype=torch.double)
    size = torch.randint(1, 4, (1, T, 1)).double()
    m = bipartite_soft_matching(metric, r)
    assert m is not None
    xm, sm = merge_wavg(m, x, size)
    pairs = _brute_matching(metric[0], r)
    merged_a = {a for a, _ in pairs}
    # expected: unmerged A tokens in order, then every B token with its partners averaged in by size
    rows, sizes = [], []
    for a in range(0, T, 2):
        if a not in merged_a:
            rows.append(x[0, a])
            sizes.append(size[0, a])
    for b in range(1, T, 2):
        group = [b] + [a for a, bb in pairs if bb == b]
        w = torch.stack([size[0, i] for i in group])
        rows.append((torch.stack([x[0, i] for i in group]) * w).sum(0) / w.sum())
        sizes.append(w.sum(0))
    torch.testing.assert_close(xm[0], torch.stack(rows))
    torch.testing.assert_close(sm[0], torch.stack(sizes))


def test_proportional_attention_counts_a_merged_token_as_its_copies() -> None:
    """Two identical tokens, merged into one of size 2 with log 2 added to its logit, give every query the same
    attention output as before merging (the reason for proportional attention, §3)."""
    torch.manual_seed(2)
    blk = _vit().blocks[0]
    x = torch.randn(1, 6, 32, dtype=torch.double)
    x[:, 4] = x[:, 2]  # token 4 duplicates token 2
    full, _, _ = attention_half(blk, x)
    keep = [0, 1, 2, 3, 5]
    log_size = torch.zeros(1, 5, dtype=torch.double)
    log_size[0, 2] = torch.log(torch.tensor(2.0))
    merged, _, _ = attention_half(blk, x[:, keep], log_size)
    torch.testing.assert_close(merged, full[:, keep])
    plain, _, _ = attention_half(blk, x[:, keep])
    assert not torch.allclose(plain, full[:, keep])  # without it, the merged token counts once


def test_pruning_keeps_the_most_attended_tokens_and_fuses_the_rest() -> None:
    x = torch.arange(1, 6, dtype=torch.double)[None, :, None].expand(1, 5, 2)  # class token + 4 patch tokens
    size = torch.ones(1, 5, dtype=torch.double)
    attn = torch.tensor([[0.1, 0.4, 0.2, 0.3]], dtype=torch.double)
    out, s = prune_tokens(x, size, attn, keep=2)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([1.0, 3.0, 5.0, 0.1 * 2 + 0.2 * 4], dtype=torch.double))
    torch.testing.assert_close(s[0], torch.tensor([1.0, 1.0, 1.0, 2.0], dtype=torch.double))
    out, s = prune_tokens(x, size, attn, keep=2, fuse=False)
    assert out.shape[1] == 3 and s.sum() == 3


def test_reduction_needs_a_class_token_vit() -> None:
    model = ViT(28, 7, 1, 10, 16, 1, 2, 32, pool="mean")
    with pytest.raises(TypeError, match="class token"):
        tome_forward(model, torch.rand(1, 1, 28, 28), 1)
    with pytest.raises(ValueError, match="non-negative"):
        tome_forward(_vit(), torch.rand(1, 1, 28, 28, dtype=torch.double), -1)


def _attention_by_heads(blk, x: torch.Tensor, log_size: torch.Tensor) -> tuple[torch.Tensor, list, list]:
    """One image (T, d): x + W^P Concat_j softmax(Q_j K_jᵀ/√d_h + log s) V_j, head by head; also each head's
    attention probabilities and keys."""
    d, H, dh = blk.d_model, blk.n_heads, blk.d_head
    q, k, v = blk.qkv(blk.norm1(x)).split([d, d, d], dim=-1)
    probs, keys, outs = [], [], []
    for j in range(H):
        qj, kj, vj = (t[:, j * dh:(j + 1) * dh] for t in (q, k, v))
        a = torch.softmax(qj @ kj.T / math.sqrt(dh) + log_size[None, :], dim=-1)
        probs.append(a)
        keys.append(kj)
        outs.append(a @ vj)
    return x + blk.proj(torch.cat(outs, dim=-1)), probs, keys


def _tome_reference(model: ViT, images: torch.Tensor, r: int) -> torch.Tensor:
    """ToMe from §3, one image at a time: proportional attention, the keys averaged over heads as the metric,
    the brute-force matching, the size-weighted merge, then the MLP."""
    logits = []
    for img in images:
        x = embed_tokens(model, img[None])[0]
        size = torch.ones(x.shape[0], dtype=x.dtype)
        for blk in model.blocks:
            x, _, keys = _attention_by_heads(blk, x, size.log())
            T = x.shape[0]
            pairs = _brute_matching(torch.stack(keys).mean(0), min(r, (T - 1) // 2))
            merged_a = {a for a, _ in pairs}
            rows = [a for a in range(0, T, 2) if a not in merged_a]
            groups = [[a] for a in rows] + [[b] + [a for a, bb in pairs if bb == b] for b in range(1, T, 2)]
            x = torch.stack([(x[g] * size[g, None]).sum(0) / size[g].sum() for g in groups])
            size = torch.stack([size[g].sum() for g in groups])
            x = x + blk.mlp(blk.norm2(x))
        logits.append(model.head(model.norm(x)[0]))
    return torch.stack(logits)


def _evit_reference(model: ViT, images: torch.Tensor, keep_rate: float) -> torch.Tensor:
    """EViT from §3 and the authors' code, one image at a time: after attention in every block but the first, keep
    the ⌈rate·n⌉ patch tokens with the largest class attention (mean over heads), fuse the rest by that attention."""
    logits = []
    for img in images:
        x = embed_tokens(model, img[None])[0]
        for i, blk in enumerate(model.blocks):
            x, probs, _ = _attention_by_heads(blk, x, torch.zeros(x.shape[0], dtype=x.dtype))
            n = x.shape[0] - 1
            keep = math.ceil(keep_rate * n)
            if i > 0 and keep < n:
                cls = torch.stack([a[0, 1:] for a in probs]).mean(0)
                order = sorted(range(n), key=lambda t: -float(cls[t]))
                fused = sum(cls[t] * x[1 + t] for t in order[keep:])
                x = torch.cat([x[:1], x[[1 + t for t in order[:keep]]], fused[None]])
            x = x + blk.mlp(blk.norm2(x))
        logits.append(model.head(model.norm(x)[0]))
    return torch.stack(logits)


@pytest.mark.parametrize("r", [2, 5])
def test_tome_forward_equals_a_reference_written_from_the_paper(r: int) -> None:
    model = _vit()
    x = torch.rand(2, 1, 28, 28, dtype=torch.double)
    with torch.no_grad():
        torch.testing.assert_close(tome_forward(model, x, r)[0], _tome_reference(model, x, r))


@pytest.mark.parametrize("rate", [0.7, 0.4])
def test_evit_forward_equals_a_reference_written_from_the_paper(rate: float) -> None:
    model = _vit()
    x = torch.rand(2, 1, 28, 28, dtype=torch.double)
    with torch.no_grad():
        torch.testing.assert_close(evit_forward(model, x, keep_rate=rate)[0], _evit_reference(model, x, rate))
