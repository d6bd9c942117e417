"""efftx_mini.vision against independent references: convolution vs per-patch matmul, torch's multi-head
attention weights, the rollout formula, closed-form FLOPs, the DeiT loss by hand."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from efftx_mini.positional import sinusoidal_encoding
from efftx_mini.vision import (
    DeiT,
    PatchEmbedding,
    PiT,
    SharedViT,
    SmallCNN,
    TokenPooling,
    ViT,
    attention_rollout,
    block_attention,
    block_parameters,
    count_flops,
    hard_distillation_loss,
    parameters,
    patchify,
    random_shift,
    rollout_maps,
    sincos_2d,
    train_classifier,
    unpatchify,
    vit_attentions,
    vit_flops,
)


def _per_patch_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, P: int) -> torch.Tensor:
    """Eq. 1 by hand: loop over patches, flatten each, multiply by the flattened kernel."""
    B, C, H, W = x.shape
    out = []
    for i in range(H // P):
        for j in range(W // P):
            patch = x[:, :, i * P:(i + 1) * P, j * P:(j + 1) * P].reshape(B, -1)  # (c, p1, p2) order
            out.append(patch @ weight.reshape(weight.shape[0], -1).T + bias)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("C,P,size", [(1, 7, 28), (3, 4, 16)])
def test_patch_embedding_conv_equals_reshape_linear_values_and_grads(C: int, P: int, size: int) -> None:
    torch.manual_seed(0)
    emb = PatchEmbedding(size, P, C, 24).double()
    x = torch.randn(2, C, size, size, dtype=torch.double, requires_grad=True)
    ref = _per_patch_reference(x, emb.proj.weight, emb.proj.bias, P)
    conv, lin = emb(x), emb.forward_linear(x)
    assert conv.shape == (2, (size // P) ** 2, 24)
    torch.testing.assert_close(conv, ref)
    torch.testing.assert_close(lin, ref)
    g = torch.randn_like(ref)
    grads = [torch.autograd.grad((y * g).sum(), (x, emb.proj.weight, emb.proj.bias)) for y in (conv, lin, ref)]
    for a, b in zip(grads[0], grads[2], strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(grads[1], grads[2], strict=True):
        torch.testing.assert_close(a, b)


def test_patchify_roundtrip_and_order() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    p = patchify(x, 4)
    assert p.shape == (2, 4, 48)
    torch.testing.assert_close(p[0, 1, :3], x[0, :, 0, 4])  # patch (0, 1), pixel (0, 0), all channels
    torch.testing.assert_close(unpatchify(p, 4, (2, 2), channels=3), x)


def test_bad_images_get_clear_errors() -> None:
    emb = PatchEmbedding(28, 7, 1, 16)
    with pytest.raises(ValueError, match="channel dimension"):
        emb(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="1 channel"):
        emb(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match="28×28"):
        emb(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="not divisible by the patch size 5"):
        PatchEmbedding(28, 5, 1, 16)
    with pytest.raises(ValueError, match="not divisible by the patch size 3"):
        patchify(torch.zeros(1, 1, 28, 28), 3)
    with pytest.raises(TypeError, match="floating-point"):
        emb(torch.zeros(2, 1, 28, 28, dtype=torch.long))
    with pytest.raises(ValueError, match="pool must be one of"):
        ViT(pool="max")
    with pytest.raises(ValueError, match="positions must be one of"):
        ViT(positions="rotary")
    with pytest.raises(ValueError, match="pool must be 'cls'"):
        DeiT(pool="mean")


def test_sincos_2d_rows_and_columns() -> None:
    table = sincos_2d((3, 5), 8).reshape(3, 5, 8)
    torch.testing.assert_close(table[:, 2, :4], sinusoidal_encoding(3, 4))  # row half depends on the row only
    torch.testing.assert_close(table[1, :, 4:], sinusoidal_encoding(5, 4))  # column half on the column only
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d((2, 2), 6)


def test_vit_first_tokens_are_eq1() -> None:
    torch.manual_seed(0)
    model = ViT(28, 7, 1, 10, 32, 2, 4, 64)
    x = torch.randn(3, 1, 28, 28)
    seen = {}
    model.blocks[0].register_forward_pre_hook(lambda m, a: seen.__setitem__("z0", a[0]))
    assert model(x).shape == (3, 10)
    z0 = torch.cat([model.extra_tokens.expand(3, -1, -1), _per_patch_reference(
        x, model.embed.proj.weight, model.embed.proj.bias, 7)], dim=1) + model.positions.table
    torch.testing.assert_close(seen["z0"], z0)
    assert ViT(28, 7, 1, 10, 32, 2, 4, 64, pool="mean", positions="sincos")(x).shape == (3, 10)
    assert ViT(28, 7, 1, 10, 32, 2, 4, 64, block="sas-p")(x).shape == (3, 10)


def test_block_attention_matches_torch_multihead_attention() -> None:
    torch.manual_seed(0)
    model = ViT(28, 7, 1, 10, 32, 2, 4, 64)
    blk = model.blocks[0]
    mha = torch.nn.MultiheadAttention(32, 4, batch_first=True)
    mha.in_proj_weight.data.copy_(blk.qkv.weight)
    mha.in_proj_bias.data.copy_(blk.qkv.bias)
    x = torch.randn(2, 17, 32)
    h = blk.norm1(x)
    _, ref = mha(h, h, h, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(block_attention(blk, x), ref)


def test_rollout_against_the_formula() -> None:
    torch.manual_seed(0)
    atts = [torch.rand(2, 3, 5, 5).softmax(-1) for _ in range(3)]
    out = attention_rollout(atts)
    for b in range(2):
        ref = torch.eye(5)
        for a in atts:
            a_t = 0.5 * a[b].mean(0) + 0.5 * torch.eye(5)
            ref = (a_t / a_t.sum(-1, keepdim=True)) @ ref
        torch.testing.assert_close(out[b], ref)
    torch.testing.assert_close(out.sum(-1), torch.ones(2, 5))
    torch.testing.assert_close(attention_rollout(atts, residual=1.0), torch.eye(5).expand(2, 5, 5))
    with pytest.raises(ValueError, match="like attentions"):
        attention_rollout([atts[0], atts[1][:, :, :4, :4]])


def test_rollout_maps_of_a_vit_and_a_shared_vit() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 1, 28, 28)
    for model in (ViT(28, 7, 1, 10, 32, 3, 4, 64), SharedViT(28, 7, 1, 10, 32, 3, 4, 64)):
        atts = vit_attentions(model, x)
        assert len(atts) == 3 and atts[0].shape == (2, 4, 17, 17)
        torch.testing.assert_close(atts[0].sum(-1), torch.ones(2, 4, 17))
        maps = rollout_maps(model, x)
        assert maps.shape == (2, 4, 4) and bool((maps.sum((1, 2)) < 1).all())
    with pytest.raises(ValueError, match="pool='cls'"):
        rollout_maps(ViT(pool="mean"), x)


def test_pit_shapes_through_every_stage_and_pooling_reference() -> None:
    torch.manual_seed(0)
    model = PiT(28, 4, 1, 10, dims=(16, 32, 64), depths=(1, 1, 1), heads=(2, 4, 8))
    x = torch.randn(2, 1, 28, 28)
    assert model.grids == [(7, 7), (4, 4), (2, 2)]
    assert [tuple(t.shape) for t in model.stage_tokens(x)] == [(2, 50, 16), (2, 17, 32), (2, 5, 64)]
    assert model(x).shape == (2, 10)
    pool = TokenPooling(8, 16, (7, 7))
    t = torch.randn(2, 50, 8)
    grid = t[:, 1:].transpose(1, 2).reshape(2, 8, 7, 7)
    ref = F.conv2d(grid, pool.conv.weight, pool.conv.bias, stride=2, padding=1, groups=8)
    out = pool(t)
    torch.testing.assert_close(out[:, 1:], ref.flatten(2).transpose(1, 2))
    torch.testing.assert_close(out[:, 0], t[:, 0] @ pool.cls.weight.T + pool.cls.bias)
    with pytest.raises(ValueError, match="multiple of d_in"):
        TokenPooling(8, 12, (7, 7))


def test_weight_sharing_one_storage_and_gradients_accumulate() -> None:
    torch.manual_seed(0)
    model = SharedViT(28, 7, 1, 10, 32, 3, 4, 64)  # repeated_times defaults to depth: one block for all
    ptrs = {b.shared.qkv.weight.data_ptr() for b in model.blocks}
    assert len(ptrs) == 1
    untied = copy.deepcopy(model)
    for b in untied.blocks:  # every layer gets its own copy of the same starting weights
        b.shared = copy.deepcopy(b.shared)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():  # make the per-layer transformations non-trivial
        for m in (model, untied):
            for b in m.blocks:
                b.mlp_conv.weight.copy_(torch.linspace(-0.1, 0.1, b.mlp_conv.weight.numel()).view_as(b.mlp_conv.weight))
                b.mix_logits.add_(0.1)
    y, y_untied = model(x), untied(x)
    torch.testing.assert_close(y, y_untied)
    y.square().sum().backward()
    y_untied.square().sum().backward()
    total = sum(b.shared.fc1.weight.grad for b in untied.blocks)
    torch.testing.assert_close(model.shared[0].fc1.weight.grad, total)
    dense = ViT(28, 7, 1, 10, 32, 3, 4, 64)
    assert block_parameters(model) < 0.5 * block_parameters(dense)
    assert parameters(untied) > parameters(model)
    plain = SharedViT(28, 7, 1, 10, 32, 3, 4, 64, transform=False)  # sharing alone: only LayerNorms per layer
    assert all(b.own_parameters() == 4 * 32 for b in plain.blocks) and plain(x).shape == (2, 10)


def test_hard_distillation_loss_by_hand() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(4, 10), torch.randn(4, 10)
    y, yt = torch.tensor([1, 2, 3, 4]), torch.tensor([1, 0, 3, 9])
    hand = 0.5 * -a.log_softmax(-1)[torch.arange(4), y].mean() + 0.5 * -b.log_softmax(-1)[torch.arange(4), yt].mean()
    torch.testing.assert_close(hard_distillation_loss(a, b, y, yt), hand)
    model = DeiT(28, 7, 1, 10, 32, 2, 4, 64)
    x = torch.randn(2, 1, 28, 28)
    ca, cb = model.forward_heads(x)
    torch.testing.assert_close(model(x).exp(), (ca.softmax(-1) + cb.softmax(-1)) / 2)
    with pytest.raises(ValueError, match="teacher_labels must be integer"):
        hard_distillation_loss(a, b, y, yt.float())


def test_flops_against_closed_form() -> None:
    x = torch.zeros(2, 1, 28, 28)
    for patch, d, depth, dff in ((7, 32, 2, 64), (4, 64, 3, 128)):
        model = ViT(28, patch, 1, 10, d, depth, 4, dff)
        n = (28 // patch) ** 2
        assert count_flops(model, x) == vit_flops(n, 1, d, depth, dff, patch * patch, 10)
    w, hidden = 8, 64
    cnn_closed = (2 * 28 * 28 * w * 25 + 2 * 14 * 14 * 2 * w * 25 * w + 2 * 2 * w * 49 * hidden + 2 * hidden * 10)
    assert count_flops(SmallCNN(width=w, hidden=hidden), x) == cnn_closed


def test_random_shift_moves_pixels() -> None:
    x = torch.zeros(6, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0
    g = torch.Generator().manual_seed(0)
    y = random_shift(x, 2, g)
    assert torch.equal(random_shift(x, 0, g), x)
    assert torch.equal(y.sum((1, 2, 3)), torch.ones(6))
    pos = y[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 9, pos % 9
    assert bool(((rows - 4).abs() <= 2).all() and ((cols - 4).abs() <= 2).all())
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 1


def test_training_is_deterministic_and_distillation_runs() -> None:
    x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = ViT(28, 7, 1, 10, 16, 1, 2, 32)
        train_classifier(model, x, y, steps=3, batch=8, lr=1e-3, seed=1, shift=1)
        outs.append(model.head.weight.detach().clone())
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    torch.manual_seed(0)
    deit = DeiT(28, 7, 1, 10, 16, 1, 2, 32)
    r = train_classifier(deit, x, y, steps=4, batch=8, lr=1e-3, seed=1, teacher_labels=(y + 1) % 10,
                         valid=(x, y), eval_every=2)
    assert [c["step"] for c in r["curve"]] == [2, 4] and math.isfinite(r["curve"][-1]["train_loss"])
    with pytest.raises(ValueError, match="need a DeiT"):
        train_classifier(ViT(28, 7, 1, 10, 16, 1, 2, 32), x, y, steps=1, batch=8, lr=1e-3, seed=0, teacher_labels=y)
