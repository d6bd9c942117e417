"""One Long Range Arena task held in memory: fixed train/valid/test splits, vocabulary, classes and chance level."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["LRATask", "Split", "PAD"]

#: Padding token id in every task (ids 1… are the task's own tokens; byte and pixel tasks shift by one).
PAD = 0


@dataclass(frozen=True)
class Split:
    """``x`` (N, T) long token ids (PAD = 0) — or (N, 2, T) for a two-document task — and ``y`` (N,) long labels."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class LRATask:
    """A task: ``splits`` = {"train", "valid", "test"}; ``dual`` tasks compare two documents (x[:, 0], x[:, 1]).

    ``sampler(seed, n)``, where a task has one, draws n fresh training examples (a :class:`Split`), the same ones
    for the same seed: training can then see a new batch at every step instead of repeating ``splits["train"]``
    (which is a fixed sample of the same distribution, used for the chance level and for display).
    """

    name: str
    splits: dict[str, Split]
    vocab_size: int
    n_classes: int
    max_len: int
    dual: bool = False
    info: dict[str, object] = field(default_factory=dict)
    sampler: Callable[[int, int], Split] | None = field(default=None, repr=False, compare=False)

    @property
    def chance(self) -> float:
        """Accuracy of always guessing the most frequent training label, measured on the test split."""
        y_train, y_test = self.splits["train"].y, self.splits["test"].y
        majority = int(torch.bincount(y_train, minlength=self.n_classes).argmax())
        return float((y_test == majority).float().mean())

    def check_tokens(self, x: Tensor) -> None:
        """Clear errors for inputs this task's models cannot take."""
        if x.shape[-1] > self.max_len:
            raise ValueError(f"task {self.name!r} takes sequences of at most max_len={self.max_len} tokens, "
                             f"got length {x.shape[-1]}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size):
            raise ValueError(f"task {self.name!r} token ids must lie in [0, {self.vocab_size}), "
                             f"got range [{int(x.min())}, {int(x.max())}]")


def pad_rows(rows: list[list[int]], T: int) -> Tensor:
    """Right-pad token lists with PAD to a (N, T) long tensor (every row must fit)."""
    out = torch.full((len(rows), T), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r) > T:
            raise ValueError(f"row {i} has {len(r)} tokens, more than T={T}")
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out
