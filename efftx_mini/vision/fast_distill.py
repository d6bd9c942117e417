"""TinyViT's fast distillation (Wu et al. 2022, "TinyViT: Fast Pretraining Distillation for Small Vision
Transformers", §3.1, Fig. 3): run the teacher once, over the exact batches and augmentations training will use,
and store for every image its *augmentation seed* and the teacher's *top-k* probabilities (values in float16,
class ids in int16, as the authors' ``save_logits.py``); the student then replays each augmentation from its seed
and learns from the stored sparse targets — the k stored probabilities in place, the remaining mass spread
evenly over the other classes — with the soft cross-entropy, and never runs the teacher.

:func:`distill_classifier` trains a student either *online* (``teacher=``: the teacher labels each augmented
batch as it comes) or from :func:`record_teacher`'s :class:`StoredLogits` (``stored=``). With k = K classes
stored in float32 the two are the same computation, which the tests check step by step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import seed_everything
from .._checks import shape_str
from ..timing import synchronize
from .training import _lr_factor, accuracy

__all__ = ["schedule", "shift_by_seed", "StoredLogits", "record_teacher", "restore_targets", "soft_cross_entropy",
           "distill_classifier"]


def schedule(n_images: int, steps: int, batch: int, seed: int) -> tuple[Tensor, Tensor]:
    """The data order (steps, batch) — epochs of seeded permutations — and one augmentation seed per image and step
    (steps, batch) int64 in [0, 2³¹)."""
    if batch > n_images:
        raise ValueError(f"batch {batch} is larger than the {n_images} images")
    gen = torch.Generator().manual_seed(seed)
    order, pos, idx, seeds = torch.randperm(n_images, generator=gen), 0, [], []
    for _ in range(steps):
        if pos + batch > n_images:
            order, pos = torch.randperm(n_images, generator=gen), 0
        idx.append(order[pos:pos + batch])
        pos += batch
        seeds.append(torch.randint(0, 2**31 - 1, (batch,), generator=gen))
    return torch.stack(idx), torch.stack(seeds)


def shift_by_seed(x: Tensor, seeds: Tensor, shift: int) -> Tensor:
    """Shift image i of x (B, C, H, W) by (dy, dx) ∈ [−shift, shift]² drawn from a generator seeded with seeds[i],
    filling with zeros: the same seed always gives the same augmentation."""
    if x.dim() != 4 or seeds.shape != x.shape[:1]:
        raise ValueError(f"x must be (B, C, H, W) with one seed per image, got {shape_str(x.shape)} and "
                         f"{shape_str(seeds.shape)} seeds")
    if shift == 0:
        return x
    d = torch.stack([torch.randint(0, 2 * shift + 1, (2,), generator=torch.Generator().manual_seed(int(s)))
                     for s in seeds])  # (B, 2): offsets into the padded image
    B, C, H, W = x.shape
    pad = F.pad(x, (shift, shift, shift, shift))
    rows = (d[:, 0, None] + torch.arange(H))[:, None, :, None].expand(B, C, H, W + 2 * shift)
    pad = pad.gather(2, rows.to(x.device))
    cols = (d[:, 1, None] + torch.arange(W))[:, None, None, :].expand(B, C, H, W)
    return pad.gather(3, cols.to(x.device))


def restore_targets(values: Tensor, classes: Tensor, n_classes: int) -> Tensor:
    """Sparse (…, k) probabilities and class ids → dense (…, K): the k values in place, the rest of the mass
    (1 − Σ values) / (K − k) on every other class (the authors' ``main.py``)."""
    k = values.shape[-1]
    values = values.float()
    if k == n_classes:
        return torch.zeros(*values.shape[:-1], n_classes).scatter_(-1, classes.long(), values)
    rest = (1.0 - values.sum(-1, keepdim=True)) / (n_classes - k)
    return rest.expand(*values.shape[:-1], n_classes).clone().scatter_(-1, classes.long(), values)


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over the batch of −Σ_c p_c log softmax(z)_c (timm's SoftTargetCrossEntropy)."""
    if logits.shape != targets.shape:
        raise ValueError(f"logits and targets must have the same shape (B, K), got {shape_str(logits.shape)} and "
                         f"{shape_str(targets.shape)}")
    return -(targets * logits.log_softmax(-1)).sum(-1).mean()


@dataclass
class StoredLogits:
    """What the teacher pass writes: per step and image, the image id, its augmentation seed, the top-k
    probabilities and their classes."""

    indices: Tensor  # (steps, batch) long: the data order
    seeds: Tensor  # (steps, batch) long, stored as int32
    values: Tensor  # (steps, batch, k) probabilities (float16 as the authors, or float32)
    classes: Tensor  # (steps, batch, k) int16
    n_classes: int
    shift: int

    @property
    def k(self) -> int:
        return self.values.shape[-1]

    def nbytes(self) -> int:
        """Bytes as the authors store them: a 4-byte seed plus k (class id, value) pairs per image and step."""
        n = self.seeds.numel()
        return n * (4 + self.k * (2 + self.values.element_size()))

    def full_nbytes(self) -> int:
        """Bytes of the alternative: a 4-byte seed plus all K logits in float32 per image and step."""
        return self.seeds.numel() * (4 + 4 * self.n_classes)

    def targets(self, step: int) -> Tensor:
        return restore_targets(self.values[step], self.classes[step], self.n_classes)


@torch.no_grad()
def record_teacher(teacher: nn.Module, images: Tensor, *, steps: int, batch: int, seed: int, shift: int, k: int,
                   value_dtype: torch.dtype = torch.float16) -> StoredLogits:
    """Run ``teacher`` once over the batches and augmentations of :func:`schedule` and keep its top-k probabilities."""
    idx, seeds = schedule(len(images), steps, batch, seed)
    was = teacher.training
    teacher.eval()
    dev = next(teacher.parameters()).device
    vals, cls = [], []
    try:
        for s in range(steps):
            x = shift_by_seed(images[idx[s]], seeds[s], shift).to(dev)
            p = teacher(x).float().softmax(-1).cpu()
            if not 1 <= k <= p.shape[-1]:
                raise ValueError(f"k must be in [1, {p.shape[-1]}], got {k}")
            v, c = p.topk(k, dim=-1, largest=True, sorted=True)
            vals.append(v.to(value_dtype))
            cls.append(c.to(torch.int16))
    finally:
        teacher.train(was)
    return StoredLogits(idx, seeds.to(torch.int32).long(), torch.stack(vals), torch.stack(cls), p.shape[-1], shift)


def distill_classifier(model: nn.Module, images: Tensor, *, steps: int, batch: int, lr: float, seed: int,
                       warmup: int = 0, weight_decay: float = 0.05, shift: int = 0, teacher: nn.Module | None = None,
                       stored: StoredLogits | None = None, valid: tuple[Tensor, Tensor] | None = None,
                       eval_every: int = 0) -> dict[str, Any]:
    """Train ``model`` in place on the teacher's soft targets only (as TinyViT's pretraining distillation), online
    from ``teacher`` or replayed from ``stored``; the optimiser and schedule are those of ``train_classifier``."""
    if (teacher is None) == (stored is None):
        raise ValueError("give exactly one of teacher= (online distillation) or stored= (stored sparse logits)")
    idx, seeds = schedule(len(images), steps, batch, seed)
    if stored is not None:
        if stored.indices.shape != idx.shape or not torch.equal(stored.indices, idx) or \
                not torch.equal(stored.seeds, seeds) or stored.shift != shift:
            raise ValueError("the stored logits were recorded for another data order, seed, batch or shift "
                             f"(stored {tuple(stored.indices.shape)}, shift {stored.shift}; asked "
                             f"{tuple(idx.shape)}, shift {shift})")
    seed_everything(seed)
    dev = next(model.parameters()).device
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}],
                            lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps, warmup))
    if teacher is not None:
        teacher.eval()
    curve, seconds, teacher_s, run_loss = [], 0.0, 0.0, 0.0
    model.train()
    for step in range(steps):
        x = shift_by_seed(images[idx[step]], seeds[step], shift).to(dev)
        synchronize(dev)
        t0 = time.perf_counter()
        if teacher is not None:
            with torch.no_grad():
                target = teacher(x).float().softmax(-1)
            synchronize(dev)
            teacher_s += time.perf_counter() - t0
        else:
            assert stored is not None
            target = stored.targets(step).to(dev)
        loss = soft_cross_entropy(model(x), target.to(x.dtype))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        synchronize(dev)
        seconds += time.perf_counter() - t0
        run_loss += float(loss.detach())
        n = step + 1
        if eval_every and (n % eval_every == 0 or n == steps):
            row: dict[str, Any] = {"step": n, "images": n * batch, "seconds": round(seconds, 3),
                                   "train_loss": round(run_loss / (eval_every if n % eval_every == 0
                                                                   else n % eval_every), 5)}
            run_loss = 0.0
            if valid is not None:
                row["valid_acc"] = round(accuracy(model, *valid), 5)
            curve.append(row)
    return {"curve": curve, "seconds": round(seconds, 3), "teacher_s": round(teacher_s, 3),
            "images_per_s": round(steps * batch / seconds, 1)}
