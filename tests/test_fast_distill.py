"""TinyViT's fast distillation: the seeded augmentation replays exactly, the sparse targets are restored as the
authors do, the storage count, and stored full logits (float32) train the student exactly as online distillation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from efftx_mini.vision import (
    SmallCNN,
    ViT,
    distill_classifier,
    record_teacher,
    restore_targets,
    shift_by_seed,
    soft_cross_entropy,
)
from efftx_mini.vision.fast_distill import schedule


def test_shift_by_seed_replays_and_matches_a_manual_shift() -> None:
    x = torch.rand(5, 1, 8, 8)
    seeds = torch.tensor([3, 14, 15, 92, 65])
    a, b = shift_by_seed(x, seeds, 2), shift_by_seed(x, seeds, 2)
    assert torch.equal(a, b)
    for i, s in enumerate(seeds.tolist()):
        dy, dx = torch.randint(0, 5, (2,), generator=torch.Generator().manual_seed(s)).tolist()
        pad = F.pad(x[i], (2, 2, 2, 2))
        assert torch.equal(a[i], pad[:, dy:dy + 8, dx:dx + 8])
    assert torch.equal(shift_by_seed(x, seeds, 0), x)


def test_restore_targets_as_the_authors() -> None:
    v = torch.tensor([[0.6, 0.3]], dtype=torch.float16)
    c = torch.tensor([[4, 1]], dtype=torch.int16)
    t = restore_targets(v, c, 5)
    torch.testing.assert_close(t, torch.tensor([[1 / 30, 0.3, 1 / 30, 1 / 30, 0.6]]), atol=1e-3, rtol=0)
    torch.testing.assert_close(t.sum(-1), torch.ones(1))


def test_soft_cross_entropy_equals_cross_entropy_on_one_hot_targets() -> None:
    z, y = torch.randn(4, 7), torch.tensor([0, 3, 6, 2])
    torch.testing.assert_close(soft_cross_entropy(z, F.one_hot(y, 7).float()), F.cross_entropy(z, y))


def test_storage_and_replayed_schedule() -> None:
    torch.manual_seed(0)
    teacher, images = SmallCNN(28, 1, 10, width=2, hidden=8), torch.rand(40, 1, 28, 28)
    s = record_teacher(teacher, images, steps=5, batch=8, seed=3, shift=2, k=3)
    assert s.values.dtype == torch.float16 and s.classes.dtype == torch.int16
    assert s.nbytes() == 5 * 8 * (4 + 3 * 4) and s.full_nbytes() == 5 * 8 * (4 + 10 * 4)
    idx, seeds = schedule(40, 5, 8, 3)
    assert torch.equal(s.indices, idx) and torch.equal(s.seeds, seeds)
    with torch.no_grad():  # the stored top-3 are the teacher's on the replayed augmented batch
        p = teacher.eval()(shift_by_seed(images[idx[4]], seeds[4], 2)).softmax(-1)
    torch.testing.assert_close(s.values[4].float(), p.topk(3).values, atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="another data order"):
        distill_classifier(ViT(28, 7, 1, 10, 8, 1, 2, 16), images, steps=5, batch=8, lr=1e-3, seed=4, shift=2,
                           stored=s)


def test_stored_full_logits_train_exactly_as_online_distillation() -> None:
    torch.manual_seed(0)
    teacher, images = SmallCNN(28, 1, 10, width=2, hidden=8), torch.rand(48, 1, 28, 28)
    kw = dict(steps=6, batch=16, lr=1e-3, seed=1, warmup=2, shift=2)
    stored = record_teacher(teacher, images, steps=6, batch=16, seed=1, shift=2, k=10, value_dtype=torch.float32)
    students = []
    for source in ({"teacher": teacher}, {"stored": stored}):
        torch.manual_seed(5)
        student = ViT(28, 7, 1, 10, 8, 1, 2, 16)
        distill_classifier(student, images, **kw, **source)
        students.append(student.state_dict())
    for name in students[0]:
        torch.testing.assert_close(students[0][name], students[1][name], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="exactly one"):
        distill_classifier(ViT(28, 7, 1, 10, 8, 1, 2, 16), images, **kw)
