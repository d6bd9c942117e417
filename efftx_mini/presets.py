"""One switch for problem sizes: ``EFFTX_PRESET`` = ``smoke`` (tests), ``cpu`` (site build) or ``gpu``.

Every chapter and experiment reads its sizes through :func:`pick`, so the same notebook runs in
seconds under the tests, in minutes on a 2-core CPU for the site, and at full size on a lab GPU.

``EFFTX_DRY_RUN=1`` (with ``EFFTX_PRESET=gpu``) is the lab server's rehearsal on any machine: models and data
are built at the ``gpu`` sizes, but a value given as ``dry=`` (step counts, seeds, batch sizes) replaces the
``gpu`` one, so every code path of the ``gpu`` preset runs for a step or two (``make gpu-check``).
"""

from __future__ import annotations

import os
from typing import TypeVar

ENV_VAR = "EFFTX_PRESET"
DRY_VAR = "EFFTX_DRY_RUN"
PRESETS = ("smoke", "cpu", "gpu")
DEFAULT = "cpu"

T = TypeVar("T")
_UNSET = object()


def current_preset() -> str:
    """The preset named by ``$EFFTX_PRESET`` (default ``cpu``)."""
    name = os.environ.get(ENV_VAR, DEFAULT).strip().lower() or DEFAULT
    if name not in PRESETS:
        raise ValueError(f"{ENV_VAR} must be one of {PRESETS}, got {name!r}")
    return name


def dry_run() -> bool:
    """True under ``EFFTX_DRY_RUN=1``: the ``gpu`` preset's ``dry=`` values apply (other presets are unchanged)."""
    value = os.environ.get(DRY_VAR, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value not in ("1", "true", "yes"):
        raise ValueError(f"{DRY_VAR} must be 1 or 0, got {value!r}")
    return True


def pick(*, smoke: T, cpu: T, gpu: T, dry: T = _UNSET, preset: str | None = None) -> T:  # type: ignore[assignment]
    """The value for the current preset, e.g. ``steps = pick(smoke=20, cpu=600, gpu=20_000, dry=2)``.

    ``dry`` replaces ``gpu`` in a dry run (:func:`dry_run`); give it for step counts, repeats, seeds and batch
    sizes, never for model sizes, which the dry run exists to check.
    """
    name = preset if preset is not None else current_preset()
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {name!r}")
    if name == "gpu" and dry is not _UNSET and dry_run():
        return dry
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[name]
