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
