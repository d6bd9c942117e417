"""One switch for problem sizes: ``EFFTX_PRESET`` = ``smoke`` (tests), ``cpu`` (site build) or ``gpu``.

Every chapter and experiment reads its sizes through :func:`pick`, so the same notebook runs in
seconds under the tests, in minutes on a 2-core CPU for the site, and at full size on a lab GPU.
"""

from __future__ import annotations

import os
from typing import TypeVar

ENV_VAR = "EFFTX_PRESET"
PRESETS = ("smoke", "cpu", "gpu")
DEFAULT = "cpu"

T = TypeVar("T")


def current_preset() -> str:
    """The preset named by ``$EFFTX_PRESET`` (default ``cpu``)."""
    name = os.environ.get(ENV_VAR, DEFAULT).strip().lower() or DEFAULT
    if name not in PRESETS:
        raise ValueError(f"{ENV_VAR} must be one of {PRESETS}, got {name!r}")
    return name


def pick(*, smoke: T, cpu: T, gpu: T, preset: str | None = None) -> T:
    """Return the value for the current preset, e.g. ``steps = pick(smoke=20, cpu=600, gpu=20_000)``."""
    name = preset if preset is not None else current_preset()
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {name!r}")
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[name]
