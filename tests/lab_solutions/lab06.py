"""Reference solution of lab 06 (head importance and quantization)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor


def head_importance(gates: dict[str, Tensor], batches: Iterable, loss_of: Callable[[object], Tensor]
                    ) -> dict[str, Tensor]:
    names = list(gates)
    scores = {n: torch.zeros_like(gates[n]) for n in names}
    was = {n: gates[n].requires_grad for n in names}
    try:
        for n in names:
            gates[n].requires_grad_(True)
        for batch in batches:
            grads = torch.autograd.grad(loss_of(batch), [gates[n] for n in names], allow_unused=True)
            for n, g in zip(names, grads, strict=True):
                if g is not None:
                    scores[n] += (g * gates[n].detach()).abs()
    finally:
        for n in names:
            gates[n].requires_grad_(was[n])
    return {n: s / s.norm().clamp_min(1e-20) for n, s in scores.items()}


def quantize_symmetric(x: Tensor, bits: int, axis: int | None) -> tuple[Tensor, Tensor]:
    qmax = 2 ** (bits - 1) - 1
    if axis is None:
        amax = x.abs().amax()
    else:
        dims = tuple(d for d in range(x.dim()) if d != axis % x.dim())
        amax = x.abs().amax(dim=dims, keepdim=True)
    scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    return torch.clamp(torch.round(x / scale), -qmax, qmax).to(torch.int32), scale


def dequantize_symmetric(codes: Tensor, scale: Tensor) -> Tensor:
    return (codes.to(scale.dtype) * scale).float()


def _minmax(cols: Tensor, qmax: int) -> tuple[Tensor, Tensor]:
    lo = cols.amin(dim=-1, keepdim=True).clamp(max=0)
    hi = cols.amax(dim=-1, keepdim=True).clamp(min=0)
    width = hi - lo
    scale = torch.where(width > 0, width / qmax, torch.ones_like(width))
    return scale, torch.clamp(-torch.round(lo / scale), 0, qmax)


def quantize_groups(w: Tensor, bits: int, group_size: int) -> tuple[Tensor, Tensor, Tensor]:
    out, K = w.shape
    if K % group_size:
        raise ValueError(f"group_size={group_size} must divide K={K}")
    qmax = 2**bits - 1
    g = w.reshape(out, K // group_size, group_size)
    scale, zero = _minmax(g, qmax)
    q = torch.clamp(torch.round(g / scale) + zero, 0, qmax)
    return q.reshape(out, K).to(torch.int32), scale, zero


def gptq_quantize(w: Tensor, H: Tensor, bits: int, damp: float = 0.01) -> tuple[Tensor, Tensor, Tensor]:
    qmax = 2**bits - 1
    W = w.detach().double().clone()
    H = H.detach().double().clone()
    K = W.shape[1]
    H += damp * torch.diag(H).mean() * torch.eye(K, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    scale, zero = _minmax(W, qmax)
    codes = torch.zeros_like(W)
    for i in range(K):
        q = torch.clamp(torch.round(W[:, i] / scale[:, 0]) + zero[:, 0], 0, qmax)
        codes[:, i] = q
        err = (W[:, i] - (q - zero[:, 0]) * scale[:, 0]) / U[i, i]
        W[:, i:] -= err[:, None] * U[i, i:][None, :]
    return codes.to(torch.int32), scale, zero
