"""CUDA checks: the same numbers on the GPU. Marked `cuda`; reported as skipped on a CPU-only machine."""

from __future__ import annotations

import pytest
import torch

from efftx_mini.attention import MultiHeadAttention, scaled_dot_product_attention
from efftx_mini.transformer import Transformer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)"),
]


@pytest.mark.parametrize("need_weights", [False, True])
def test_attention_on_cuda_matches_cpu(need_weights):
    q, k, v = (torch.randn(2, 4, 33, 16) for _ in range(3))
    mask = torch.rand(2, 1, 33, 33) > 0.3
    mask[0, 0, 5] = False
    ref, _ = scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
    out, _ = scaled_dot_product_attention(q.cuda(), k.cuda(), v.cuda(), mask.cuda(), need_weights=need_weights)
    torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=1e-4)
    assert torch.all(out[0, :, 5] == 0)


def test_mha_and_transformer_on_cuda_match_cpu():
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4)
    x = torch.randn(2, 9, 32)
    ref = mha(x, x, x)[0]
    torch.testing.assert_close(mha.cuda()(x.cuda(), x.cuda(), x.cuda())[0].cpu(), ref, atol=1e-4, rtol=1e-4)
    m = Transformer(20, 20, d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.0).eval()
    src, tgt = torch.randint(1, 20, (2, 7)), torch.randint(1, 20, (2, 5))
    ref = m(src, tgt)
    torch.testing.assert_close(m.cuda()(src.cuda(), tgt.cuda()).cpu(), ref, atol=1e-4, rtol=1e-4)
