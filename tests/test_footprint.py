"""efftx_mini.footprint: a traced step's memory against closed forms, without allocating it."""

from __future__ import annotations

import torch
from torch import nn

from efftx_mini.footprint import GIB, trace_step


def test_an_mlp_step_matches_the_closed_form() -> None:
    """fp32 MLP: weights 4 B/param, AdamW's two moments 8 B/param; activations of a (B, d) batch at the peak."""
    d, h, B = 256, 1024, 64

    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, d))

    fp = trace_step(build, lambda: torch.randn(B, d), lambda m, x: m(x).square().mean(), amp_dtype=None)
    n_params = 2 * d * h + h + d
    assert fp.params == 4 * n_params
    # exp_avg and exp_avg_sq (8 B/param), plus the update's temporaries while step() runs (at most 4 B/param)
    assert 8 * n_params <= fp.optimizer <= 12 * n_params + 64 * 4
    # here the peak falls inside step(): weights, gradients (4 B/param) and optimizer state are alive together
    assert fp.peak >= fp.params + fp.grads + fp.optimizer and fp.grads in (0, 4 * n_params)
    assert fp.peak < 2 * (fp.params + fp.grads + fp.optimizer)


def test_activations_grow_with_the_batch_and_nothing_is_allocated() -> None:
    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(512, 4096), nn.GELU(), nn.Linear(4096, 512))

    small = trace_step(build, lambda: torch.randn(8, 512), lambda m, x: m(x).mean())
    # 4096 x 8192 floats would be 128 MiB of activations: traced, never allocated
    big = trace_step(build, lambda: torch.randn(8192, 512), lambda m, x: m(x).mean())
    assert big.params == small.params and big.activations >= 4 * 8192 * 4096  # the hidden layer is saved
    assert big.peak > 0.1 * GIB and big.fits(24.0) and not big.fits(0.05)
    assert big.as_dict()["fits_A5000"] is True
