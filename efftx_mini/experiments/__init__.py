"""Reproducible experiments: ``python -m efftx_mini.experiments.<name> --preset {smoke,cpu,gpu} [--out DIR]``.

Each writes small results files (CSV/JSON) that record the exact command, git commit, hardware and preset.
"""
