"""Quantizing a whole model by scheme name, and measuring what it stores.

Schemes (``parse_scheme``): ``fp32``; ``int8-dynamic`` (:class:`Int8DynamicLinear`); ``llm.int8`` (threshold 6,
:class:`LLMInt8Linear`); ``w<b>-rtn-g<g>``, ``w<b>-gptq-g<g>``, ``w<b>-awq-g<g>`` (b-bit weights, groups of g
input columns; ``g0`` = one group per row). Every scheme replaces the ``nn.Linear`` layers inside the
transformer blocks; embeddings, norms, the patch embedding and the output head (``head``, ``generator``: tied to
the embedding in the LM) stay in float32, as in the papers' setups (GPTQ, AWQ and LLM.int8 quantize the
blocks' linear layers).

GPTQ and AWQ need calibration data: ``calibrate(model)`` runs the model over it (no gradients). Layers are
quantized *sequentially* in the model's module order, each seeing the inputs produced by the layers already
quantized before it (GPTQ's ``--true-sequential`` idea at the granularity of single layers).

:func:`unfuse_attention` turns the chapter-5 transformer's fused ``in_proj_weight`` (Q, K, V in one matrix
used through ``F.linear``) into three ``nn.Linear`` layers with the same numbers, so that its projections can be
quantized like any other linear layer.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..attention import MultiHeadAttention
from .awq import awq_quantize
from .dynamic import Int8DynamicLinear
from .gptq import HessianAccumulator, gptq_quantize
from .llm_int8 import LLMInt8Linear
from .weight_only import WeightOnlyLinear, rtn_quantize

__all__ = ["Scheme", "parse_scheme", "quantizable_linears", "quantize_model", "unfuse_attention", "model_bytes",
           "capture_inputs", "SKIP"]

#: Names (last component) of linear layers no scheme touches: the output heads.
SKIP = ("head", "generator")

_W = re.compile(r"^w(\d+)-(rtn|gptq|awq)-g(\d+)$")


@dataclass(frozen=True)
class Scheme:
    """A parsed scheme name: kind ∈ {fp32, int8-dynamic, llm.int8, rtn, gptq, awq}, bits, group size (None =
    per row)."""

    name: str
    kind: str
    bits: int = 32
    group_size: int | None = None

    @property
    def needs_calibration(self) -> bool:
        return self.kind in ("gptq", "awq")


def parse_scheme(name: str) -> Scheme:
    """``fp32``, ``int8-dynamic``, ``llm.int8`` or ``w<bits>-<rtn|gptq|awq>-g<group>`` (g0 = per row)."""
    if name in ("fp32", "int8-dynamic", "llm.int8"):
        return Scheme(name, name, 8 if name != "fp32" else 32)
    m = _W.match(name)
    if not m:
        raise ValueError(f"unknown scheme {name!r}; expected fp32, int8-dynamic, llm.int8 or w<bits>-<rtn|gptq|awq>"
                         "-g<group>, e.g. w4-gptq-g128")
    bits, kind, g = int(m.group(1)), m.group(2), int(m.group(3))
    if not 2 <= bits <= 8:
        raise ValueError(f"weight bits must be in [2, 8], got {bits} in {name!r}")
    return Scheme(name, kind, bits, g or None)


def quantizable_linears(model: nn.Module, skip: tuple[str, ...] = SKIP) -> list[tuple[str, nn.Linear]]:
    """(name, layer) of every nn.Linear that a scheme replaces, in module order (heads in ``skip`` excluded)."""
    return [(n, m) for n, m in model.named_modules() if type(m) is nn.Linear and n.split(".")[-1] not in skip]


def _set(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def capture_inputs(model: nn.Module, layer: nn.Module, calibrate: Callable[[nn.Module], None],
                   sink: Callable[[Tensor], None]) -> None:
    """Run ``calibrate(model)`` with a hook that hands every input of ``layer`` to ``sink``."""
    handle = layer.register_forward_pre_hook(lambda _m, args: sink(args[0].detach()))
    try:
        with torch.no_grad():
            calibrate(model)
    finally:
        handle.remove()


def quantize_model(model: nn.Module, scheme: str | Scheme, calibrate: Callable[[nn.Module], None] | None = None,
                   *, threshold: float = 6.0, skip: tuple[str, ...] = SKIP, max_tokens: int = 4096) -> nn.Module:
    """A quantized copy of ``model`` (in eval mode; the original is untouched).

    ``calibrate(model)`` is required by GPTQ and AWQ; AWQ keeps at most ``max_tokens`` calibration inputs per
    layer (evenly spaced), GPTQ accumulates its Hessian over all of them."""
    sch = parse_scheme(scheme) if isinstance(scheme, str) else scheme
    q = copy.deepcopy(model).eval()
    if sch.kind == "fp32":
        return q
    if sch.needs_calibration and calibrate is None:
        raise ValueError(f"scheme {sch.name!r} needs calibration data: pass calibrate=fn(model) that runs the "
                         "model on it")
    for name, lin in quantizable_linears(q, skip):
        if sch.kind == "int8-dynamic":
            new: nn.Module = Int8DynamicLinear(lin)
        elif sch.kind == "llm.int8":
            new = LLMInt8Linear(lin, threshold=threshold)
        elif sch.kind == "rtn":
            codes, qp = rtn_quantize(lin.weight.detach().float().cpu(), sch.bits, sch.group_size)
            new = WeightOnlyLinear(codes, qp, lin.bias, method="rtn")
        elif sch.kind == "gptq":
            acc = HessianAccumulator(lin.in_features)
            capture_inputs(q, lin, calibrate, acc.add)
            codes, qp = gptq_quantize(lin.weight.detach().float().cpu(), acc.H, sch.bits, sch.group_size)
            new = WeightOnlyLinear(codes, qp, lin.bias, method="gptq")
        else:  # awq
            xs: list[Tensor] = []
            capture_inputs(q, lin, calibrate, lambda x, xs=xs: xs.append(x.reshape(-1, x.shape[-1]).cpu()))
            X = torch.cat(xs)
            X = X[:: max(1, X.shape[0] // max_tokens)][:max_tokens]
            codes, qp, s, _ = awq_quantize(lin.weight.detach().float().cpu(), X, sch.bits, sch.group_size)
            new = WeightOnlyLinear(codes, qp, lin.bias, input_scale=s, method="awq")
        _set(q, name, new.to(lin.weight.device))
    return q


def model_bytes(model: nn.Module) -> int:
    """Bytes a model keeps for inference: float parameters and buffers (shared tensors counted once) plus what
    every quantized layer stores (its ``storage_bytes()``)."""
    seen: set[int] = set()
    total = 0
    quantized = [m for m in model.modules() if hasattr(m, "storage_bytes")]
    inside = {id(t) for m in quantized for t in list(m.parameters()) + list(m.buffers())}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) in inside or t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total + sum(int(m.storage_bytes()) for m in quantized)


class _UnfusedMHA(MultiHeadAttention):
    """MultiHeadAttention whose Q, K, V projections are three nn.Linear layers holding the rows of in_proj."""

    def __init__(self, mha: MultiHeadAttention) -> None:
        bias = mha.in_proj_bias is not None
        super().__init__(mha.d_model, mha.n_heads, mha.dropout, bias=bias)
        d, w = mha.d_model, mha.in_proj_weight.detach()
        del self.in_proj_weight, self.in_proj_bias
        self.in_proj_weight = self.in_proj_bias = None
        self.out_proj.load_state_dict(mha.out_proj.state_dict())
        self.store_weights = mha.store_weights
        for i, proj in enumerate(("q_proj", "k_proj", "v_proj")):
            lin = nn.Linear(d, d, bias=bias)
            with torch.no_grad():
                lin.weight.copy_(w[i * d:(i + 1) * d])
                if bias:
                    lin.bias.copy_(mha.in_proj_bias.detach()[i * d:(i + 1) * d])
            setattr(self, proj, lin)
        self.to(w.device, w.dtype)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.q_proj(query), self.k_proj(key), self.v_proj(value)


def unfuse_attention(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in which every :class:`efftx_mini.attention.MultiHeadAttention` computes Q, K and V with
    three ``nn.Linear`` layers (``q_proj``, ``k_proj``, ``v_proj``) holding the rows of its ``in_proj_weight``."""
    model = copy.deepcopy(model)
    for name, mha in list(model.named_modules()):
        if type(mha) is not MultiHeadAttention:
            continue
        if mha.head_gates is not None:
            raise ValueError(f"{name}: unfuse_attention does not handle head gates; remove them first")
        _set(model, name, _UnfusedMHA(mha).train(mha.training))
    return model
