"""MiniViT's weight multiplexing and weight distillation, and DeiT's hard and soft distillation, against
independent references: plain attention, the plain ViT, a closed-form parameter count, the losses by hand, and
the batch the teacher actually sees."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from efftx_mini.vision import (
    DeiT,
    DistillationLoss,
    MultiplexedBlock,
    SharedViT,
    SharedWeights,
    SmallCNN,
    ViT,
    WeightDistillationLoss,
    block_parameters,
    hard_distillation_loss,
    head_mixed_attention,
    layer_qkv,
    loss_and_accuracy,
    parameters,
    soft_distillation_loss,
    train_classifier,
)


def _qkv(B: int = 2, H: int = 4, T: int = 6, e: int = 5) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, H, T, e, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3)]


def test_head_mixing_with_identity_is_plain_attention_values_and_grads() -> None:
    q, k, v = _qkv()
    eye = torch.eye(4, dtype=torch.float64)
    out, a = head_mixed_attention(q, k, v, eye, eye)
    ref = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(a.sum(-1), torch.ones(2, 4, 6, dtype=torch.float64))
    g_out = torch.autograd.grad(out.square().sum(), (q, k, v))
    g_ref = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for x, y in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(x, y)
    torch.testing.assert_close(head_mixed_attention(q, k, v)[0], ref)  # None = identity


def test_head_mixing_against_a_loop_over_heads() -> None:
    q, k, v = _qkv()
    g = torch.Generator().manual_seed(1)
    fl, fw = (torch.randn(4, 4, generator=g, dtype=torch.float64) for _ in range(2))
    out, a = head_mixed_attention(q, k, v, fl, fw)
    logits = [q[:, h] @ k[:, h].transpose(-1, -2) / math.sqrt(5) for h in range(4)]
    probs = [sum(fl[gi, h] * logits[h] for h in range(4)).softmax(-1) for gi in range(4)]
    mixed = [sum(fw[gi, h] * probs[h] for h in range(4)) for gi in range(4)]
    ref = torch.stack([mixed[gi] @ v[:, gi] for gi in range(4)], dim=1)
    torch.testing.assert_close(a, torch.stack(mixed, dim=1))
    torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match=r"mix_logits must have shape \(4, 4\)"):
        head_mixed_attention(q, k, v, torch.eye(3, dtype=torch.float64))


def _copy_vit_into_multiplexed(vit: ViT, mini: SharedViT) -> None:
    """Load a ViT's weights into a SharedViT with repeated_times=1 (block i → shared[i] and layer i's norms)."""
    state = {}
    for name, t in vit.state_dict().items():
        if name.startswith("blocks."):
            _, i, rest = name.split(".", 2)
            part = rest.split(".")[0]
            state[f"shared.{i}.{rest}" if part in ("qkv", "proj", "fc1", "fc2") else name] = t
        else:
            state[name] = t
    missing, unexpected = mini.load_state_dict(state, strict=False)
    assert not unexpected
    assert all(".mix_" in m or m.startswith("blocks.") and ".shared." in m for m in missing), missing


@pytest.mark.parametrize("transform", [True, False])
def test_multiplexed_with_identity_transforms_and_one_repetition_equals_the_vit(transform: bool) -> None:
    torch.manual_seed(0)
    vit = ViT(28, 7, 1, 10, 32, 3, 4, 64).double()
    mini = SharedViT(28, 7, 1, 10, 32, 3, 4, 64, repeated_times=1, transform=transform, mlp_transform=False).double()
    _copy_vit_into_multiplexed(vit, mini)
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    y_vit, y_mini = vit(x), mini(x)
    torch.testing.assert_close(y_mini, y_vit)
    y_vit.square().sum().backward()
    y_mini.square().sum().backward()
    for i in range(3):
        torch.testing.assert_close(mini.shared[i].qkv.weight.grad, vit.blocks[i].qkv.weight.grad)
        torch.testing.assert_close(mini.shared[i].fc2.weight.grad, vit.blocks[i].fc2.weight.grad)
        torch.testing.assert_close(mini.blocks[i].norm1.weight.grad, vit.blocks[i].norm1.weight.grad)
    torch.testing.assert_close(mini.embed.proj.weight.grad, vit.embed.proj.weight.grad)


def test_repeated_times_groups_consecutive_layers() -> None:
    model = SharedViT(28, 7, 1, 10, 32, 6, 4, 64, repeated_times=2)
    ids = [id(b.shared) for b in model.blocks]
    assert ids[0] == ids[1] != ids[2] == ids[3] != ids[4] == ids[5] and len(model.shared) == 3
    assert len({id(b.mix_logits) for b in model.blocks}) == 6  # transformations are per layer
    with pytest.raises(ValueError, match="divisor of depth=6"):
        SharedViT(28, 7, 1, 10, 32, 6, 4, 64, repeated_times=4)


def _closed_form_parameters(d: int, L: int, H: int, d_ff: int, r: int, k: int, P: int = 7, C: int = 1,
                            N: int = 16, K: int = 10, transform: bool = True) -> int:
    embed = P * P * C * d + d
    tokens = d + (N + 1) * d  # class token, positions
    shared = (L // r) * (3 * d * d + 3 * d + d * d + d + d * d_ff + d_ff + d_ff * d + d)
    per_layer = 4 * d + (2 * H * H + 2 * d + d * k * k + d if transform else 0)
    return embed + tokens + shared + L * per_layer + 2 * d + d * K + K


@pytest.mark.parametrize("d,L,H,d_ff,r,k", [(64, 4, 4, 128, 2, 3), (32, 6, 4, 64, 3, 5), (16, 2, 2, 32, 1, 1)])
def test_parameter_count_against_the_closed_form(d: int, L: int, H: int, d_ff: int, r: int, k: int) -> None:
    model = SharedViT(28, 7, 1, 10, d, L, H, d_ff, repeated_times=r, kernel=k)
    assert parameters(model) == _closed_form_parameters(d, L, H, d_ff, r, k)
    plain = SharedViT(28, 7, 1, 10, d, L, H, d_ff, repeated_times=r, transform=False)
    assert parameters(plain) == _closed_form_parameters(d, L, H, d_ff, r, k, transform=False)


def test_the_experiments_minivit_is_at_most_55_percent_of_the_vit() -> None:
    vit, mini = ViT(28, 7, 1, 10, 64, 4, 4, 128), SharedViT(28, 7, 1, 10, 64, 4, 4, 128, repeated_times=2)
    assert parameters(mini) / parameters(vit) <= 0.55
    assert block_parameters(mini) / block_parameters(vit) <= 0.55


def test_mlp_transformation_against_layernorm_and_conv2d() -> None:
    torch.manual_seed(0)
    blk = MultiplexedBlock(SharedWeights(8, 16), 8, 2, 16, (3, 3), 1, transform=False, mlp_transform=True).double()
    with torch.no_grad():
        blk.mlp_conv.weight.normal_()
        blk.mlp_conv.bias.normal_()
        for p in blk.shared.parameters():
            p.zero_()  # attention and MLP add nothing: the output is the transformation alone
    x = torch.randn(2, 10, 8, dtype=torch.float64)
    t = F.layer_norm(x, (8,), blk.mlp_norm.weight, blk.mlp_norm.bias)
    grid = t[:, 1:].transpose(1, 2).reshape(2, 8, 3, 3)
    conv = F.conv2d(grid, blk.mlp_conv.weight, blk.mlp_conv.bias, padding=1, groups=8)
    ref = torch.cat([t[:, :1], t[:, 1:] + conv.flatten(2).transpose(1, 2)], dim=1)
    torch.testing.assert_close(blk(x), ref)


def test_weight_distillation_terms_by_hand() -> None:
    torch.manual_seed(0)
    teacher = ViT(28, 7, 1, 10, 16, 2, 2, 32)
    student = SharedViT(28, 7, 1, 10, 16, 2, 2, 32, repeated_times=2)
    x, y = torch.randn(3, 1, 28, 28), torch.randint(0, 10, (3,))
    loss = WeightDistillationLoss(teacher, [1], alpha=0.3, tau=2.0, attn_weight=0.7, hidden_weight=0.2)
    parts = loss.parts(student, x, y)
    z_s, z_t = student(x), teacher(x)
    pred = -(F.softmax(z_t / 2, -1) * F.log_softmax(z_s / 2, -1)).sum(-1).mean()
    torch.testing.assert_close(parts["pred"], pred)
    torch.testing.assert_close(parts["ce"], F.cross_entropy(z_s, y))
    ins: dict[str, torch.Tensor] = {}
    student.blocks[1].register_forward_pre_hook(lambda m, a: ins.__setitem__("s", a[0]))
    teacher.blocks[1].register_forward_pre_hook(lambda m, a: ins.__setitem__("t", a[0]))
    outs: dict[str, torch.Tensor] = {}
    student.blocks[1].register_forward_hook(lambda m, a, o: outs.__setitem__("s", o))
    teacher.blocks[1].register_forward_hook(lambda m, a, o: outs.__setitem__("t", o))
    student(x)
    teacher(x)
    qs = student.blocks[1].shared.qkv(student.blocks[1].norm1(ins["s"])).chunk(3, -1)
    qt = teacher.blocks[1].qkv(teacher.blocks[1].norm1(ins["t"])).chunk(3, -1)
    attn = 0.0
    for i in range(3):
        for j in range(3):
            rs, rt = qs[i] @ qs[j].transpose(1, 2) / 4.0, qt[i] @ qt[j].transpose(1, 2) / 4.0  # √16 = 4
            attn = attn + -(rt.softmax(-1) * rs.log_softmax(-1)).sum(-1).mean() / 9
    torch.testing.assert_close(parts["attn"], attn)
    cs, ct = F.normalize(outs["s"], dim=-1), F.normalize(outs["t"], dim=-1)
    hidden = ((cs @ cs.transpose(1, 2) - ct @ ct.transpose(1, 2)) ** 2).mean() * 17
    torch.testing.assert_close(parts["hidden"], hidden)
    torch.testing.assert_close(parts["loss"], 0.3 * parts["ce"] + 0.7 * pred + 0.7 * attn + 0.2 * hidden)
    assert not any(p.requires_grad for p in teacher.parameters())


def test_weight_distillation_from_an_identical_teacher_has_zero_gradient() -> None:
    """A student that already equals its teacher sits at the minimum of every distillation term."""
    torch.manual_seed(0)
    teacher = ViT(28, 7, 1, 10, 16, 2, 2, 32).double()
    student = SharedViT(28, 7, 1, 10, 16, 2, 2, 32, repeated_times=1, mlp_transform=False).double()
    _copy_vit_into_multiplexed(teacher, student)
    x, y = torch.randn(4, 1, 28, 28, dtype=torch.float64), torch.randint(0, 10, (4,))
    WeightDistillationLoss(teacher, [0, 1])(student, x, y).backward()
    assert max(float(p.grad.abs().max()) for p in student.parameters() if p.grad is not None) < 1e-10
    assert float(WeightDistillationLoss(teacher, [0, 1]).parts(student, x, y)["hidden"].detach()) < 1e-20
    with pytest.raises(TypeError, match="Pre-LN and multiplexed"):
        layer_qkv(torch.nn.Linear(2, 2), x)


def test_soft_and_hard_distillation_losses_by_hand() -> None:
    torch.manual_seed(0)
    a, b, t = torch.randn(4, 10), torch.randn(4, 10), torch.randn(4, 10)
    y = torch.tensor([1, 2, 3, 4])
    ce = -a.log_softmax(-1)[torch.arange(4), y].mean()
    pt, ps = (t / 3).softmax(-1), (b / 3).softmax(-1)
    kl = (pt * (pt.log() - ps.log())).sum(-1).mean()
    torch.testing.assert_close(soft_distillation_loss(a, b, y, t, alpha=0.1, tau=3.0), 0.9 * ce + 0.1 * 9 * kl)
    yt = t.argmax(-1)
    hard = 0.8 * ce + 0.2 * -b.log_softmax(-1)[torch.arange(4), yt].mean()
    torch.testing.assert_close(hard_distillation_loss(a, b, y, yt, alpha=0.2), hard)
    with pytest.raises(ValueError, match="teacher_logits must have"):
        soft_distillation_loss(a, b, y, t[:, :5])
    with pytest.raises(ValueError, match=r"alpha \(λ\) must be in \[0, 1\]"):
        soft_distillation_loss(a, b, y, t, alpha=1.5)
    with pytest.raises(ValueError, match="kind must be one of"):
        DistillationLoss(SmallCNN(), "medium")


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_distillation_loss_sends_labels_to_the_class_head_and_the_teacher_to_the_distillation_head(kind: str) -> None:
    torch.manual_seed(0)
    teacher, student = SmallCNN(width=4), DeiT(28, 7, 1, 10, 16, 1, 2, 32)
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    loss = DistillationLoss(teacher, kind, alpha=0.3, tau=2.0)(student, x, y)
    z_cls, z_dist = student.forward_heads(x)
    with torch.no_grad():
        z_t = teacher(x)
    if kind == "hard":
        teach = -z_dist.log_softmax(-1)[torch.arange(6), z_t.argmax(-1)].mean()
    else:
        pt, log_ps = (z_t / 2).softmax(-1), (z_dist / 2).log_softmax(-1)
        teach = 4 * (pt * (pt.log() - log_ps)).sum(-1).mean()  # τ² KL, averaged over the batch
    ref = 0.7 * -z_cls.log_softmax(-1)[torch.arange(6), y].mean() + 0.3 * teach
    torch.testing.assert_close(loss, ref)


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_the_teacher_labels_exactly_the_augmented_batch_the_student_sees(kind: str) -> None:
    torch.manual_seed(0)
    x, y = torch.rand(40, 1, 28, 28), torch.randint(0, 10, (40,))
    teacher, student = SmallCNN(width=4), DeiT(28, 7, 1, 10, 16, 1, 2, 32)
    seen: dict[str, list[torch.Tensor]] = {"teacher": [], "student": []}
    teacher.register_forward_pre_hook(lambda m, a: seen["teacher"].append(a[0].clone()))
    student.embed.register_forward_pre_hook(lambda m, a: seen["student"].append(a[0].clone()))
    train_classifier(student, x, y, steps=5, batch=8, lr=1e-3, seed=3, shift=2, loss_fn=DistillationLoss(teacher, kind))
    assert len(seen["teacher"]) == len(seen["student"]) == 5
    for t_in, s_in in zip(seen["teacher"], seen["student"], strict=True):
        assert t_in.shape == (8, 1, 28, 28) and torch.equal(t_in, s_in)  # the very same augmented pixels
    unshifted = sum(any(torch.equal(t_in[j], x[i]) for i in range(40)) for t_in in seen["teacher"] for j in range(8))
    assert unshifted < 10, "with shift=2 the teacher sees shifted images (a zero shift leaves 1 in 25 as it was)"
    assert all(not p.requires_grad for p in teacher.parameters())


def test_loss_and_accuracy_by_hand() -> None:
    torch.manual_seed(0)
    model, x, y = SmallCNN(width=4), torch.rand(7, 1, 28, 28), torch.randint(0, 10, (7,))
    loss, acc = loss_and_accuracy(model, x, y, batch=3)
    with torch.no_grad():
        z = model(x)
    assert math.isclose(loss, float(F.cross_entropy(z, y)), rel_tol=1e-5)
    assert acc == float((z.argmax(-1) == y).float().mean())
