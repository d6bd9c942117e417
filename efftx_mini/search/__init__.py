"""Searching for an efficient transformer (chapter 15), one module per idea.

- :mod:`.space` — a miniature AutoFormer space of ViTs on the digits, its seeded sampler, FLOPs, parameters
  and measured latency (Chen et al. 2021)
- :mod:`.proxies` — training-free proxies, one module each, ``score(model, batch) -> float``
- :mod:`.correlation` — Kendall's τ and Spearman's ρ, signed, with bootstrap intervals
- :mod:`.evaluation` — proxies against trained accuracy, the seed-to-seed agreement (approximately the ceiling)
- :mod:`.supernet` — a weight-entangled supernet and uniform sub-network sampling (AutoFormer)
- :mod:`.evolution` — AutoFormer's evolutionary search under a budget
"""

from __future__ import annotations

from .correlation import RankCorr, kendall_tau, paired_difference, rank_correlation, spearman_rho, tau_null_se
from .evaluation import pairwise_differences, proxy_correlations, seed_ceiling
from .evolution import SearchResult, crossover, evolve, mutate
from .space import Arch, SearchSpace, arch_flops, arch_params, build, closed_form_flops, measure_latency, space_for
from .supernet import SuperViT, UniformSampling, inherited_accuracy

__all__ = [
    "Arch", "SearchSpace", "space_for", "build", "arch_flops", "closed_form_flops", "arch_params", "measure_latency",
    "kendall_tau", "spearman_rho", "rank_correlation", "paired_difference", "tau_null_se", "RankCorr",
    "proxy_correlations", "pairwise_differences", "seed_ceiling", "SuperViT", "UniformSampling",
    "inherited_accuracy", "evolve", "mutate", "crossover", "SearchResult",
]
