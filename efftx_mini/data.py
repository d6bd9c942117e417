"""Batches, tokenizers and two offline seq2seq tasks for training the transformer (Vaswani et al. 2017, §5.1).

Nothing is downloaded: the copy task (The Annotated Transformer) is random, and the numbers task
(English number words → Korean numerals, e.g. "three hundred twenty-one" → "삼백이십일") is generated.
Shapes: src (B, S), tgt (B, T) token ids; the decoder reads tgt[:, :-1] and predicts tgt[:, 1:].
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_tokens, shape_str
from .masks import causal_mask, padding_mask

__all__ = [
    "PAD", "BOS", "EOS", "UNK", "SPECIALS",
    "Tokenizer", "Batch", "make_batch", "pad_sequences",
    "english_number", "korean_number", "NumbersTask", "CopyTask", "BatchStream",
]

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = 0, 1, 2, 3


# -- tokenizer ------------------------------------------------------------------------------------
_WORD_RE = re.compile(r"[^\W_]+|[^\w\s]")


class Tokenizer:
    """Character- or word-level tokenizer with ids 0–3 = <pad>, <bos>, <eos>, <unk>.

    Word level splits on spaces and keeps punctuation (e.g. "-") as its own token; ``decode`` glues "-"
    back to its neighbours, so number words round-trip: "twenty-one" → [twenty, -, one] → "twenty-one".
    """

    def __init__(self, symbols: Iterable[str], level: str = "char") -> None:
        if level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {level!r}")
        self.level = level
        seen: dict[str, None] = dict.fromkeys(SPECIALS)
        for s in symbols:
            seen.setdefault(s, None)
        self.itos: list[str] = list(seen)
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def fit(cls, texts: Iterable[str], level: str = "char") -> Tokenizer:
        """Build the vocabulary from texts, symbols sorted so that the ids do not depend on text order."""
        symbols: set[str] = set()
        for t in texts:
            symbols.update(cls._split(t, level))
        return cls(sorted(symbols), level)

    @staticmethod
    def _split(text: str, level: str) -> list[str]:
        return list(text) if level == "char" else _WORD_RE.findall(text)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def tokenize(self, text: str) -> list[str]:
        return self._split(text, self.level)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(s, UNK) for s in self.tokenize(text)]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """Ids → text; skips <pad>/<bos> and stops at the first <eos>."""
        return self.join(self.decode_tokens(ids))

    def decode_tokens(self, ids: Sequence[int] | Tensor) -> list[str]:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        out: list[str] = []
        for i in ids:
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else SPECIALS[UNK])
        return out

    def join(self, tokens: Sequence[str]) -> str:
        if self.level == "char":
            return "".join(tokens)
        return " ".join(tokens).replace(" - ", "-")

    def state_dict(self) -> dict[str, object]:
        return {"level": self.level, "itos": list(self.itos[len(SPECIALS):])}

    @classmethod
    def from_state_dict(cls, state: dict[str, object]) -> Tokenizer:
        return cls(list(state["itos"]), str(state["level"]))  # type: ignore[arg-type]


# -- batches --------------------------------------------------------------------------------------
def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int = PAD) -> Tensor:
    """Right-pad lists of ids into one (B, T_max) long tensor."""
    if len(seqs) == 0:
        raise ValueError("pad_sequences needs at least one sequence, got 0")
    T = max(len(s) for s in seqs)
    out = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out


@dataclass
class Batch:
    """One training batch: src (B, S), tgt_in = tgt[:, :-1] and tgt_out = tgt[:, 1:] (B, T−1),
    src_mask (B, 1, 1, S), tgt_mask (B, 1, T−1, T−1) = causal ∧ not-pad, n_tokens = non-pad labels."""

    src: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    src_mask: Tensor
    tgt_mask: Tensor
    n_tokens: int

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device),
            self.src_mask.to(device), self.tgt_mask.to(device), self.n_tokens,
        )


def make_batch(src: Tensor, tgt: Tensor, pad_id: int = PAD) -> Batch:
    """Shift the targets (teacher forcing, §3.1) and build the padding and causal masks."""
    check_tokens(src, "src")
    check_tokens(tgt, "tgt")
    if src.shape[0] != tgt.shape[0]:
        raise ValueError(f"src and tgt must have the same batch size, got {shape_str(src.shape)} and "
                         f"{shape_str(tgt.shape)}")
    if tgt.shape[1] < 2:
        raise ValueError(f"tgt needs at least 2 positions (<bos> and one label), got {shape_str(tgt.shape)}")
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    src_mask = padding_mask(src, pad_id)  # (B, 1, 1, S)
    tgt_mask = causal_mask(tgt_in.shape[1], device=tgt.device)[None, None] & padding_mask(tgt_in, pad_id)
    return Batch(src, tgt_in, tgt_out, src_mask, tgt_mask, int((tgt_out != pad_id).sum()))


# -- the numbers task -----------------------------------------------------------------------------
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_KO_DIGITS = ("", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")


def _english_below_1000(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else ""))
    elif n > 0:
        words.append(_ONES[n])
    return words


def english_number(n: int) -> str:
    """0 ≤ n < 10⁶ in English words (American style, no "and"): 321 → "three hundred twenty-one"."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"n must be in [0, 1000000), got {n}")
    if n == 0:
        return "zero"
    words = []
    if n >= 1000:
        words += _english_below_1000(n // 1000) + ["thousand"]
    words += _english_below_1000(n % 1000)
    return " ".join(words)


def _korean_below_10000(n: int) -> str:
    out = ""
    for unit, name in ((1000, "천"), (100, "백"), (10, "십")):
        d = n // unit % 10
        if d:
            out += ("" if d == 1 else _KO_DIGITS[d]) + name
    return out + _KO_DIGITS[n % 10]


def korean_number(n: int) -> str:
    """0 ≤ n < 10⁶ in Sino-Korean numerals: 321 → "삼백이십일", 321000 → "삼십이만천" (units of 만 = 10⁴)."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"n must be in [0, 1000000), got {n}")
    if n == 0:
        return "영"
    man, rest = divmod(n, 10_000)
    head = "" if man == 0 else ("만" if man == 1 else _korean_below_10000(man) + "만")
    return head + _korean_below_10000(rest)


class NumbersTask:
    """English number words → Korean numerals over 0 ≤ n < ``max_value``, with fixed disjoint splits.

    The numbers are shuffled once by a seeded generator: the first ``n_test`` are the test split, the next
    ``n_valid`` the validation split, the rest the training split. Same arguments → same splits, always.
    """

    name = "numbers"

    def __init__(self, max_value: int = 1_000_000, n_valid: int = 1000, n_test: int = 1000, seed: int = 1234) -> None:
        if not 0 < max_value <= 1_000_000:
            raise ValueError(f"max_value must be in (0, 1000000], got {max_value}")
        if n_valid + n_test >= max_value:
            raise ValueError(f"n_valid + n_test must be < max_value, got {n_valid} + {n_test} ≥ {max_value}")
        self.max_value = max_value
        perm = torch.randperm(max_value, generator=torch.Generator().manual_seed(seed))
        self.splits: dict[str, Tensor] = {
            "test": perm[:n_test].sort().values,
            "valid": perm[n_test : n_test + n_valid].sort().values,
            "train": perm[n_test + n_valid :],
        }
        words = [english_number(n) for n in range(0, 1000, 1)] + ["thousand"]
        self.src_tok = Tokenizer.fit(words, level="word")
        self.tgt_tok = Tokenizer(list("영일이삼사오육칠팔구십백천만"), level="char")

    def pair(self, n: int) -> tuple[str, str]:
        return english_number(n), korean_number(n)

    def examples(self, split: str) -> list[tuple[str, str]]:
        return [self.pair(int(n)) for n in self.splits[split]]

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> tuple[Tensor, Tensor]:
        """(src text, tgt text) pairs → src (B, S) without specials, tgt (B, T) = <bos> … <eos>."""
        src = pad_sequences([self.src_tok.encode(s) for s, _ in pairs])
        tgt = pad_sequences([self.tgt_tok.encode(t, bos=True, eos=True) for _, t in pairs])
        return src, tgt

    def batch(self, indices: Tensor) -> Batch:
        """A training batch from positions into the training split."""
        nums = self.splits["train"][indices]
        return make_batch(*self.encode_pairs([self.pair(int(n)) for n in nums]))

    @property
    def n_train(self) -> int:
        return len(self.splits["train"])


class CopyTask:
    """The copy task of The Annotated Transformer: src = random symbols, tgt = <bos> src <eos>.

    Symbols are ids 4 … vocab−1 (ids 0–3 are the specials); every target starts with the same <bos>.
    Training batches come from seeded generators; the held-out set uses a different seed stream.
    """

    name = "copy"

    def __init__(self, n_symbols: int = 10, seq_len: int = 10, seed: int = 0) -> None:
        self.n_symbols, self.seq_len, self.seed = n_symbols, seq_len, seed
        self.src_tok = self.tgt_tok = Tokenizer([f"s{i}" for i in range(n_symbols)], level="word")

    @property
    def vocab_size(self) -> int:
        return self.n_symbols + len(SPECIALS)

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        src = torch.randint(len(SPECIALS), self.vocab_size, (n, self.seq_len), generator=generator)
        bos = torch.full((n, 1), BOS, dtype=torch.long)
        eos = torch.full((n, 1), EOS, dtype=torch.long)
        return src, torch.cat([bos, src, eos], dim=1)

    def heldout(self, n: int = 100) -> tuple[Tensor, Tensor]:
        return self.sample(n, torch.Generator().manual_seed(10_000_019 + self.seed))


class BatchStream:
    """Batch number ``step`` is a pure function of (seed, step), so a resumed run sees the same data order.

    For a finite training set, each epoch is a seeded permutation cut into ``batch_size`` blocks (the
    remainder is dropped); ``position(step)`` gives (epoch, index in epoch) for the checkpoint.
    """

    def __init__(self, make: Callable[[Tensor], Batch] | None, n_examples: int | None, batch_size: int,
                 seed: int = 0, sampler: Callable[[torch.Generator], Batch] | None = None) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if sampler is None and (make is None or n_examples is None or n_examples < batch_size):
            raise ValueError(f"need make and n_examples ≥ batch_size={batch_size}, got n_examples={n_examples}")
        self.make, self.n, self.batch_size, self.seed, self.sampler = make, n_examples, batch_size, seed, sampler
        self._perm: tuple[int, Tensor] | None = None

    @property
    def batches_per_epoch(self) -> int | None:
        return None if self.n is None or self.sampler is not None else self.n // self.batch_size

    def position(self, step: int) -> dict[str, int]:
        bpe = self.batches_per_epoch
        if bpe is None:
            return {"epoch": 0, "index": step}
        return {"epoch": step // bpe, "index": step % bpe}

    def batch(self, step: int) -> Batch:
        if self.sampler is not None:
            return self.sampler(torch.Generator().manual_seed(self.seed * 1_000_003 + step))
        pos = self.position(step)
        if self._perm is None or self._perm[0] != pos["epoch"]:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + pos["epoch"])
            self._perm = (pos["epoch"], torch.randperm(self.n, generator=g))  # type: ignore[arg-type]
        i = pos["index"] * self.batch_size
        assert self.make is not None
        return self.make(self._perm[1][i : i + self.batch_size])
