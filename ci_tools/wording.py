"""The phrases the worklog repeats, each written once: a duration or an age as a person says
it ("12 s", "4 min", "38 h", "3 days"), a measured duration ("10.1 s"), a share ("96.2%"), a
moment in UTC ("2026-12-01 20:52 UTC"), how long something has held run after run ("in every
run since 2026-12-01 08:00 UTC (7 runs, 6 h)"), ranges of phase numbers ("phases 2–5")."""

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


def seconds(value: float) -> str:
    """A measured duration, to a tenth of a second: ``10.1 s``, ``1,204.5 s``."""
    return f"{value:,.1f} s"


def percent(share: float) -> str:
    """A share as the worklog prints it, to a tenth: ``96.2%``. Never rounded up to 100% nor
    down to 0% when it is not: 2,499 of 2,500 is ``99.9%``, not a met 100% gate."""
    text = f"{share * 100:.1f}%"
    if text == "100.0%" and share < 1:
        return "99.9%"
    if text == "0.0%" and share > 0:
        return "0.1%"
    return text


def streak(since: str, runs: int, hours: float) -> str:
    """How long something has held, run after run, as every line that says it reads:
    ``in every run since 2026-12-01 08:00 UTC (7 runs, 6 h)``."""
    return f"in every run since {utc(since)} ({runs} runs, {age(hours * 3600)})"


def created_before_first_failure(seconds: float) -> str:
    """A revision's age at this run's first failure: ``created 3 s before this run's first
    failure``. This run's, not the outage's: an outage that began runs ago is said with its
    start by :func:`streak`, and a revision deployed during it is no sign of its cause."""
    return f"created {age(seconds)} before this run's first failure"


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
