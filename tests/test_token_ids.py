"""Every model that embeds tokens rejects an id outside its vocabulary with a ValueError naming the
vocabulary size and the offending id (not nn.Embedding's bare ``IndexError: index out of range in self``)."""

from __future__ import annotations

import re

import pytest
import torch

from efftx_mini.lm import DecoderOnlyLM
from efftx_mini.tiny import TinyEncoder
from efftx_mini.transformer import Transformer

transformer = Transformer(10, 12, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0)
lm = DecoderOnlyLM("pre_ln", vocab_size=10, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=16)
tiny = TinyEncoder(10, 3, d_model=8, n_heads=2)
ok = torch.tensor([[1, 2, 3]])
bad = torch.tensor([[1, 17, 3]])

CASES = {
    "Transformer src": (lambda: transformer(bad, ok), ["17", r"src_vocab=10", r"\[0, 10\)"]),
    "Transformer tgt": (lambda: transformer(ok, torch.tensor([[1, 12]])), ["id 12", r"tgt_vocab=12"]),
    "Transformer encode, negative id": (lambda: transformer.encode(torch.tensor([[-1, 2]])), ["id -1", r"\[0, 10\)"]),
    "DecoderOnlyLM": (lambda: lm(bad), ["id 17", r"vocab_size=10"]),
    "TinyEncoder": (lambda: tiny(bad), ["id 17", r"vocab=10"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_out_of_vocabulary_id_is_a_value_error(name: str) -> None:
    call, patterns = CASES[name]
    with pytest.raises(ValueError) as info:
        call()
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (pattern, str(info.value))


def test_ids_inside_the_vocabulary_pass() -> None:
    assert transformer(ok, torch.tensor([[0, 11]])).shape == (1, 2, 12)
    assert lm(torch.tensor([[0, 9]])).shape == (1, 2, 10)
