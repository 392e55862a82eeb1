"""What the loop tells its caller as the phases go: the runner prints nothing itself.

The CLI passes a ``Progress`` that prints each event as a line (``ci_tools.cli``); a caller
that wants none passes ``SILENT``, a test passes a fake that keeps what it is told.
"""

from __future__ import annotations

from typing import Protocol

from ci_tools.phases import GateResult


class Progress(Protocol):
    """The events of a run, in the order they happen for each phase."""

    def phase_started(self, number: int, workers: int, why: str) -> None:
        """Phase N was given its go: ``workers`` tests at once (0: one at a time), and why."""

    def note(self, message: str) -> None:
        """Something went otherwise than planned (a budget ran out, a phase could not start
        up ahead); the run goes on. One sentence without a prefix, for stderr."""

    def gate_judged(self, gate: GateResult) -> None:
        """A phase's gate was judged and written: met, not met, or skipped."""


class _Silent:
    """Tells nothing."""

    def phase_started(self, number: int, workers: int, why: str) -> None:
        """Nothing."""

    def note(self, message: str) -> None:
        """Nothing."""

    def gate_judged(self, gate: GateResult) -> None:
        """Nothing."""


SILENT: Progress = _Silent()
