"""ListOps (Nangia & Bowman 2018), as generated for the Long Range Arena (Tay et al. 2021, §2.2.1).

A port of LRA's generator: nested prefix expressions over digits 0–9 with operators MIN, MAX, MED (median,
rounded down) and SM (sum modulo 10); the label is the expression's value (10 classes). An operator opens with
``[OP`` and closes with ``]``. LRA uses depth ≤ 10, ≤ 10 arguments and lengths 500–2,000; the presets here
shrink depth, arguments and length for a CPU.
"""

from __future__ import annotations

import random
import statistics

import torch

from ._task import LRATask, Split, pad_rows

__all__ = ["LISTOPS_TOKENS", "generate_tree", "evaluate", "tokenize", "make_listops", "outer_operator_accuracy"]

OPS = ("[MIN", "[MAX", "[MED", "[SM")
#: id 0 is PAD; then the ten digits, the four operators and the closing bracket.
LISTOPS_TOKENS: list[str] = ["<pad>", *[str(i) for i in range(10)], *OPS, "]"]
_ID = {t: i for i, t in enumerate(LISTOPS_TOKENS)}

Tree = int | tuple[str, list["Tree"]]


def generate_tree(rng: random.Random, depth: int, max_depth: int, max_args: int, value_p: float = 0.25) -> Tree:
    """LRA's recursive generator: a leaf digit with probability ``1 − value_p`` … (always at ``max_depth``)."""
    if depth >= max_depth or rng.random() > value_p:
        return rng.randrange(10)
    op = rng.choice(OPS)
    return op, [generate_tree(rng, depth + 1, max_depth, max_args, value_p) for _ in range(rng.randint(2, max_args))]


def evaluate(tree: Tree) -> int:
    """The value of an expression tree (MED = median rounded down, as LRA's ``int(np.median(·))``)."""
    if isinstance(tree, int):
        return tree
    op, args = tree
    vals = [evaluate(a) for a in args]
    if op == "[MIN":
        return min(vals)
    if op == "[MAX":
        return max(vals)
    if op == "[MED":
        return int(statistics.median(vals))
    if op == "[SM":
        return sum(vals) % 10
    raise ValueError(f"unknown operator {op!r}; expected one of {OPS}")


def tokenize(tree: Tree) -> list[str]:
    if isinstance(tree, int):
        return [str(tree)]
    op, args = tree
    return [op, *[t for a in args for t in tokenize(a)], "]"]


def parse(tokens: list[str]) -> Tree:
    """Inverse of :func:`tokenize` (for tests and for hand-written expressions like ``[MAX 2 9 ]``)."""
    pos = 0

    def node() -> Tree:
        nonlocal pos
        t = tokens[pos]
        pos += 1
        if t in OPS:
            args = []
            while tokens[pos] != "]":
                args.append(node())
            pos += 1
            return t, args
        if t.isdigit() and len(t) == 1:
            return int(t)
        raise ValueError(f"unexpected token {t!r} at position {pos - 1}; expected a digit or one of {OPS}")

    tree = node()
    if pos != len(tokens):
        raise ValueError(f"trailing tokens after position {pos}: {tokens[pos:]}")
    return tree


def make_listops(n_train: int, n_eval: int, max_len: int, *, max_depth: int = 4, max_args: int = 5,
                 min_len: int = 8, n_test: int | None = None, seed: int = 0) -> LRATask:
    """Fixed splits of distinct expressions with min_len ≤ length ≤ max_len tokens (n_train / n_eval valid /
    n_test test, default n_eval); chance = majority label."""
    if min_len > max_len or max_len < 3:
        raise ValueError(f"need 3 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    rng = random.Random(seed)
    seen: set[tuple[str, ...]] = set()
    rows: list[list[int]] = []
    labels: list[int] = []
    n_test = n_eval if n_test is None else n_test
    need = n_train + n_eval + n_test
    tries = 0
    while len(rows) < need:
        tries += 1
        if tries > 200 * need:
            raise ValueError(f"could not generate {need} ListOps expressions of {min_len}–{max_len} tokens with "
                             f"max_depth={max_depth}, max_args={max_args}")
        tree = generate_tree(rng, 1, max_depth, max_args)
        toks = tuple(tokenize(tree))
        if not min_len <= len(toks) <= max_len or toks in seen:
            continue
        seen.add(toks)
        rows.append([_ID[t] for t in toks])
        labels.append(evaluate(tree))
    x, y = pad_rows(rows, max_len), torch.tensor(labels, dtype=torch.long)
    cut = [0, n_train, n_train + n_eval, need]  # train, valid, test
    splits = {s: Split(x[a:b], y[a:b]) for s, a, b in zip(("train", "valid", "test"), cut[:-1], cut[1:], strict=True)}
    return LRATask("listops", splits, len(LISTOPS_TOKENS), 10, max_len,
                   info={"max_depth": max_depth, "max_args": max_args, "min_len": min_len, "seed": seed})


def outer_operator_accuracy(task: LRATask) -> float:
    """Test accuracy of a rule that reads only the first token: the most frequent training label for each outermost
    operator (a single digit is its own value). A baseline for what a model gets from the root alone."""
    train, test = task.splits["train"], task.splits["test"]
    best: dict[int, int] = {}
    for first in torch.unique(train.x[:, 0]).tolist():
        best[first] = int(torch.bincount(train.y[train.x[:, 0] == first], minlength=task.n_classes).argmax())
    majority = int(torch.bincount(train.y, minlength=task.n_classes).argmax())
    pred = torch.tensor([best.get(int(f), majority) for f in test.x[:, 0]])
    return float((pred == test.y).float().mean())
