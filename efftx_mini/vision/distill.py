"""DeiT's distillation token (Touvron et al. 2021, §4): a second extra token whose head learns the teacher's
hard decision, L = ½ CE(ψ(Z_cls), y) + ½ CE(ψ(Z_dist), y_t) with y_t = argmax_c Z_t(c) ("hard-label
distillation"); at test time the two heads' softmax outputs are added (late fusion).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import shape_str
from .vit import ViT

__all__ = ["DeiT", "hard_distillation_loss"]


def hard_distillation_loss(cls_logits: Tensor, dist_logits: Tensor, labels: Tensor, teacher_labels: Tensor) -> Tensor:
    """½ CE(cls_logits, labels) + ½ CE(dist_logits, teacher_labels); logits (B, K), labels (B,) int."""
    if cls_logits.shape != dist_logits.shape or cls_logits.dim() != 2:
        raise ValueError(f"cls_logits and dist_logits must both have shape (B, K), got "
                         f"{shape_str(cls_logits.shape)} and {shape_str(dist_logits.shape)}")
    for name, y in (("labels", labels), ("teacher_labels", teacher_labels)):
        if y.shape != cls_logits.shape[:1] or y.is_floating_point():
            raise ValueError(f"{name} must be integer class ids of shape ({cls_logits.shape[0]},), got "
                             f"{shape_str(y.shape)} of dtype {y.dtype}")
    return 0.5 * F.cross_entropy(cls_logits, labels) + 0.5 * F.cross_entropy(dist_logits, teacher_labels)


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
