"""DeiT's distillation token (Touvron et al. 2021, §4): a second extra token with its own linear head.

- hard-label distillation: L = (1 − λ) CE(ψ(Z_cls), y) + λ CE(ψ(Z_dist), y_t), y_t = argmax_c Z_t(c), λ = ½;
- soft distillation: L = (1 − λ) CE(ψ(Z_cls), y) + λ τ² KL(ψ(Z_t/τ) ‖ ψ(Z_dist/τ)).

As in the authors' ``losses.py`` (:class:`DistillationLoss`), the teacher labels the *same augmented batch* the
student sees, at every step. At test time the two heads' softmax outputs are added (late fusion).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import shape_str
from .vit import ViT

__all__ = ["DeiT", "hard_distillation_loss", "soft_distillation_loss", "DistillationLoss", "DISTILLATIONS"]

DISTILLATIONS = ("hard", "soft")


def _check_heads(cls_logits: Tensor, dist_logits: Tensor) -> None:
    if cls_logits.shape != dist_logits.shape or cls_logits.dim() != 2:
        raise ValueError(f"cls_logits and dist_logits must both have shape (B, K), got "
                         f"{shape_str(cls_logits.shape)} and {shape_str(dist_logits.shape)}")


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (λ) must be in [0, 1], got {alpha}")


def hard_distillation_loss(cls_logits: Tensor, dist_logits: Tensor, labels: Tensor, teacher_labels: Tensor,
                           alpha: float = 0.5) -> Tensor:
    """(1 − α) CE(cls_logits, labels) + α CE(dist_logits, teacher_labels); logits (B, K), labels (B,) int."""
    _check_heads(cls_logits, dist_logits)
    _check_alpha(alpha)
    for name, y in (("labels", labels), ("teacher_labels", teacher_labels)):
        if y.shape != cls_logits.shape[:1] or y.is_floating_point():
            raise ValueError(f"{name} must be integer class ids of shape ({cls_logits.shape[0]},), got "
                             f"{shape_str(y.shape)} of dtype {y.dtype}")
    return (1 - alpha) * F.cross_entropy(cls_logits, labels) + alpha * F.cross_entropy(dist_logits, teacher_labels)


def soft_distillation_loss(cls_logits: Tensor, dist_logits: Tensor, labels: Tensor, teacher_logits: Tensor,
                           alpha: float = 0.5, tau: float = 1.0) -> Tensor:
    """(1 − α) CE(cls_logits, labels) + α τ² KL(softmax(teacher/τ) ‖ softmax(dist/τ)), KL averaged over the batch."""
    _check_heads(cls_logits, dist_logits)
    _check_alpha(alpha)
    if teacher_logits.shape != dist_logits.shape:
        raise ValueError(f"teacher_logits must have the students' shape {shape_str(dist_logits.shape)}, got "
                         f"{shape_str(teacher_logits.shape)}")
    if tau <= 0:
        raise ValueError(f"tau (τ) must be positive, got {tau}")
    kl = F.kl_div(F.log_softmax(dist_logits / tau, -1), F.log_softmax(teacher_logits / tau, -1),
                  reduction="batchmean", log_target=True)
    return (1 - alpha) * F.cross_entropy(cls_logits, labels) + alpha * tau * tau * kl


class DeiT(ViT):
    """A ViT with a class token and a distillation token, each with its own linear head."""

    n_distill_tokens = 1

    def __init__(self, *args: object, **kwargs: object) -> None:
        if kwargs.get("pool", "cls") != "cls":
            raise ValueError(f"DeiT reads the class and the distillation token; pool must be 'cls', "
                             f"got {kwargs['pool']!r}")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.head_dist = nn.Linear(self.d_model, self.n_classes)

    def forward_heads(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images → (class-token logits, distillation-token logits), each (B, n_classes)."""
        z = self.tokens(images)
        return self.head(z[:, 0]), self.head_dist(z[:, 1])

    def forward(self, images: Tensor) -> Tensor:
        """Late fusion: log of the mean of the two heads' softmax outputs (its argmax is DeiT's prediction)."""
        a, b = self.forward_heads(images)
        return torch.logaddexp(a.log_softmax(-1), b.log_softmax(-1)) - torch.log(torch.tensor(2.0, dtype=a.dtype))


class DistillationLoss:
    """``loss(student, images, labels)``: the teacher (eval mode, no gradient) labels ``images`` — the batch
    exactly as augmented for the student — and the student learns from it (authors' ``losses.py``).

    A :class:`DeiT` student learns the teacher through its distillation head; another model through its one
    output (as Mini-DeiT's ``losses.py`` does; DeiT's own ``losses.py`` refuses a single-head model)."""

    def __init__(self, teacher: nn.Module, kind: str = "hard", alpha: float = 0.5, tau: float = 1.0) -> None:
        if kind not in DISTILLATIONS:
            raise ValueError(f"kind must be one of {DISTILLATIONS}, got {kind!r}")
        _check_alpha(alpha)
        self.teacher, self.kind, self.alpha, self.tau = teacher.eval(), kind, alpha, tau
        for p in teacher.parameters():
            p.requires_grad_(False)

    def __call__(self, student: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        if isinstance(student, DeiT):
            a, b = student.forward_heads(images)
        else:
            a = b = student(images)
        self.teacher.eval()
        with torch.no_grad():
            z_t = self.teacher(images)
        if self.kind == "hard":
            return hard_distillation_loss(a, b, labels, z_t.argmax(-1), self.alpha)
        return soft_distillation_loss(a, b, labels, z_t, self.alpha, self.tau)
