"""The LLaMA block (RMSNorm, SwiGLU, RoPE, GQA) against ``transformers``' ``LlamaDecoderLayer`` with copied weights,
values and gradients in float64; SwiGLU against Shazeer 2020, Eq. (6); the LLaMA LM's pieces.

Weight layout: RoFormer and Meta's LLaMA code rotate interleaved pairs (x_{2i}, x_{2i+1}); ``transformers`` rotates
(x_i, x_{i+d_h/2}) and its conversion script permutes the rows of W^Q and W^K within each head to match. The test
copies our weights with that permutation, so the two layers compute the same function.

Precision: ``LlamaRMSNorm`` computes the RMS in float32 even for float64 input. The exact (1e-10) comparison
replaces that one cast (same formula, in the input's dtype); the unpatched layer is compared at 1e-4.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from efftx_mini.blocks import LlamaBlock, PreLNBlock, get_block, llama_d_ff, swiglu
from efftx_mini.generate import generate
from efftx_mini.lm import DecoderOnlyLM

transformers = pytest.importorskip("transformers")
from transformers.models.llama.modeling_llama import (  # noqa: E402
    LlamaConfig,
    LlamaDecoderLayer,
    LlamaRMSNorm,
    LlamaRotaryEmbedding,
)

D, H, KV, DFF, BASE, EPS = 32, 4, 2, 48, 10000.0, 1e-6
DH = D // H


def _config(n_kv: int = KV) -> LlamaConfig:
    cfg = LlamaConfig(hidden_size=D, intermediate_size=DFF, num_attention_heads=H, num_key_value_heads=n_kv,
                      rms_norm_eps=EPS, head_dim=DH, max_position_embeddings=64, attention_bias=False,
                      mlp_bias=False, rope_parameters={"rope_type": "default", "rope_theta": BASE})
    cfg._attn_implementation = "sdpa"  # softmax in the input dtype (eager takes it in float32)
    return cfg


def _half_split_rows(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of W^Q or W^K from interleaved pairs (2i, 2i+1) to transformers' half-split layout (i, i + d_h/2)."""
    perm = torch.cat([torch.arange(0, DH, 2), torch.arange(1, DH, 2)])
    return w.reshape(n_heads, DH, -1)[:, perm].reshape(n_heads * DH, -1)


def _pair(n_kv: int = KV, seed: int = 0) -> tuple[LlamaBlock, LlamaDecoderLayer]:
    torch.manual_seed(seed)
    ours = LlamaBlock(D, H, DFF, causal=True, n_kv_heads=n_kv).double()
    with torch.no_grad():
        for p in ours.parameters():  # random norm gains too, so that every weight matters
            p.add_(0.2 * torch.randn_like(p))
    hf = LlamaDecoderLayer(_config(n_kv), layer_idx=0).double()
    wq, wk, wv = ours.qkv.weight.split([D, n_kv * DH, n_kv * DH])
    gate, up = ours.fc1.weight.chunk(2)
    with torch.no_grad():
        hf.self_attn.q_proj.weight.copy_(_half_split_rows(wq, H))
        hf.self_attn.k_proj.weight.copy_(_half_split_rows(wk, n_kv))
        hf.self_attn.v_proj.weight.copy_(wv)
        hf.self_attn.o_proj.weight.copy_(ours.proj.weight)
        hf.mlp.gate_proj.weight.copy_(gate)
        hf.mlp.up_proj.weight.copy_(up)
        hf.mlp.down_proj.weight.copy_(ours.fc2.weight)
        hf.input_layernorm.weight.copy_(ours.norm1.weight)
        hf.post_attention_layernorm.weight.copy_(ours.norm2.weight)
    return ours, hf


