"""Training an image classifier on a fixed budget: AdamW, linear warm-up then cosine decay, random shifts of
up to ``shift`` pixels, mini-batch i drawn from (seed, epoch) only — so every model sees the same images in
the same order. The loss is cross-entropy, or any ``loss_fn(model, augmented_images, labels)`` — e.g. DeiT's
:class:`~efftx_mini.vision.distill.DistillationLoss` (§4), whose teacher labels the augmented batch itself."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import seed_everything
from .._checks import shape_str
from ..timing import synchronize
from .distill import DeiT, hard_distillation_loss

__all__ = ["as_images", "random_shift", "accuracy", "predict", "loss_and_accuracy", "train_classifier"]


def as_images(images: Tensor) -> Tensor:
    """(N, H, W) grey images → (N, 1, H, W); (N, C, H, W) passes through."""
    if images.dim() == 3:
        return images[:, None]
    if images.dim() == 4:
        return images
    raise ValueError(f"images must have shape (N, H, W) or (N, C, H, W), got {shape_str(images.shape)}")


def random_shift(x: Tensor, shift: int, generator: torch.Generator) -> Tensor:
    """Shift every image by its own (dy, dx) ∈ [−shift, shift]², filling with zeros; x (B, C, H, W)."""
    if shift == 0:
        return x
    B, C, H, W = x.shape
    pad = F.pad(x, (shift, shift, shift, shift))
    dy, dx = (torch.randint(0, 2 * shift + 1, (B,), generator=generator) for _ in range(2))
    rows = (dy[:, None] + torch.arange(H))[:, None, :, None].expand(B, C, H, W + 2 * shift)
    pad = pad.gather(2, rows.to(x.device))
    cols = (dx[:, None] + torch.arange(W))[:, None, None, :].expand(B, C, H, W)
    return pad.gather(3, cols.to(x.device))


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch: int = 500) -> Tensor:
    """Predicted class ids (N,) in evaluation mode."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = torch.cat([model(images[i:i + batch].to(dev)).argmax(-1).cpu() for i in range(0, len(images), batch)])
    model.train(was)
    return out


def accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch: int = 500) -> float:
    """Fraction of ``images`` whose predicted class equals ``labels``."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")
    return float((predict(model, images, batch) == labels).float().mean())


@torch.no_grad()
def loss_and_accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch: int = 500) -> tuple[float, float]:
    """Mean cross-entropy of ``model(images)`` (its logits or log-probabilities) and accuracy, in evaluation mode.

    On the un-augmented training images this says how well a model fits them: an underfitting model has a
    training loss well above that of a model trained to convergence."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    loss, correct = 0.0, 0
    for i in range(0, len(images), batch):
        z = model(images[i:i + batch].to(dev)).cpu()
        y = labels[i:i + batch]
        loss += float(F.cross_entropy(z, y, reduction="sum"))
        correct += int((z.argmax(-1) == y).sum())
    model.train(was)
    return loss / len(images), correct / len(images)


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train_classifier(model: nn.Module, images: Tensor, labels: Tensor, *, steps: int, batch: int, lr: float,
                     seed: int, warmup: int = 0, weight_decay: float = 0.05, shift: int = 0,
                     teacher_labels: Tensor | None = None, valid: tuple[Tensor, Tensor] | None = None,
                     eval_every: int = 0,
                     loss_fn: Callable[[nn.Module, Tensor, Tensor], Tensor] | None = None) -> dict[str, Any]:
    """Train in place; returns the curve (step, train loss, valid accuracy), seconds and images/s.

    ``loss_fn(model, x, y)`` replaces cross-entropy; it gets the batch exactly as augmented for this step.
    ``teacher_labels`` (N,), fixed labels per training image, switches a :class:`DeiT` to the hard-label
    distillation loss against them (kept for older callers; DeiT's teacher labels the augmented batch instead,
    see :class:`~efftx_mini.vision.distill.DistillationLoss`)."""
    if teacher_labels is not None and loss_fn is not None:
        raise ValueError("give either teacher_labels or loss_fn, not both")
    if teacher_labels is not None and not isinstance(model, DeiT):
        raise ValueError(f"teacher_labels need a DeiT (class + distillation token), got {type(model).__name__}")
    if images.dim() != 4 or len(images) != len(labels):
        raise ValueError(f"images must be (N, C, H, W) with one label each, got {shape_str(images.shape)} "
                         f"and {len(labels)} labels")
    seed_everything(seed)
    dev = next(model.parameters()).device
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}],
                            lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps, warmup))
    gen = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(images), generator=gen), 0
    curve, seconds, run_loss = [], 0.0, 0.0
    model.train()
    for step in range(steps):
        if pos + batch > len(order):
            order, pos = torch.randperm(len(images), generator=gen), 0
        idx = order[pos:pos + batch]
        pos += batch
        x = random_shift(images[idx], shift, gen).to(dev)
        y = labels[idx].to(dev)
        synchronize(dev)
        t0 = time.perf_counter()
        if loss_fn is not None:
            loss = loss_fn(model, x, y)
        elif teacher_labels is not None:
            a, b = model.forward_heads(x)
            loss = hard_distillation_loss(a, b, y, teacher_labels[idx].to(dev))
        elif isinstance(model, DeiT):  # without a teacher both heads learn the true labels
            a, b = model.forward_heads(x)
            loss = hard_distillation_loss(a, b, y, y)
        else:
            loss = F.cross_entropy(model(x), y)
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
                                   "train_loss": round(run_loss / eval_every if n % eval_every == 0
                                                       else run_loss / (n % eval_every), 5)}
            run_loss = 0.0
            if valid is not None:
                row["valid_acc"] = round(accuracy(model, *valid), 5)
            curve.append(row)
    return {"curve": curve, "seconds": round(seconds, 3), "images_per_s": round(steps * batch / seconds, 1)}
