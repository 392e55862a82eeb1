"""The phrases the worklog repeats, each written once: a duration or an age as a person says
it ("12 s", "4 min", "38 h", "3 days"), a moment in UTC ("2026-12-01 20:52 UTC"), ranges of
phase numbers ("phases 2–5")."""

from __future__ import annotations

from collections.abc import Sequence

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def age(seconds: float) -> str:
    """A duration or an age in the largest unit that keeps it readable: ``45 s``, ``4 min``,
    ``2.5 h``, ``38 h``, ``3 days``."""
    value = abs(seconds)
    if value < MINUTE:
        return f"{value:.0f} s"
    if value < 2 * HOUR:
        return f"{value / MINUTE:.0f} min"
    if value < 10 * HOUR:  # "2.5 h": the brief's rules are "> 2 h", "> 4 h"
        return f"{value / HOUR:.1f} h".replace(".0 h", " h")
    if value < 3 * DAY:
        return f"{value / HOUR:.0f} h"
    return f"{value / DAY:.0f} days"


def phase_range(numbers: Sequence[int]) -> str:
    """``phase 3``, ``phases 2–5`` (consecutive), ``phases 2, 4``."""
    ordered = sorted(numbers)
    if len(ordered) == 1:
        return f"phase {ordered[0]}"
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"phases {ordered[0]}–{ordered[-1]}"
    return "phases " + ", ".join(map(str, ordered))


def utc(iso: str) -> str:
    """An ISO 8601 UTC time as the worklog says it, to the minute: ``2026-12-01 20:52 UTC``
    (``?`` when unknown)."""
    return iso[:16].replace("T", " ") + " UTC" if iso else "?"
