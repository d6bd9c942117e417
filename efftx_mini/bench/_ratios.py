"""The book's rule for a speed claim, applied to one benchmark's rounds (see :mod:`efftx_mini.timing`).

Every ratio a benchmark stores is a *speed* ratio, t_ref / t_new per round (above 1: ``new`` is faster), kept as

- ``{key}_median``, ``{key}_ci_lo``, ``{key}_ci_hi`` (95% bootstrap interval of the median), ``{key}_lo`` and
  ``{key}_hi`` (min and max), ``{key}_q1``, ``{key}_q3``, ``{key}_n`` (:meth:`Spread.as_dict`);
- ``{key}_aa_*``: the same fields for the A/A control of the rounds it was timed in (the reference timed twice);
- ``{key}_verdict``: :func:`efftx_mini.timing.verdict` of the two.

:func:`stored_verdict` recomputes the verdict from those fields, so a chapter can check a results file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from ..timing import Spread, aa_name, ratio_spread, verdict

__all__ = ["aa_spread", "speed_fields", "stored_verdict", "fmt_ratio", "SPREAD_KEYS"]

SPREAD_KEYS = tuple(f.name for f in fields(Spread))


def aa_spread(samples: Mapping[str, list[float]], name: str) -> Spread | None:
    """Spread of the A/A ratio t_name / t_name(A/A) per round, or None when ``name`` has no A/A copy."""
    copy = aa_name(name)
    if name not in samples or copy not in samples:
        return None
    return ratio_spread(samples[name], samples[copy])


def speed_fields(samples: Mapping[str, list[float]], ref: str, new: str, key: str, aa_ref: str | None = None
                 ) -> dict[str, object]:
    """The stored fields of the speed ratio t_ref / t_new (paired per round), its A/A control and its verdict.

    ``aa_ref`` names the contender whose A/A copy was timed in the same rounds (default: ``ref``).
    """
    sp = ratio_spread(samples[ref], samples[new])
    aa = aa_spread(samples, aa_ref or ref)
    aa_fields = aa.as_dict(f"{key}_aa_") if aa is not None else {f"{key}_aa_{k}": None for k in SPREAD_KEYS}
    return {**sp.as_dict(f"{key}_"), **aa_fields, f"{key}_verdict": verdict(sp, aa)}


def stored_verdict(row: Mapping[str, object], key: str) -> str:
    """The verdict that the stored fields of ratio ``key`` imply (equal to ``row[key + '_verdict']`` if sound)."""
    aa = None if row.get(f"{key}_aa_median") is None else Spread.from_dict(row, f"{key}_aa_")
    return verdict(Spread.from_dict(row, f"{key}_"), aa)


def fmt_ratio(row: Mapping[str, object], key: str, digits: int = 2) -> str:
    """'1.02 [0.98–1.06]': the stored median with its 95% interval, or '' where the row has no such ratio."""
    if row.get(f"{key}_median") is None:
        return ""
    return f"{row[f'{key}_median']:.{digits}f} [{row[f'{key}_ci_lo']:.{digits}f}–{row[f'{key}_ci_hi']:.{digits}f}]"
