"""Chapter 12's backbones against brute-force forms: Swin's windows, relative position index, shifted-window mask
and patch merging; MobileViT's unfold/fold and what its attention mixes; EfficientViT's cascaded group attention
written from the paper's equations; pale-shaped attention against masked full attention; BatchNorm folding; the
closed-form FLOPs of every backbone against torch.utils.flop_counter."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from efftx_mini.vision import (
    CascadedGroupAttention,
    EfficientViT,
    EfficientViTBlock,
    LocalWindowAttention,
    MobileViT,
    MobileViTBlock,
    PaleAttention,
    PatchMerging,
    Swin,
    SwinBlock,
    WindowAttention,
    count_flops,
    fold_patches,
    fuse_batchnorm,
    pale_mask,
    relative_position_index,
    shifted_window_mask,
    swin_attention_maps,
    unfold_patches,
    window_partition,
    window_reverse,
)
from efftx_mini.vision.efficientvit import offset_index
from efftx_mini.vision.swin import region_labels


# ---------------------------------------------------------------------------------------------------- Swin
def test_window_partition_reverse_roundtrip_and_order() -> None:
    x = torch.arange(2 * 8 * 8 * 3, dtype=torch.float64).reshape(2, 8, 8, 3)
    w = window_partition(x, 4)
    assert w.shape == (2 * 4, 16, 3)
    torch.testing.assert_close(w[1, 0], x[0, 0, 4])  # image 0, window (0, 1), its first token = pixel (0, 4)
    torch.testing.assert_close(w[2, 5], x[0, 5, 1])  # window (1, 0), token (1, 1) = pixel (5, 1)
    torch.testing.assert_close(window_reverse(w, 4, 8, 8), x)
    with pytest.raises(ValueError, match="not divisible"):
        window_partition(x, 3)


@pytest.mark.parametrize("M", [1, 2, 3, 4, 7])
def test_relative_position_index_equals_a_double_loop(M: int) -> None:
    pos = [(i, j) for i in range(M) for j in range(M)]
    ref = torch.tensor([[(a[0] - b[0] + M - 1) * (2 * M - 1) + (a[1] - b[1] + M - 1) for b in pos] for a in pos])
    idx = relative_position_index(M)
    assert torch.equal(idx, ref)
    assert idx.min() == 0 and idx.max() == (2 * M - 1) ** 2 - 1 and len(idx.unique()) == (2 * M - 1) ** 2


def _window_attention_global(attn: WindowAttention, x: torch.Tensor) -> torch.Tensor:
    """Global attention over all H·W tokens with the bias table read pair by pair (Δy, Δx) — no windows."""
    B, N, C = x.shape
    M, h = attn.window, attn.n_heads
    q, k, v = attn.qkv(x).reshape(B, N, 3, h, C // h).permute(2, 0, 3, 1, 4)
    bias = torch.zeros(h, N, N, dtype=x.dtype)
    for i in range(N):
        for j in range(N):
            dy, dx = i // M - j // M, i % M - j % M
            bias[:, i, j] = attn.table[(dy + M - 1) * (2 * M - 1) + dx + M - 1]
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(C // h) + bias, dim=-1)
    return attn.proj((a @ v).transpose(1, 2).reshape(B, N, C))


def test_a_window_covering_the_image_is_global_attention_with_the_same_bias() -> None:
    torch.manual_seed(0)
    blk = SwinBlock(16, (5, 5), 2, window=7).double()  # window ≥ grid: one window, no shift
    assert blk.window == 5 and blk.shift == 0
    with torch.no_grad():
        blk.attn.table.normal_()
    x = torch.randn(3, 25, 16, dtype=torch.double, requires_grad=True)
    h = blk.norm1(x)
    ref = _window_attention_global(blk.attn, h)
    out = blk.mixed(x)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    ga = torch.autograd.grad((out * g).sum(), (x, blk.attn.table))
    gb = torch.autograd.grad((ref * g).sum(), (x, blk.attn.table))
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("H,W,M,s", [(8, 8, 4, 2), (14, 14, 7, 3), (12, 8, 4, 1), (6, 6, 3, 1)])
def test_shifted_window_mask_equals_brute_force_from_region_labels(H: int, W: int, M: int, s: int) -> None:
    # region of each position of the shifted map by a loop: which slice (0, −M), (−M, −s), (−s, None) it lies in
    def band(i: int, n: int) -> int:
        return 0 if i < n - M else (1 if i < n - s else 2)
    labels = torch.tensor([[band(y, H) * 3 + band(x, W) for x in range(W)] for y in range(H)])
    assert torch.equal(region_labels(H, W, M, s), labels)
    mask = shifted_window_mask(H, W, M, s)
    nwx = W // M
    for w in range(mask.shape[0]):
        wy, wx = divmod(w, nwx)
        for i in range(M * M):
            for j in range(M * M):
                yi, xi = wy * M + i // M, wx * M + i % M
                yj, xj = wy * M + j // M, wx * M + j % M
                same = labels[yi, xi] == labels[yj, xj]
                # the same, said with the original positions: no wrap-around between the two tokens
                oy_i, ox_i, oy_j, ox_j = (yi + s) % H, (xi + s) % W, (yj + s) % H, (xj + s) % W
                neighbours = abs(oy_i - oy_j) < M and abs(ox_i - ox_j) < M
                assert bool(mask[w, i, j]) == bool(same) == neighbours


def test_shifted_block_equals_brute_force_masked_attention_on_the_rolled_map() -> None:
    torch.manual_seed(1)
    H = W = 8
    blk = SwinBlock(8, (H, W), 2, window=4, shift=2).double()
    x = torch.randn(2, H * W, 8, dtype=torch.double)
    out = blk.mixed(x)
    # brute force: every token attends to the tokens of its shifted window that are its original neighbours,
    # with the bias of their relative position in the shifted map
    h = blk.norm1(x)
    q, k, v = blk.attn.qkv(h).reshape(2, H * W, 3, 2, 4).permute(2, 0, 3, 1, 4)
    sh = [((p // W - 2) % H, (p % W - 2) % W) for p in range(H * W)]  # position of token p in the shifted map
    scores = q @ k.transpose(-1, -2) / 2.0
    bias = torch.full((2, H * W, H * W), float("-inf"), dtype=torch.double)
    for i in range(H * W):
        for j in range(H * W):
            (yi, xi), (yj, xj) = sh[i], sh[j]
            same_window = yi // 4 == yj // 4 and xi // 4 == xj // 4
            near = abs(i // W - j // W) < 4 and abs(i % W - j % W) < 4
            if same_window and near:
                bias[:, i, j] = blk.attn.table[(yi - yj + 3) * 7 + xi - xj + 3]
    ref = blk.attn.proj((torch.softmax(scores + bias, -1) @ v).transpose(1, 2).reshape(2, H * W, 8))
    torch.testing.assert_close(out, ref)


def test_attention_grid_matches_the_window_structure() -> None:
    torch.manual_seed(2)
    model = Swin(28, 4, 1, 10, (8, 16), (2, 2), (2, 2), window=4, pad=2).eval()
    maps = swin_attention_maps(model, torch.rand(2, 1, 28, 28))
    assert [m.shape for m in maps] == [(2, 64, 64)] * 2 + [(2, 16, 16)] * 2
    for m in maps:
        torch.testing.assert_close(m.sum(-1), torch.ones_like(m.sum(-1)))
    plain = maps[0][0] > 0  # W-MSA: query 0 sees exactly its 4×4 window
    assert set(plain[0].nonzero().flatten().tolist()) == {y * 8 + x for y in range(4) for x in range(4)}
    shifted = maps[1][0] > 0  # SW-MSA: query (3, 3) sees rows and columns 2..5 (the window shifted by 2)
    assert set(shifted[3 * 8 + 3].nonzero().flatten().tolist()) == {y * 8 + x for y in range(2, 6) for x in range(2, 6)}
    assert maps[2][0].gt(0).all()  # stage 2: the window covers the 4×4 grid


def test_patch_merging_equals_a_gather() -> None:
    torch.manual_seed(3)
    m = PatchMerging((4, 6), 5).double()
    x = torch.randn(2, 24, 5, dtype=torch.double)
    grid = x.reshape(2, 4, 6, 5)
    ref = torch.stack([torch.cat([grid[:, 2 * i, 2 * j], grid[:, 2 * i + 1, 2 * j], grid[:, 2 * i, 2 * j + 1],
                                  grid[:, 2 * i + 1, 2 * j + 1]], -1) for i in range(2) for j in range(3)], 1)
    torch.testing.assert_close(m.gather(x), ref)
    torch.testing.assert_close(m(x), m.reduction(m.norm(ref)))
    with pytest.raises(ValueError, match="even grid"):
        PatchMerging((5, 4), 5)


def test_swin_blocks_alternate_and_bad_input_errors() -> None:
    model = Swin(28, 4, 1, 10, (8, 16), (2, 2), (2, 2), window=4, pad=2)
    assert [b.shift for b in model.blocks()] == [0, 2, 0, 0]  # stage 2's window covers its grid: no shift
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="28×28"):
        model(torch.rand(3, 1, 32, 32))
    with pytest.raises(ValueError, match="double"):
        Swin(dims=(8, 8))


# ---------------------------------------------------------------------------------------------------- MobileViT
def test_unfold_fold_is_the_identity_and_groups_same_position_pixels() -> None:
    x = torch.randn(2, 3, 8, 6)
    seq = unfold_patches(x, 2)
    assert seq.shape == (2 * 4, 12, 3)
    torch.testing.assert_close(fold_patches(seq, 2, (8, 6)), x)
    # sequence (b=0, p=(1, 0)) holds pixel (1, 0) of every 2×2 patch: rows 1, 3, 5, 7 and columns 0, 2, 4
    torch.testing.assert_close(seq[2], x[0, :, 1::2, 0::2].reshape(3, -1).T)
    with pytest.raises(ValueError, match="divisible"):
        unfold_patches(torch.randn(1, 3, 7, 6), 2)


def test_mobilevit_attention_mixes_only_pixels_at_the_same_position_within_patches() -> None:
    torch.manual_seed(4)
    blk = MobileViTBlock(4, 8, depth=2, n_heads=2, patch=2).double().eval()
    y = torch.randn(1, 8, 6, 6, dtype=torch.double, requires_grad=True)
    out = blk.global_rep(y)
    w = torch.randn(8, dtype=torch.double)  # a plain sum of LayerNorm outputs would be constant
    for oy, ox in [(0, 0), (3, 2), (5, 5)]:
        g = torch.autograd.grad((out[0, :, oy, ox] * w).sum(), y, retain_graph=True)[0][0].abs().sum(0)
        reach = g > 0
        same = torch.zeros(6, 6, dtype=torch.bool)
        same[oy % 2::2, ox % 2::2] = True
        assert torch.equal(reach, same), (oy, ox)


def test_mobilevit_block_and_model_shapes() -> None:
    blk = MobileViTBlock(4, 8)
    assert blk(torch.randn(2, 4, 8, 8)).shape == (2, 4, 8, 8)
    with pytest.raises(ValueError, match="shape"):
        blk(torch.randn(2, 5, 8, 8))
    assert MobileViT()(torch.rand(2, 1, 28, 28)).shape == (2, 10)


# ---------------------------------------------------------------------------------------------------- EfficientViT
def _fold(seq: torch.nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1×1 ConvBN in eval mode as a matrix W (c_in, c_out) and bias: y = x W + b."""
    conv, bn = seq[0], seq[1]
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (conv.weight[:, :, 0, 0] * s[:, None]).T, bn.bias - bn.running_mean * s


