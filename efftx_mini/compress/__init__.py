"""Compressing a trained transformer: which heads matter, removing them for real, and distillation.

- :mod:`~efftx_mini.compress.gates` — a gate ξ_h on every attention head (Michel et al. 2019, §2.3)
- :mod:`~efftx_mini.compress.importance` — head importance I_h = Σ_x |∂L(x)/∂ξ_h| (Michel et al. 2019, §4.1,
  Eq. 2) and single-head ablation (§3.2)
- :mod:`~efftx_mini.compress.removal` — structured removal: drop a head's rows of W^Q, W^K, W^V and its
  columns of W^O, so the pruned model is a smaller dense model
- :mod:`~efftx_mini.compress.iterative` — pruning orders: by importance (computed once, as in §4.2's
  Fig. 3, or recomputed before every step, the authors' ``--exact_pruning`` option) and at random
- :mod:`~efftx_mini.compress.distill` — knowledge distillation with soft targets at temperature τ
  (Hinton et al. 2015, §2)
"""

from .distill import distillation_loss, soft_target_loss
from .gates import add_head_gates, attention_layers, gate_values, set_gates
from .importance import ablation_scores, head_importance
from .iterative import iterative_pruning, pruning_order, random_order
from .removal import ShrunkMultiHeadAttention, remove_heads, shrink_attention

__all__ = [
    "add_head_gates", "attention_layers", "gate_values", "set_gates",
    "head_importance", "ablation_scores",
    "ShrunkMultiHeadAttention", "shrink_attention", "remove_heads",
    "pruning_order", "random_order", "iterative_pruning",
    "distillation_loss", "soft_target_loss",
]
