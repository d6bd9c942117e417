"""Knowledge distillation with soft targets (Hinton et al. 2015, §2): the student matches the teacher's
softmax at temperature τ, p_i = exp(z_i/τ) / Σ_j exp(z_j/τ); the soft term is scaled by τ² so that its
gradients keep their size as τ changes (§2, last paragraph), and mixed with the ordinary hard-label loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_float, shape_str

__all__ = ["soft_target_loss", "distillation_loss"]


def _wide(x: Tensor) -> Tensor:
    """fp16/bf16 → fp32 for the softmax; fp32 and fp64 stay as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_logits(student: Tensor, teacher: Tensor) -> None:
    check_float(student, "student_logits")
    check_float(teacher, "teacher_logits")
    if student.shape != teacher.shape or student.dim() < 1:
        raise ValueError(f"student and teacher logits must have the same shape (..., V), got student "
                         f"{shape_str(student.shape)} and teacher {shape_str(teacher.shape)}")


def soft_target_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 2.0,
                     keep: Tensor | None = None) -> Tensor:
    """τ² · KL(p_teacher^τ ‖ p_student^τ), averaged over positions (where ``keep`` is True). Logits (..., V).

    KL differs from Hinton's cross-entropy with soft targets by the teacher's entropy, a constant: same gradient.
    """
    _check_logits(student_logits, teacher_logits)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    V = student_logits.shape[-1]
    s = F.log_softmax(_wide(student_logits.reshape(-1, V)) / temperature, dim=-1)
    t = F.log_softmax(_wide(teacher_logits.reshape(-1, V).detach()) / temperature, dim=-1)
    kl = (t.exp() * (t - s)).sum(-1)  # (N,)
    if keep is not None:
        if keep.dtype != torch.bool or keep.shape != student_logits.shape[:-1]:
            raise ValueError(f"keep must be a bool tensor of shape {shape_str(student_logits.shape[:-1])}, "
                             f"got {keep.dtype} {shape_str(keep.shape)}")
        kl = kl[keep.reshape(-1)]
        if kl.numel() == 0:
            raise ValueError("keep selects no position")
    return temperature**2 * kl.mean()


def distillation_loss(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, *,
                      temperature: float = 2.0, alpha: float = 0.5, ignore_index: int = -100) -> Tensor:
    """α · τ² · KL(teacher^τ ‖ student^τ) + (1 − α) · CE(student, targets), over positions with a target.

    student/teacher logits (..., V), targets (...) integer class ids; positions equal to ``ignore_index``
    count in neither term. α = 0 is plain training, α = 1 pure distillation.
    """
    _check_logits(student_logits, teacher_logits)
    if targets.shape != student_logits.shape[:-1]:
        raise ValueError(f"targets must have shape {shape_str(student_logits.shape[:-1])} (logits without V), "
                         f"got {shape_str(targets.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    keep = targets != ignore_index
    soft = soft_target_loss(student_logits, teacher_logits, temperature, keep)
    hard = F.cross_entropy(_wide(student_logits.reshape(-1, student_logits.shape[-1])), targets.reshape(-1),
                           ignore_index=ignore_index)
    return alpha * soft + (1 - alpha) * hard