def _cga_from_the_equations(cga: CascadedGroupAttention, x: torch.Tensor) -> torch.Tensor:
    """Eqs. 2–3 one image and one head at a time, with plain matrices:
    X'_j = X_j + X̃_{j−1};  X̃_j = softmax(Q_j K_jᵀ/√d_k + B_j) V_j;  out = ReLU(Concat_j X̃_j) W^P."""
    B, C, H, W = x.shape
    h, kd, dv = cga.n_heads, cga.key_dim, cga.d_v
    outs = []
    for b in range(B):
        X = x[b].reshape(C, H * W).T  # (N, C) tokens
        splits = [X[:, j * dv:(j + 1) * dv] for j in range(h)]
        heads, prev = [], None
        for j in range(h):
            Xj = splits[j] if prev is None else splits[j] + prev
            Wqkv, bqkv = _fold(cga.qkvs[j])
            Q, K, V = (Xj @ Wqkv + bqkv).split([kd, kd, dv], dim=1)
            Q = cga.dws[j](Q.T.reshape(1, kd, H, W)).reshape(kd, H * W).T  # token interaction on the queries
            table = cga.biases.detach()
            bias = torch.tensor([[float(table[j, cga.bias_index[p, q]]) for q in range(H * W)]
                                 for p in range(H * W)], dtype=x.dtype)
            prev = torch.softmax(Q @ K.T / math.sqrt(kd) + bias, dim=-1) @ V
            heads.append(prev)
        Wp, bp = _fold(cga.proj[1])
        outs.append((torch.relu(torch.cat(heads, 1)) @ Wp + bp).T.reshape(C, H, W))
    return torch.stack(outs)


