"""Vision transformers and cheaper variants, one module per idea (chapter 11).

Every classifier is called as ``model(images (B, C, H, W)) -> logits (B, K)``.

- :mod:`.patches` — an image as a sequence of patches; :class:`PatchEmbedding` (ViT, Eq. 1)
- :mod:`.positions` — learned and 2-D sin-cos positions for the patch grid
- :mod:`.vit` — :class:`ViT` (Dosovitskiy et al. 2021), class token or mean pooling, any block of the book
- :mod:`.pit` — :class:`PiT` (Heo et al. 2021): token pooling between stages
- :mod:`.sharing` — :class:`SharedViT`: MiniViT's weight multiplexing (sharing across ``repeated_times``
  consecutive layers, head-mixing and depthwise-conv transformations) and :class:`WeightDistillationLoss`
  (Zhang et al. 2022)
- :mod:`.distill` — :class:`DeiT`, hard and soft distillation and :class:`DistillationLoss`, whose teacher
  labels the augmented batch (Touvron et al. 2021)
- :mod:`.cnn` — :class:`SmallCNN`, a LeNet-style baseline and teacher
- :mod:`.rollout` — attention rollout (Abnar & Zuidema 2020)
- :mod:`.flops` — FLOPs per image (``torch.utils.flop_counter``) and parameter counts
- :mod:`.training` — the training loop shared by all of them
"""

from __future__ import annotations

from .cnn import SmallCNN
from .distill import DeiT, DistillationLoss, hard_distillation_loss, soft_distillation_loss
from .flops import block_parameters, count_flops, parameters, vit_flops
from .patches import PatchEmbedding, check_images, patchify, unpatchify
from .pit import PiT, TokenPooling
from .positions import PatchPositions, sincos_2d
from .rollout import attention_rollout, block_attention, rollout_maps, vit_attentions
from .sharing import (
    MultiplexedBlock,
    SharedViT,
    SharedWeights,
    WeightDistillationLoss,
    head_mixed_attention,
    layer_qkv,
)
from .training import accuracy, as_images, loss_and_accuracy, predict, random_shift, train_classifier
from .vit import ViT

__all__ = [
    "PatchEmbedding", "check_images", "patchify", "unpatchify", "PatchPositions", "sincos_2d", "ViT", "PiT",
    "TokenPooling", "SharedViT", "SharedWeights", "MultiplexedBlock", "head_mixed_attention", "layer_qkv",
    "WeightDistillationLoss", "DeiT", "hard_distillation_loss", "soft_distillation_loss", "DistillationLoss",
    "SmallCNN",
    "attention_rollout", "block_attention", "rollout_maps", "vit_attentions", "count_flops", "vit_flops",
    "parameters", "block_parameters", "accuracy", "as_images", "predict", "random_shift", "train_classifier",
    "loss_and_accuracy",
]

# Chapter 12: efficient vision backbones and fewer tokens, one module per idea.
# - :mod:`.swin` — Swin (Liu et al. 2021): window attention, relative position bias, shifted windows, patch merging
# - :mod:`.mobilevit` — MobileViT (Mehta & Rastegari 2022): unfold → transformer per pixel position → fold
# - :mod:`.efficientvit` — EfficientViT (Liu et al. 2023): cascaded group attention, sandwich layout
# - :mod:`.fast_distill` — TinyViT's fast distillation (Wu et al. 2022): stored top-k teacher logits + seeds
# - :mod:`.tome` — token merging (Bolya et al. 2023); :mod:`.evit` — EViT-style pruning (Liang et al. 2022)
# - :mod:`.fuse` — BatchNorm folded into convolutions for inference (as the EfficientViT authors measure speed)
# - :mod:`.pale` — pale-shaped attention (Wu et al. 2022), the reference solution of an exercise
from .efficientvit import CascadedGroupAttention, EfficientViT, EfficientViTBlock, LocalWindowAttention  # noqa: E402
from .evit import evit_forward, keep_counts, prune_tokens  # noqa: E402
from .fast_distill import (  # noqa: E402
    StoredLogits,
    distill_classifier,
    record_teacher,
    restore_targets,
    shift_by_seed,
    soft_cross_entropy,
)
from .fuse import fuse_batchnorm  # noqa: E402
from .mobilevit import MobileViT, MobileViTBlock, fold_patches, unfold_patches  # noqa: E402
from .pale import PaleAttention, pale_mask  # noqa: E402
from .swin import (  # noqa: E402
    PatchMerging,
    Swin,
    SwinBlock,
    WindowAttention,
    region_labels,
    relative_position_index,
    shifted_window_mask,
    swin_attention_maps,
    window_partition,
    window_reverse,
)
from .tome import TokenTrace, bipartite_soft_matching, merge_wavg, tome_forward  # noqa: E402

__all__ += [
    "Swin", "SwinBlock", "WindowAttention", "PatchMerging", "window_partition", "window_reverse",
    "relative_position_index", "region_labels", "shifted_window_mask", "swin_attention_maps", "MobileViT",
    "MobileViTBlock", "unfold_patches", "fold_patches", "EfficientViT", "EfficientViTBlock", "CascadedGroupAttention",
    "LocalWindowAttention", "StoredLogits", "record_teacher", "restore_targets", "shift_by_seed",
    "soft_cross_entropy", "distill_classifier", "tome_forward", "bipartite_soft_matching", "merge_wavg",
    "TokenTrace", "evit_forward", "keep_counts", "prune_tokens", "PaleAttention", "pale_mask", "fuse_batchnorm",
]
