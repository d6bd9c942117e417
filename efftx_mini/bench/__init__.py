"""Benchmarks, not tests: ``python -m efftx_mini.bench NAME [--json]``, NAME one of attention, train, blocks,
generate, memory, attention_scaling, vision, prune, proxies, search.

Each benchmark runs its contenders side by side in one process, interleaving the repeats, and
reports medians on the current device. Speed claims in the book come only from here.
"""
