"""AutoFormer's evolutionary search (Chen et al. 2021, §3; the authors' ``evolution.py``) under a budget.

A candidate is legal when it satisfies the budget (here FLOPs ≤ a limit; AutoFormer limits parameters). Start
from ``population`` random legal candidates; every generation keeps the ``select`` best seen so far and builds the
next population from ``mutation`` mutants of them (the depth and the width d, and here the patch size, resampled
with probability ``s_prob``; each block's heads and MLP ratio with probability ``m_prob``), ``crossover`` children
of two of them with the same depth (each gene from either parent), and random legal candidates to fill up. A
candidate is scored once (``fitness``: higher is better) and never re-entered.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .space import Arch, SearchSpace

__all__ = ["SearchResult", "evolve", "mutate", "crossover"]


@dataclass
class SearchResult:
    """The best candidate, every scored candidate in order, the top-``select`` per generation, wall seconds and
    CPU seconds (``time.process_time``: all threads of this process) spent."""

    best: Arch
    best_fitness: float
    scored: dict[str, float] = field(default_factory=dict)
    generations: list[list[str]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def evaluations(self) -> int:
        return len(self.scored)


def mutate(arch: Arch, space: SearchSpace, rng: random.Random, m_prob: float, s_prob: float) -> Arch:
    """AutoFormer's mutation: new depth (extend with random blocks / truncate) and new d with prob. ``s_prob``
    (here also a new patch size), each block's ratio and heads resampled with prob. ``m_prob``."""
    heads, ratios = list(arch.heads), list(arch.mlp_ratios)
    if rng.random() < s_prob:
        depth = rng.choice(space.depths)
        heads = (heads + [rng.choice(space.heads) for _ in range(depth)])[:depth]
        ratios = (ratios + [rng.choice(space.mlp_ratios) for _ in range(depth)])[:depth]
    ratios = [rng.choice(space.mlp_ratios) if rng.random() < m_prob else r for r in ratios]
    heads = [rng.choice(space.heads) if rng.random() < m_prob else h for h in heads]
    d = rng.choice(space.d_models) if rng.random() < s_prob else arch.d_model
    p = rng.choice(space.patches) if rng.random() < s_prob else arch.patch
    return Arch(p, d, tuple(heads), tuple(ratios))


def crossover(a: Arch, b: Arch, rng: random.Random) -> Arch:
    """Each gene (patch, d, every block's heads and ratio) from either parent; the parents share a depth."""
    if a.depth != b.depth:
        raise ValueError(f"crossover needs parents of the same depth, got {a.depth} and {b.depth}")
    pick = lambda u, v: u if rng.random() < 0.5 else v  # noqa: E731
    return Arch(pick(a.patch, b.patch), pick(a.d_model, b.d_model),
                tuple(pick(u, v) for u, v in zip(a.heads, b.heads, strict=True)),
                tuple(pick(u, v) for u, v in zip(a.mlp_ratios, b.mlp_ratios, strict=True)))


def evolve(space: SearchSpace, fitness: Callable[[Arch], float], legal: Callable[[Arch], bool], *,
           population: int = 20, select: int = 5, mutation: int = 8, crossover_n: int = 8, generations: int = 8,
           m_prob: float = 0.2, s_prob: float = 0.4, seed: int = 0, max_tries: int = 10_000) -> SearchResult:
    """The best legal architecture found by ``generations`` rounds of AutoFormer's evolution under ``legal``."""
    if not 0 < select <= population or mutation + crossover_n > population:
        raise ValueError(f"need 0 < select ≤ population and mutation + crossover ≤ population, got select={select}, "
                         f"population={population}, mutation={mutation}, crossover={crossover_n}")
    rng = random.Random(seed)
    t0, c0 = time.perf_counter(), time.process_time()
    scored: dict[Arch, float] = {}
    tried: set[Arch] = set()
    history: list[list[str]] = []

    def admit(make: Callable[[], Arch], n: int, out: list[Arch]) -> None:
        """Append up to n new legal candidates from ``make`` (each tried once, as AutoFormer's ``vis_dict``)."""
        goal, tries = len(out) + n, 0
        while len(out) < goal and tries < max_tries:
            tries += 1
            a = make()
            if a in tried:
                continue
            tried.add(a)
            if legal(a):
                scored[a] = float(fitness(a))
                out.append(a)

    cands: list[Arch] = []
    admit(lambda: space.sample(rng), population, cands)
    if not scored:
        raise ValueError("no legal architecture found: the budget excludes every sampled candidate")
    for _ in range(generations):
        top = sorted(scored, key=scored.__getitem__, reverse=True)[:select]
        history.append([a.key for a in top])
        cands = []
        admit(lambda top=top: mutate(rng.choice(top), space, rng, m_prob, s_prob), mutation, cands)

        def child(top: list[Arch] = top) -> Arch:
            a = rng.choice(top)
            return crossover(a, rng.choice([b for b in top if b.depth == a.depth]), rng)

        admit(child, crossover_n, cands)
        admit(lambda: space.sample(rng), population - len(cands), cands)
    best = max(scored, key=scored.__getitem__)
    history.append([a.key for a in sorted(scored, key=scored.__getitem__, reverse=True)[:select]])
    return SearchResult(best, scored[best], {a.key: v for a, v in scored.items()}, history,
                        time.perf_counter() - t0, time.process_time() - c0)
