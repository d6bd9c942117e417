"""How much memory one training step needs, without running it: a step traced on fake tensors.

Every tensor of the step (weights, gradients, optimizer state, activations) is created under PyTorch's
``FakeTensorMode`` — shapes and dtypes without storage — and PyTorch's ``MemTracker`` adds up what is alive at the
peak, by category. So a configuration meant for a 24 GB GPU is sized on a laptop in seconds.

Two warm-up steps are traced (Adam's state appears at the first ``step()``); the peak of the second is reported.
The trace runs the CPU's kernels' shape rules: attention through the math path materialises the T×T matrices
that a fused CUDA kernel would not, so for attention-heavy configurations the estimate is an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Footprint", "trace_step", "lm_footprint", "classifier_footprint", "GIB", "CUDA_CONTEXT_GIB",
           "GPU_MEMORY_GIB"]

GIB = 2**30
CUDA_CONTEXT_GIB = 1.0  # CUDA context and allocator slack, added before comparing with a card's memory
GPU_MEMORY_GIB = {"A5000": 24.0, "H100": 80.0}


@dataclass(frozen=True)
class Footprint:
    """Bytes alive at the peak of a traced training step, by category, and the peak itself."""

    params: int
    buffers: int
    grads: int
    optimizer: int
    activations: int
    temporary: int
    peak: int
    method: str

    def gib(self) -> float:
        return self.peak / GIB

    def fits(self, card_gib: float, context_gib: float = CUDA_CONTEXT_GIB) -> bool:
        """True when the peak plus the CUDA context fits in a card of ``card_gib`` GiB."""
        return self.peak / GIB + context_gib <= card_gib

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"peak_gib": round(self.gib(), 3),
                               **{f"fits_{k}": self.fits(v) for k, v in GPU_MEMORY_GIB.items()}}


def trace_step(build: Callable[[], nn.Module], batch: Callable[[], Any],
               loss: Callable[[nn.Module, Any], Tensor], *, lr: float = 1e-3,
               amp_dtype: torch.dtype | None = torch.bfloat16, device_type: str = "cpu") -> Footprint:
    """Peak memory of a training step of ``build()`` on ``batch()`` with AdamW (autocast to ``amp_dtype``).

    ``build`` and ``batch`` are called inside fake-tensor mode (they must create, not load, their tensors);
    ``loss(model, batch)`` returns the scalar to backpropagate.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    with FakeTensorMode():
        model = build()
        opt = torch.optim.AdamW(model.parameters(), lr=lr, foreach=False)
        data = batch()
        tracker = MemTracker()
        tracker.track_external(model, opt)
        with tracker:
            for i in range(2):
                with torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    value = loss(model, data)
                value.float().backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                if i == 0:
                    tracker.reset_mod_stats()
        snap = tracker.get_tracker_snapshot("peak")
    totals: dict[str, int] = {}
    for per_device in snap.values():
        for key, value in per_device.items():
            name = str(key).rsplit(".", 1)[-1].upper()
            totals[name] = totals.get(name, 0) + int(value)
    return Footprint(params=totals.get("PARAM", 0), buffers=totals.get("BUFFER", 0), grads=totals.get("GRAD", 0),
                     optimizer=totals.get("OPT", 0), activations=totals.get("ACT", 0),
                     temporary=totals.get("TEMP", 0), peak=totals.get("TOTAL", 0),
                     method="FakeTensorMode + MemTracker, 2 AdamW steps"
                            + (f", autocast {str(amp_dtype).split('.')[-1]}" if amp_dtype is not None else ", fp32"))


def lm_footprint(build: Callable[[], nn.Module], batch: int, T: int, vocab: int, *,
                 amp_dtype: torch.dtype | None = torch.bfloat16) -> Footprint:
    """:func:`trace_step` of a language model ``build()`` (tokens (B, T) → logits (B, T, V)) on a (batch, T) batch
    with next-token cross-entropy."""
    import torch.nn.functional as F

    def loss(model: nn.Module, xy: Tensor) -> Tensor:
        logits = model(xy[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), xy[:, 1:].reshape(-1))

    return trace_step(build, lambda: torch.randint(0, vocab, (batch, T + 1)), loss, amp_dtype=amp_dtype)


def classifier_footprint(build: Callable[[], nn.Module], batch: int, shape: tuple[int, ...], n_classes: int, *,
                         amp_dtype: torch.dtype | None = torch.bfloat16, vocab: int | None = None) -> Footprint:
    """:func:`trace_step` of a classifier ``build()`` (inputs (B, *shape) → logits (B, n_classes)) on ``batch``
    random inputs with cross-entropy: Gaussian inputs, or token ids in [1, vocab) when ``vocab`` is given (id 0, the
    padding, is left out, so every sequence has its full length)."""
    import torch.nn.functional as F

    def data() -> tuple[Tensor, Tensor]:
        x = torch.randn(batch, *shape) if vocab is None else torch.randint(1, vocab, (batch, *shape))
        return x, torch.randint(0, n_classes, (batch,))

    return trace_step(build, data, lambda m, xy: F.cross_entropy(m(xy[0]).float(), xy[1]), amp_dtype=amp_dtype)
