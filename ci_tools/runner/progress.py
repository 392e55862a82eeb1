"""What the loop tells its caller as the phases go: the runner prints nothing itself.

The CLI passes a ``Progress`` that prints each event (``ci_tools.cli``); a caller that wants
none passes ``SILENT``, a test passes a fake that keeps what it is told. pytest's own output
is no event: it goes to the run directory (``phaseN.log``). What a person reads of a phase
instead is pure text made here: the line of a running phase (``progress_line``, shown as often
as ``Pacer`` says) and, after its gate, an ``Excerpt`` (its first failure, or the end of the
output of a pytest that could not run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Protocol

from ci_tools.experiment import Plan
from ci_tools.phases import GateResult

LOG_EVERY_S = 10.0  # in a log (not a terminal), a running phase's line at most this often
_LONGEST_NAME = 100  # a test's name in the progress line, cut past this many characters


@dataclasses.dataclass(frozen=True)
class Tally:
    """How far a running phase has got, as its records say: tests ended of those selected
    (None before its collection is written), failures so far (errors included), and the
    test running longest with its seconds ("" and 0 when none runs)."""

    phase: int
    done: int
    selected: int | None
    failed: int
    running: int
    slowest: str = ""
    slowest_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class Excerpt:
    """What a person reads first of a phase that went wrong, after its gate: its first
    failure (its test id, where it was raised, the exception) from its records, already
    masked; or the end of pytest's output when pytest could not run. ``output``: pytest's
    whole output of the phase."""

    phase: int
    heading: str
    lines: tuple[str, ...]
    output: Path


class Progress(Protocol):
    """The events of a run, in the order they happen for each phase."""

    def phase_started(self, number: int, workers: int, why: str) -> None:
        """Phase N was given its go: ``workers`` tests at once (0: one at a time), and why."""

    def tests_running(self, tally: Tally) -> None:
        """Where the running phase is, told about twice a second until it ends."""

    def note(self, message: str) -> None:
        """Something went otherwise than planned (a budget ran out, a phase could not start
        up ahead); the run goes on. One sentence without a prefix, for stderr."""

    def gate_judged(self, gate: GateResult) -> None:
        """A phase's gate was judged and written: met, not met, or skipped."""

    def excerpt(self, excerpt: Excerpt) -> None:
        """After the gate of a phase with a failure (or whose pytest could not run): what to
        read first of it."""

    def experimented(self, number: int, plan: Plan, shown: Mapping[str, int]) -> None:
        """After the gates, phase N's failures were re-run on the baseline and the candidate
        (or could not be: ``plan.status`` says why); ``shown`` counts what the re-runs showed
        (``regression``, ``both``, ``flaky``, ``no baseline``)."""


class _Silent:
    """Tells nothing."""

    def phase_started(self, number: int, workers: int, why: str) -> None:
        """Nothing."""

    def tests_running(self, tally: Tally) -> None:
        """Nothing."""

    def note(self, message: str) -> None:
        """Nothing."""

    def gate_judged(self, gate: GateResult) -> None:
        """Nothing."""

    def excerpt(self, excerpt: Excerpt) -> None:
        """Nothing."""

    def experimented(self, number: int, plan: Plan, shown: Mapping[str, int]) -> None:
        """Nothing."""


SILENT: Progress = _Silent()


def short_name(nodeid: str) -> str:
    """A test's id without its file's folders (``test_auth.py::test_login[x]``), cut short
    past ``_LONGEST_NAME`` characters: enough to know it on one line."""
    path, sep, rest = nodeid.partition("::")
    name = PurePosixPath(path).name + sep + rest
    return name if len(name) <= _LONGEST_NAME else name[: _LONGEST_NAME - 1] + "…"


def progress_line(tally: Tally) -> str:
    """``phase 2: 23/72 done, 1 failed; longest running test_chat.py::test_answer (12 s)``."""
    done = f"{tally.done}/{tally.selected}" if tally.selected is not None else f"{tally.done}"
    line = f"phase {tally.phase}: {done} done, {tally.failed} failed"
    if tally.slowest:
        line += f"; longest running {short_name(tally.slowest)} ({tally.slowest_s:.0f} s)"
    return line


class Pacer:
    """When to show a running phase's line. On a terminal (``redraw``: the line is redrawn
    in place) whenever it reads otherwise. In a log, where every line stays, at most every
    ``every_s`` and only when the phase got further (a test ended, another runs longest):
    a phase shorter than ``every_s`` shows none, a hung one no more than one."""

    def __init__(self, redraw: bool, every_s: float = LOG_EVERY_S) -> None:
        self.redraw = redraw
        self.every_s = every_s
        self._since = 0.0  # the phase's go, then the last line shown (in a log)
        self._shown: object = None

    def start(self, now: float) -> None:
        """A phase was given its go at ``now`` (seconds on any monotonic clock)."""
        self._since, self._shown = now, None

    def due(self, tally: Tally, now: float) -> bool:
        """Whether to show ``tally``'s line at ``now``; if so, it counts as shown."""
        if self.redraw:
            shown: object = progress_line(tally)
        elif now - self._since < self.every_s:
            return False
        else:
            shown = (tally.done, tally.selected, tally.failed, tally.slowest)
        if shown == self._shown:
            return False
        self._since, self._shown = now, shown
        return True
