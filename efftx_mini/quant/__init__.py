"""Quantization: fewer bits per weight and activation, measured on the CPU (chapter 14).

- :mod:`~efftx_mini.quant.affine` — scale and zero point; symmetric and asymmetric; per tensor, channel or group;
  round-to-nearest with clamping; fake quantization with the straight-through estimator
- :mod:`~efftx_mini.quant.dynamic` — int8 dynamic linear layers on PyTorch's CPU int8 engine
- :mod:`~efftx_mini.quant.llm_int8` — LLM.int8(): vector-wise int8 and the outlier decomposition (Dettmers et al.
  2022)
- :mod:`~efftx_mini.quant.weight_only` — b-bit weights per group, round-to-nearest, packed storage
- :mod:`~efftx_mini.quant.gptq` — GPTQ (Frantar et al. 2023)
- :mod:`~efftx_mini.quant.awq` — activation-aware scaling and clipping (Lin et al. 2024)
- :mod:`~efftx_mini.quant.kv_cache` — an int8 key/value cache for :func:`efftx_mini.generate.generate`
- :mod:`~efftx_mini.quant.outliers` — outlier feature dimensions of a model's activations
- :mod:`~efftx_mini.quant.model` — quantizing a whole model by scheme name; bytes per scheme
"""

from .affine import QParams, dequantize, fake_quantize, qparams, qrange, quantize, quantize_dequantize
from .awq import activation_scale, awq_clip_search, awq_quantize, awq_scale_search
from .dynamic import Int8DynamicLinear, engine_available
from .gptq import HessianAccumulator, gptq_quantize, layer_error
from .kv_cache import Int8KVCache, quantize_vectors
from .llm_int8 import LLMInt8Linear, outlier_columns, vectorwise_int8_matmul
from .model import (
    Scheme,
    capture_inputs,
    model_bytes,
    parse_scheme,
    quantizable_linears,
    quantize_model,
    unfuse_attention,
)
from .outliers import input_stats, outlier_features
from .weight_only import WeightOnlyLinear, pack_codes, rtn_quantize, unpack_codes

__all__ = [
    "QParams", "qrange", "qparams", "quantize", "dequantize", "quantize_dequantize", "fake_quantize",
    "Int8DynamicLinear", "engine_available",
    "LLMInt8Linear", "vectorwise_int8_matmul", "outlier_columns",
    "WeightOnlyLinear", "rtn_quantize", "pack_codes", "unpack_codes",
    "gptq_quantize", "HessianAccumulator", "layer_error",
    "awq_quantize", "awq_scale_search", "awq_clip_search", "activation_scale",
    "Int8KVCache", "quantize_vectors",
    "input_stats", "outlier_features",
    "Scheme", "parse_scheme", "quantize_model", "quantizable_linears", "unfuse_attention", "model_bytes",
    "capture_inputs",
]