def _rope_cos_sin(positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' default rope formula (cos, sin of cat(freqs, freqs)), computed in float64: (B, T, d_h)."""
    inv_freq = 1.0 / BASE ** (torch.arange(0, DH, 2, dtype=torch.float64) / DH)
    freqs = positions.double()[..., None] * inv_freq
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def test_rope_reference_is_transformers_rotary_embedding() -> None:
    pos = torch.arange(20)[None]
    cos, sin = LlamaRotaryEmbedding(_config())(torch.zeros(1, 20, D), pos)
    rc, rs = _rope_cos_sin(pos)
    torch.testing.assert_close(cos, rc.float(), atol=1e-5, rtol=1e-5)  # theirs is float32
    torch.testing.assert_close(sin, rs.float(), atol=1e-5, rtol=1e-5)


def _rms_in_input_dtype(self: LlamaRMSNorm, hidden_states: torch.Tensor) -> torch.Tensor:
    """LlamaRMSNorm.forward without its float32 cast: x · rsqrt(mean(x²) + eps) · g."""
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def _grads(module: nn.Module, x: torch.Tensor, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    params = dict(module.named_parameters())
    gs = torch.autograd.grad(loss, [x, *params.values()])
    return {"x": gs[0], **dict(zip(params, gs[1:], strict=True))}


@pytest.mark.parametrize("n_kv", [KV, 1, H])
@pytest.mark.parametrize("case", ["causal", "causal+padding", "bidirectional", "bidirectional+padding"])
@pytest.mark.parametrize("exact", [True, False])
def test_llama_block_equals_transformers_llama_decoder_layer_values_and_gradients(
        n_kv: int, case: str, exact: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if exact:
        monkeypatch.setattr(LlamaRMSNorm, "forward", _rms_in_input_dtype)
    tol = {"rtol": 1e-9, "atol": 1e-10} if exact else {"rtol": 1e-4, "atol": 1e-4}
    ours, hf = _pair(n_kv)
    causal = case.startswith("causal")
    ours.causal = causal
    B, T = 3, 7
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, D, generator=g, dtype=torch.float64, requires_grad=True)
    valid = torch.ones(B, T, dtype=torch.bool)
    if case.endswith("padding"):
        valid[1, :3] = False
        valid[2, :1] = False
    positions = (valid.long().cumsum(1) - 1).clamp_min(0)  # each row counts its real tokens (rope positions)
    allowed = valid[:, None, None, :].expand(B, 1, T, T)
    if causal:
        allowed = allowed & torch.ones(T, T, dtype=torch.bool).tril()
    additive = torch.zeros(B, 1, T, T, dtype=torch.float64).masked_fill(~allowed, torch.finfo(torch.float64).min)

    mask = None if case == "causal" else valid[:, None, None, :]
    out = ours(x, mask, positions=positions)
    ref = hf(x, attention_mask=additive, position_ids=positions, position_embeddings=_rope_cos_sin(positions))
    rows = valid  # padding queries: ours gives a finite row, theirs another; neither is ever used
    torch.testing.assert_close(out[rows], ref[rows], **tol)

    w = torch.randn(B, T, D, generator=g, dtype=torch.float64) * rows[..., None]
    go, gr = _grads(ours, x, (out * w).sum()), _grads(hf, x, (ref * w).sum())
    wq_o, wk_o, wv_o = go["qkv.weight"].split([D, n_kv * DH, n_kv * DH])
    gate_o, up_o = go["fc1.weight"].chunk(2)
    pairs = {
        "x": (go["x"], gr["x"]),
        "q": (_half_split_rows(wq_o, H), gr["self_attn.q_proj.weight"]),
        "k": (_half_split_rows(wk_o, n_kv), gr["self_attn.k_proj.weight"]),
        "v": (wv_o, gr["self_attn.v_proj.weight"]),
        "o": (go["proj.weight"], gr["self_attn.o_proj.weight"]),
        "gate": (gate_o, gr["mlp.gate_proj.weight"]),
        "up": (up_o, gr["mlp.up_proj.weight"]),
        "down": (go["fc2.weight"], gr["mlp.down_proj.weight"]),
        "norm1": (go["norm1.weight"], gr["input_layernorm.weight"]),
        "norm2": (go["norm2.weight"], gr["post_attention_layernorm.weight"]),
    }
    for name, (a, b) in pairs.items():
        torch.testing.assert_close(a, b, **tol, msg=lambda m, n=name: f"{n}: {m}")


def test_swiglu_is_shazeers_formula_and_llama_block_options() -> None:
    u = torch.randn(2, 5, 2 * DFF, dtype=torch.float64)
    w_part, v_part = u[..., :DFF], u[..., DFF:]
    torch.testing.assert_close(swiglu(u), w_part * torch.sigmoid(w_part) * v_part)  # Swish_1(xW) ⊙ xV
    blk = LlamaBlock(D, H, DFF, causal=True, n_kv_heads=KV)
    assert blk.norm_kind == "rms" and not blk.bias and blk.rope and blk.activation == "swiglu"
    assert blk.fc1.weight.shape == (2 * DFF, D) and blk.fc2.weight.shape == (D, DFF)
    assert blk.qkv.weight.shape == (D + 2 * KV * DH, D)
    assert get_block("llama") is LlamaBlock and isinstance(blk, PreLNBlock)
    # the same block from Pre-LN options
    pre = PreLNBlock(D, H, DFF, causal=True, n_kv_heads=KV, norm="rms", activation="swiglu", bias=False, rope=True,
                     eps=EPS)
    pre.load_state_dict(blk.state_dict())
    x = torch.randn(2, 6, D)
    torch.testing.assert_close(pre(x), blk(x))
    # parameter-matched width: 3·d·d_ff(swiglu) ≈ 2·d·4d
    assert llama_d_ff(128) == 344 and abs(3 * 344 - 2 * 512) / (2 * 512) < 0.01
    with pytest.raises(ValueError, match="activation"):
        LlamaBlock(D, H, DFF, causal=True, activation="swish")
    with pytest.raises(ValueError, match="even head size"):
        LlamaBlock(30, 10, DFF, causal=True)


def test_llama_lm_uses_rotary_positions_and_a_final_rmsnorm_and_generates_with_a_cache() -> None:
    torch.manual_seed(0)
    lm = DecoderOnlyLM("llama", 50, D, H, 2, DFF, 32, n_kv_heads=KV).eval()
    assert lm.positions == "rotary" and lm.pos is None and isinstance(lm.norm, nn.RMSNorm)
    assert lm.norm.eps == EPS
    x = torch.randint(0, 50, (1, 6))
    out = generate(lm, [[1, 2, 3], [4]], 5, greedy=True, return_logits=True)
    ref = generate(lm, [[1, 2, 3], [4]], 5, greedy=True, return_logits=True, use_cache=False)
    assert out.tokens == ref.tokens
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-5, rtol=1e-5)
    loss = lm.loss(x, x)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in lm.parameters())
    # learned positions are refused together with rope
    with pytest.raises(ValueError, match="contradicts"):
        DecoderOnlyLM("llama", 50, D, H, 2, DFF, 32, positions="learned", block_kwargs={"rope": True})
