"""Benchmarks, not tests: ``python -m efftx_mini.bench NAME [--json]``, NAME one of attention, train, blocks,
generate, memory, attention_scaling, vision, prune, backbones, tokens, quant, proxies,
search.

Each benchmark runs its contenders side by side in one process, in rounds whose order is shuffled, on the
current device, and reports every speed ratio as the median of the per-round paired ratios with its 95%
bootstrap interval beside an A/A control (efftx_mini.timing). Speed claims in the book come only from here,
and only where :func:`efftx_mini.timing.verdict` says "faster" or "slower".
"""
