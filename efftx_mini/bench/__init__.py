"""Benchmarks, not tests: ``python -m efftx_mini.bench {attention,train,blocks} [--json]``.

Each benchmark runs its contenders side by side in one process, interleaving the repeats, and
reports medians on the current device. Speed claims in the book come only from here.
"""
