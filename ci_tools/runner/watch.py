"""Where a running phase is, read from its files as they grow: no parsing of pytest's output.

The plugin appends a start line when a test starts and its record when it ends
(``ci_tools.records``), and writes the selection once collected; ``Watch`` reads what was
appended since its last look, so a look costs what the phase did since, not its whole file.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

from ci_tools import rundir
from ci_tools.runner.progress import Tally

FAILED_OUTCOMES = frozenset({"failed", "error"})  # what counts as a failure so far


def _epoch(iso: str) -> float | None:
    """A record's time (``2026-12-01T23:10:03.123Z``) in seconds since the epoch."""
    try:
        return dt.datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return None


class Watch:
    """A phase's ``Tally`` at each look (``tally``). ``clock``: the wall clock the plugin's
    start times are on (seconds since the epoch)."""

    def __init__(
        self,
        run_dir: Path,
        phase: int,
        shard: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.phase = phase
        self._records = rundir.records(run_dir, phase, shard)
        self._selection = rundir.selected(run_dir, phase, shard)
        self._clock = clock
        self._read = 0  # bytes of the records file read so far
        self._partial = b""  # a line being written when last read
        self._selected: int | None = None
        self._outcomes: dict[str, str] = {}  # the last outcome of each test that ended
        self._failed = 0
        self._running: dict[str, float] = {}  # started, not ended: when (epoch seconds)

    def tally(self) -> Tally:
        """The phase so far: what its files say now."""
        self._read_selection()
        self._read_records()
        slowest, since = min(self._running.items(), key=lambda item: item[1], default=("", 0.0))
        seconds = max(self._clock() - since, 0.0) if slowest else 0.0
        return Tally(
            self.phase,
            len(self._outcomes),
            self._selected,
            self._failed,
            len(self._running),
            slowest,
            seconds,
        )

    def _read_selection(self) -> None:
        if self._selected is None:  # written once, whole, when the phase has collected
            try:
                text = self._selection.read_bytes()
            except FileNotFoundError:
                return
            self._selected = sum(1 for line in text.splitlines() if line.strip())

    def _read_records(self) -> None:
        try:
            with self._records.open("rb") as file:
                file.seek(self._read)
                appended = file.read()
        except FileNotFoundError:
            return
        self._read += len(appended)
        *lines, self._partial = (self._partial + appended).split(b"\n")
        for line in lines:
            self._take(line)

    def _take(self, line: bytes) -> None:
        """One line of the records file (one that does not parse is passed over: the
        phase's gate counts it, not its progress)."""
        try:
            event = json.loads(line)
            kind, nodeid = event["event"], str(event["nodeid"])
        except (ValueError, TypeError, KeyError):
            return
        if kind == "start":
            when = _epoch(str(event.get("time")))
            if when is not None and nodeid not in self._outcomes:
                self._running[nodeid] = when
        elif kind == "test":
            self._running.pop(nodeid, None)
            before = self._outcomes.get(nodeid)
            outcome = self._outcomes[nodeid] = str(event.get("outcome"))
            self._failed += (outcome in FAILED_OUTCOMES) - (before in FAILED_OUTCOMES)