def test_cascaded_group_attention_equals_a_loop_over_heads_from_the_equations() -> None:
    torch.manual_seed(5)
    cga = CascadedGroupAttention(12, 5, 3, window=4, kernel=3).double()  # key width 5 ≠ value width 4
    with torch.no_grad():  # non-trivial BatchNorm statistics and biases
        for m in cga.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_()
                m.bias.normal_()
        cga.biases.normal_()
    cga.eval()
    x = torch.randn(2, 12, 4, 4, dtype=torch.double, requires_grad=True)
    out, ref = cga(x), _cga_from_the_equations(cga, x)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    torch.testing.assert_close(torch.autograd.grad((out * g).sum(), x)[0], torch.autograd.grad((ref * g).sum(), x)[0])


def test_head_j_depends_on_earlier_splits_only() -> None:
    """The cascade: head 0 sees split 0 only, head j splits 0..j — checked through the gradient of each output."""
    torch.manual_seed(6)
    cga = CascadedGroupAttention(8, 4, 4, window=3, kernel=3).double().eval()
    captured = []
    x = torch.randn(1, 8, 3, 3, dtype=torch.double, requires_grad=True)
    orig = cga.proj

    class Capture(torch.nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            captured.append(t)
            return orig(t)

    cga.proj = Capture()
    cga(x)
    heads = captured[0].split(cga.d_v, dim=1)
    for j, hj in enumerate(heads):
        g = torch.autograd.grad(hj.sum(), x, retain_graph=True)[0][0].abs().sum((1, 2))  # per input channel
        seen = {c // cga.d_v for c in range(8) if g[c] > 0}
        assert seen == set(range(j + 1)), (j, seen)


def test_offset_index_counts_distinct_absolute_offsets() -> None:
    idx = offset_index(3)
    assert idx.shape == (9, 9) and len(idx.unique()) == 9  # |Δy|, |Δx| ∈ {0, 1, 2}
    assert idx[0, 4] == idx[4, 0] == idx[8, 4]  # (1, 1) away in every direction


def test_padded_windows_equal_attention_on_the_zero_padded_map() -> None:
    torch.manual_seed(10)
    lwa = LocalWindowAttention(8, 4, 2, resolution=6, window=4, kernel=3).double().eval()
    x = torch.randn(2, 8, 6, 6, dtype=torch.double)
    padded = F.pad(x, (0, 2, 0, 2))
    ref = torch.zeros(2, 8, 8, 8, dtype=torch.double)
    for i in range(2):
        for j in range(2):
            ref[:, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4] = lwa.attn(padded[:, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4])
    torch.testing.assert_close(lwa(x), ref[:, :, :6, :6])


def test_efficientvit_block_sandwich_and_local_windows() -> None:
    torch.manual_seed(7)
    blk = EfficientViTBlock(8, 4, 2, resolution=8, window=4).eval()
    with torch.no_grad():  # the output BatchNorm of each branch starts at zero: make the branch visible
        for m in blk.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(1.0)
    assert blk(torch.randn(2, 8, 8, 8)).shape == (2, 8, 8, 8)
    names = [n for n, _ in blk.named_children()]
    assert names == ["dw0", "ffn0", "mixer", "dw1", "ffn1"]
    # with 4×4 windows on an 8×8 map, a change in one window leaves the attention output of the others unchanged
    x = torch.randn(1, 8, 8, 8)
    y = x.clone()
    y[:, :, :4, :4] += 1.0
    a, b = blk.mixer.m(x), blk.mixer.m(y)
    torch.testing.assert_close(a[:, :, 4:, :], b[:, :, 4:, :])
    torch.testing.assert_close(a[:, :, :4, 4:], b[:, :, :4, 4:])
    assert not torch.allclose(a[:, :, :4, :4], b[:, :, :4, :4])


# ---------------------------------------------------------------------------------------------------- Pale
def test_pale_attention_equals_masked_full_attention() -> None:
    torch.manual_seed(8)
    H, W, C = 6, 4, 8
    attn = PaleAttention(C, 4, rows=2, cols=2).double()
    x = torch.randn(2, H, W, C, dtype=torch.double)
    row, col = pale_mask(H, W, 2, 2)
    q, k, v = attn.qkv(x.reshape(2, H * W, C)).chunk(3, dim=-1)

    def half(t: torch.Tensor, s: int) -> torch.Tensor:  # (B, N, C) → (B, 2 heads, N, 2) of half s
        return t[..., s * C // 2:(s + 1) * C // 2].reshape(2, H * W, 2, 2).transpose(1, 2)

    ys = [F.scaled_dot_product_attention(half(q, s), half(k, s), half(v, s), attn_mask=m).transpose(1, 2)
          .reshape(2, H * W, C // 2) for s, m in ((0, row), (1, col))]
    ref = attn.proj(torch.cat(ys, -1)).reshape(2, H, W, C)
    torch.testing.assert_close(attn(x), ref)
    # row half: position (0, 0) sees rows 0 and 3 (H / s_r = 3); column half: columns 0 and 2
    assert set(row[0].nonzero().flatten().tolist()) == {y * W + x for y in (0, 3) for x in range(W)}
    assert set(col[0].nonzero().flatten().tolist()) == {y * W + x for y in range(H) for x in (0, 2)}


# ---------------------------------------------------------------------------------------------------- FLOPs, fusing
def _backbones() -> dict[str, torch.nn.Module]:
    return {"swin": Swin(28, 4, 1, 10, (16, 32), (2, 2), (2, 4), window=4, pad=2),
            "swin-p2": Swin(28, 2, 1, 10, (8, 16), (2, 2), (2, 2), window=7),
            "mobilevit": MobileViT(), "mobilevit-2": MobileViT(channels=(8, 16, 24), dims=(16, 24), depths=(1, 2)),
            "efficientvit": EfficientViT(), "efficientvit-3": EfficientViT(dims=(16, 32), depths=(2, 1), heads=(2, 2)),
            "cifar-swin": Swin(32, 2, 3, 10, (16, 32), (2, 2), (2, 4), window=4),
            "cifar-efficientvit": EfficientViT(32, 3, 10, window=7)}  # 8×8 map, windows padded to 14×14


@pytest.mark.parametrize("name", sorted(_backbones()))
def test_closed_form_flops_equal_the_flop_counter(name: str) -> None:
    model = _backbones()[name]
    c = model.embed.in_channels if isinstance(model, Swin) else model.in_channels
    s = model.image_size
    assert model.flops() == count_flops(model, torch.rand(2, c, s, s))


@pytest.mark.parametrize("name", ["mobilevit", "efficientvit"])
def test_folding_batchnorm_keeps_the_outputs(name: str) -> None:
    torch.manual_seed(9)
    model = _backbones()[name].double()
    x = torch.rand(4, 1, 28, 28, dtype=torch.double)
    model.train()
    model(x)  # move the running statistics away from their initial values
    model.eval()
    fused = fuse_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(fused(x), model(x))
    assert model.training is False and any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
