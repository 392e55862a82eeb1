"""How many forked tests may run at once as a phase goes (``Throttle``), from the CPU times of
the cores the tests run on. Loaded only by runs with tests at once (``--concurrency``,
``--go-fd``).

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from ci_tools.go import cores


def cpu_busy(on: list[int]) -> tuple[float, float]:
    """The CPU times so far of the cores ``on``, in seconds: (busy, all). Read per core from
    psutil's list by position, which is the core's number while every core is online; a
    cgroup's CPU quota is not seen (a container limited to less than its cores looks idle)."""
    per_core = psutil.cpu_times(percpu=True)
    busy = total = 0.0
    for core in on:
        if core >= len(per_core):  # a core gone offline since
            continue
        times = per_core[core]
        spent = sum(times)
        total += spent
        # Time spent running guests is counted in user and nice already (as psutil's own
        # percentages take it).
        waiting = times.idle + getattr(times, "iowait", 0.0)
        guests = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
        total -= guests
        busy += spent - guests - waiting
    return busy, total


class Throttle:
    """How many tests may run at once right now. The phase's count follows its tests'
    waiting; but where the tests spend CPU rather than wait, more at once than the cores can
    keep busy only queue for the CPU, each in a worker of its own memory. So the count starts
    at ``start`` and doubles every ``interval_s`` while the machine's CPU was busy less than
    ``busy`` of the time in the interval, up to ``limit``; it never goes down (a test once
    started runs on). Tests that wait (a staging-like pace) reach the limit in a few
    intervals; tests that spend CPU stop near the cores' capacity. ``sample`` gives the
    CPU times (busy, all) of the cores the tests run on."""

    def __init__(
        self,
        limit: int,
        start: int,
        sample: Callable[[], tuple[float, float]],
        *,
        interval_s: float = 0.1,
        busy: float = 0.9,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.allowed = max(1, min(limit, start))
        self.interval_s = interval_s
        self.busy = busy
        self._sample, self._clock = sample, clock
        self._last = sample()
        self._at = clock()

    def timeout(self) -> float | None:
        """Seconds until the count may grow; None once it is at the limit."""
        if self.allowed >= self.limit:
            return None
        return max(0.0, self._at + self.interval_s - self._clock())

    def update(self) -> None:
        """Grows the count when an interval has passed with CPU to spare."""
        if self.allowed >= self.limit or self._clock() < self._at + self.interval_s:
            return
        busy, total = self._sample()
        spent, elapsed = busy - self._last[0], total - self._last[1]
        self._last, self._at = (busy, total), self._clock()
        if elapsed <= 0 or spent / elapsed < self.busy:
            self.allowed = min(self.limit, self.allowed * 2)


def unthrottled(limit: int, _start: int = 0) -> Throttle:
    """A count at its limit from the start (``--no-throttle``): it never samples the CPU."""
    return Throttle(limit, limit, lambda: (0.0, 0.0))


def on_my_cores(limit: int, start: int = 0) -> Throttle:
    """A count that starts at ``start`` but never above as many tests as the cores this
    process may use (0: that many), and grows while those cores have CPU to spare: where the
    tests wait, it passes any history's count within a few intervals; where they spend CPU,
    a count from a run that waited would only queue them."""
    on = cores()
    return Throttle(limit, min(start, len(on)) if start else len(on), lambda: cpu_busy(on))
