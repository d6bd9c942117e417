"""Searching for an efficient transformer (chapter 15), one module per idea.

- :mod:`.space` — a miniature AutoFormer space of ViTs on the digits, its seeded sampler, FLOPs, parameters
  and measured latency
"""
