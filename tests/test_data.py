"""Data: number words, disjoint splits, tokenizer round trips, batches with shifted targets and masks."""

import pytest
import torch

from efftx_mini.data import (
    BOS,
    EOS,
    PAD,
    UNK,
    BatchStream,
    CopyTask,
    NumbersTask,
    Tokenizer,
    english_number,
    korean_number,
    make_batch,
    pad_sequences,
)


@pytest.mark.parametrize(
    "n, en, ko",
    [
        (0, "zero", "영"),
        (7, "seven", "칠"),
        (11, "eleven", "십일"),
        (21, "twenty-one", "이십일"),
        (100, "one hundred", "백"),
        (321, "three hundred twenty-one", "삼백이십일"),
        (1001, "one thousand one", "천일"),
        (10_000, "ten thousand", "만"),
        (110_000, "one hundred ten thousand", "십일만"),
        (321_000, "three hundred twenty-one thousand", "삼십이만천"),
        (999_999, "nine hundred ninety-nine thousand nine hundred ninety-nine", "구십구만구천구백구십구"),
    ],
)
def test_number_words(n, en, ko):
    assert english_number(n) == en
    assert korean_number(n) == ko


def test_number_range_errors():
    with pytest.raises(ValueError, match="1000000"):
        english_number(1_000_000)
    with pytest.raises(ValueError, match="-1"):
        korean_number(-1)


def test_korean_numbers_are_unique():
    # a bijection: no two numbers share the same Korean (or English) spelling
    nums = range(0, 200_000, 7)
    assert len({korean_number(n) for n in nums}) == len(nums)
    assert len({english_number(n) for n in nums}) == len(nums)


def test_splits_fixed_and_disjoint():
    a, b = NumbersTask(50_000, n_valid=700, n_test=500), NumbersTask(50_000, n_valid=700, n_test=500)
    sets = {k: set(v.tolist()) for k, v in a.splits.items()}
    assert {k: len(v) for k, v in sets.items()} == {"test": 500, "valid": 700, "train": 48_800}
    assert not sets["test"] & sets["valid"] and not sets["test"] & sets["train"] and not sets["valid"] & sets["train"]
    assert sets["test"] | sets["valid"] | sets["train"] == set(range(50_000))
    for k in a.splits:
        assert torch.equal(a.splits[k], b.splits[k])
    assert a.examples("test") == b.examples("test")
    c = NumbersTask(50_000, n_valid=700, n_test=500, seed=99)
    assert not torch.equal(a.splits["test"], c.splits["test"])


def test_tokenizer_round_trip():
    task = NumbersTask(2000, n_valid=10, n_test=10)
    for n in list(range(2000)) + [123_456, 999_999, 40_017]:
        en, ko = english_number(n), korean_number(n)
        ids = task.src_tok.encode(en, bos=True, eos=True)
        assert ids[0] == BOS and ids[-1] == EOS and UNK not in ids
        assert task.src_tok.decode(ids) == en
        assert task.tgt_tok.decode(task.tgt_tok.encode(ko, bos=True, eos=True)) == ko
    assert task.src_tok.tokenize("twenty-one") == ["twenty", "-", "one"]
    assert task.src_tok.encode("eleventy") == [UNK]
    assert task.tgt_tok.decode([BOS, task.tgt_tok.stoi["삼"], EOS, task.tgt_tok.stoi["일"]]) == "삼"
    tok = Tokenizer.fit(["abc", "cab"], level="char")
    assert tok.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"] and tok.itos[4:] == ["a", "b", "c"]
    assert Tokenizer.from_state_dict(tok.state_dict()).itos == tok.itos
    with pytest.raises(ValueError, match="level"):
        Tokenizer("ab", level="byte")


def test_make_batch_shifts_and_masks():
    src = pad_sequences([[5, 6, 7], [8]])
    tgt = pad_sequences([[BOS, 4, 5, 6, EOS], [BOS, 9, EOS]])
    b = make_batch(src, tgt)
    assert torch.equal(b.tgt_in, tgt[:, :-1]) and torch.equal(b.tgt_out, tgt[:, 1:])
    assert b.n_tokens == 4 + 2
    assert b.src_mask.shape == (2, 1, 1, 3) and b.src_mask[1, 0, 0].tolist() == [True, False, False]
    assert b.tgt_mask.shape == (2, 1, 4, 4)
    # row 0: causal; row 1: causal and the padded keys 3, 4 hidden
    assert torch.equal(b.tgt_mask[0, 0], torch.ones(4, 4, dtype=torch.bool).tril())
    assert b.tgt_mask[1, 0, 3].tolist() == [True, True, True, False]
    assert b.tgt_mask[1, 0, 1].tolist() == [True, True, False, False]
    assert src[1, 1] == PAD
    with pytest.raises(ValueError, match=r"batch size.*\(2, 3\).*\(1, 5\)"):
        make_batch(src, tgt[:1])
    with pytest.raises(ValueError, match="at least 2"):
        make_batch(src, tgt[:, :1])


def test_copy_task_start_symbol():
    task = CopyTask(n_symbols=10, seq_len=6)
    src, tgt = task.sample(32, torch.Generator().manual_seed(0))
    assert (tgt[:, 0] == BOS).all() and (tgt[:, -1] == EOS).all()
    assert torch.equal(tgt[:, 1:-1], src)
    assert src.min() >= 4 and src.max() < task.vocab_size
    h1, h2 = task.heldout(), task.heldout()
    assert torch.equal(h1[0], h2[0]) and h1[0].shape == (100, 6)


def test_batch_stream_is_a_function_of_step():
    task = NumbersTask(5000, n_valid=100, n_test=100)
    s1, s2 = BatchStream(task.batch, task.n_train, 64, seed=3), BatchStream(task.batch, task.n_train, 64, seed=3)
    bpe = task.n_train // 64
    assert s1.position(bpe + 2) == {"epoch": 1, "index": 2}
    for step in (bpe + 2, 0, 5):  # out of order on purpose
        assert torch.equal(s1.batch(step).src, s2.batch(step).src)
    assert not torch.equal(s1.batch(0).src, s1.batch(bpe).src)  # a new epoch, a new order
    with pytest.raises(ValueError, match="batch_size"):
        BatchStream(task.batch, task.n_train, 0)
