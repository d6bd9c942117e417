"""Vision transformers and cheaper variants, one module per idea (chapter 11).

Every classifier is called as ``model(images (B, C, H, W)) -> logits (B, K)``.

- :mod:`.patches` — an image as a sequence of patches; :class:`PatchEmbedding` (ViT, Eq. 1)
- :mod:`.positions` — learned and 2-D sin-cos positions for the patch grid
- :mod:`.vit` — :class:`ViT` (Dosovitskiy et al. 2021), class token or mean pooling, any block of the book
- :mod:`.pit` — :class:`PiT` (Heo et al. 2021): token pooling between stages
- :mod:`.sharing` — :class:`SharedViT`: MiniViT-style weight multiplexing (Zhang et al. 2022)
- :mod:`.distill` — :class:`DeiT` and the hard-label distillation loss (Touvron et al. 2021)
- :mod:`.cnn` — :class:`SmallCNN`, a LeNet-style baseline and teacher
- :mod:`.rollout` — attention rollout (Abnar & Zuidema 2020)
- :mod:`.flops` — FLOPs per image (``torch.utils.flop_counter``) and parameter counts
- :mod:`.training` — the training loop shared by all of them
"""

from __future__ import annotations

from .cnn import SmallCNN
from .distill import DeiT, hard_distillation_loss
from .flops import block_parameters, count_flops, parameters, vit_flops
from .patches import PatchEmbedding, check_images, patchify, unpatchify
from .pit import PiT, TokenPooling
from .positions import PatchPositions, sincos_2d
from .rollout import attention_rollout, block_attention, rollout_maps, vit_attentions
from .sharing import MultiplexedBlock, SharedViT, SharedWeights
from .training import accuracy, as_images, predict, random_shift, train_classifier
from .vit import ViT

__all__ = [
    "PatchEmbedding", "check_images", "patchify", "unpatchify", "PatchPositions", "sincos_2d", "ViT", "PiT",
    "TokenPooling", "SharedViT", "SharedWeights", "MultiplexedBlock", "DeiT", "hard_distillation_loss", "SmallCNN",
    "attention_rollout", "block_attention", "rollout_maps", "vit_attentions", "count_flops", "vit_flops",
    "parameters", "block_parameters", "accuracy", "as_images", "predict", "random_shift", "train_classifier",
]
