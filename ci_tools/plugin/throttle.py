"""How many forked tests may run at once as a phase goes (``Throttle``), from the CPU times of
the cores the tests run on and, when the runner gives the phase a memory budget, from what
its workers hold (``MemoryBound``). Loaded only by runs with tests at once (``--concurrency``,
``--go-fd``).

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

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


class MemoryBound:
    """How many forked workers fit in ``budget`` bytes beside their parent. A worker shares
    the parent's pages until it writes to them, and a Python process writes to most objects
    it touches (their reference counts): a worker's own pages (USS) jump within its first
    test to about a steady size, whatever the test does (11 MiB of a 62 MiB parent here),
    grow again as its second test runs (to 11.5-12.5 MiB) and slowly after (to 14 MiB over
    a phase of 379 tests), more while a test holds memory of its own. The phase holds about
    the parent's resident pages plus each worker's own, and that sum is what the bound keeps
    within the budget. It reads the parent's, and workers' USS in turn, ``SAMPLED`` a
    reading or more where many run, each about every ``EACH_S`` (a read costs about a
    millisecond). A worker counts as the most it was read to hold (a test may give back
    memory it held, and the worker's next test take it again), and one that has not ended a
    test yet as at least the mean of what those that have hold: it will, once it runs
    another, and the count comes down by retiring workers as their tests end, before they
    grow. A worker not read since its first test began (read before, it holds a fraction of
    what it soon will) counts as that mean, and each worker more as the most any worker was
    read to hold. Counting every worker at that most held a phase of 379 tests to 56 at once
    where 66 fit; counting workers in their first test at what they held then let the phase
    pass its budget by 4%, and at the mean of fresh ones by a seventh. ``workers`` gives the
    live workers: each one's pid, whether it has begun a test and whether it has ended one.
    """

    SAMPLED = 3  # workers read a reading at least
    EACH_S = 1.0  # ... and more where many run: each read about this often

    def __init__(
        self,
        budget: int,
        workers: Callable[[], Sequence[tuple[int, bool, bool]]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = budget
        self.workers = workers
        self.worker = 0  # the largest USS of a worker seen, in bytes
        self.held: dict[int, int] = {}  # the largest USS of each live worker, by pid
        self._turn = 0
        self._me = psutil.Process()
        self._clock = clock
        self._read_at = clock()

    def fits(self) -> int | None:
        """How many workers fit now, those running included; None until a worker has been
        read."""
        live = self.workers()
        begun = [pid for pid, began, _ in live if began]
        now = self._clock()
        elapsed, self._read_at = now - self._read_at, now
        reads = max(self.SAMPLED, math.ceil(len(begun) * elapsed / self.EACH_S))
        for n in range(min(reads, len(begun))):
            pid = begun[(self._turn + n) % len(begun)]
            try:
                uss = psutil.Process(pid).memory_full_info().uss
            except psutil.Error:  # a worker that just ended
                continue
            self.held[pid] = max(self.held.get(pid, 0), uss)
            self.worker = max(self.worker, uss)
        self._turn += reads
        if not self.worker:
            return None
        pids = {pid for pid, _, _ in live}
        for gone in self.held.keys() - pids:
            del self.held[gone]
        settled = [self.held[pid] for pid, _, ended in live if ended and pid in self.held]
        typical = sum(settled) // len(settled) if settled else self.worker
        held = self._me.memory_info().rss
        for pid, _, ended in live:
            own = self.held.get(pid, typical)
            held += own if ended else max(own, typical)
        return max(1, len(pids) + (self.budget - held) // self.worker)


class Throttle:
    """How many tests may run at once right now. The phase's count follows its tests'
    waiting; but where the tests spend CPU rather than wait, more at once than the cores can
    keep busy only queue for the CPU, each in a worker of its own memory. So the count starts
    at ``start`` and doubles every ``interval_s`` while the machine's CPU was busy less than
    ``busy`` of the time in the interval, up to ``limit``; a test once started runs on.
    ``sample`` gives the CPU times (busy, all) of the cores the tests run on. ``fits``, when
    given, says every interval how many workers fit in memory (None: not known yet): the
    count never grows past it, and comes down to it (the pool retires workers as their tests
    end) when the workers grew since. ``pressure`` (a test turned away by the platform: a
    429, a 503) halves the count and holds it there for the rest of the phase."""

    def __init__(
        self,
        limit: int,
        start: int,
        sample: Callable[[], tuple[float, float]],
        *,
        interval_s: float = 0.1,
        busy: float = 0.9,
        clock: Callable[[], float] = time.monotonic,
        fits: Callable[[], int | None] | None = None,
    ) -> None:
        self.limit = limit
        self.allowed = max(1, min(limit, start))
        self.interval_s = interval_s
        self.busy = busy
        self.fits = fits
        self.held_by_memory = 0  # the lowest count memory held the phase to (0: never)
        self.turned_away = 0  # tests the platform turned away (429, 503): see ``pressure``
        self.held_by_pressure = 0  # the count pressure held the phase to (0: never)
        self._came_down_at = float("-inf")
        self._sample, self._clock = sample, clock
        self._last = sample()
        self._at = clock()

    def pressure(self, started: float) -> None:
        """A test the platform turned away (a 429, a 503: its own limit of requests at once;
        the test ``started`` at this time.monotonic): more at once only get more of the same,
        so the count halves and grows no more this phase. Tests started before the count last
        came down were sent at the old count: their answers bring it down once, not each."""
        self.turned_away += 1
        if started < self._came_down_at:
            return
        self._came_down_at = self._clock()
        self.allowed = self.limit = max(1, self.allowed // 2)
        self.held_by_pressure = self.allowed

    def timeout(self) -> float | None:
        """Seconds until the count may change; None once it is at the limit for good."""
        if self.allowed >= self.limit and self.fits is None:
            return None
        return max(0.0, self._at + self.interval_s - self._clock())

    def update(self) -> None:
        """Grows the count when an interval has passed with CPU to spare, within memory."""
        if self._clock() < self._at + self.interval_s:
            return
        if self.allowed >= self.limit and self.fits is None:
            return
        busy, total = self._sample()
        spent, elapsed = busy - self._last[0], total - self._last[1]
        self._last, self._at = (busy, total), self._clock()
        wanted = self.allowed
        if self.allowed < self.limit and (elapsed <= 0 or spent / elapsed < self.busy):
            wanted = min(self.limit, self.allowed * 2)
        room = self.fits() if self.fits is not None else None
        if room is not None and room < wanted:
            wanted = max(1, room)
            self.held_by_memory = min(self.held_by_memory or wanted, wanted)
        self.allowed = wanted


def unthrottled(
    limit: int, _start: int = 0, _fits: Callable[[], int | None] | None = None
) -> Throttle:
    """A count at its limit from the start (``--no-throttle``): it never samples the CPU or
    the memory."""
    return Throttle(limit, limit, lambda: (0.0, 0.0))


def on_my_cores(
    limit: int, start: int = 0, fits: Callable[[], int | None] | None = None
) -> Throttle:
    """A count that starts at ``start`` but never above as many tests as the cores this
    process may use (0: that many), and grows while those cores have CPU to spare (and,
    with ``fits``, while the workers fit in memory): where the tests wait, it passes any
    history's count within a few intervals; where they spend CPU, a count from a run that
    waited would only queue them."""
    on = cores()
    first = min(start, len(on)) if start else len(on)
    return Throttle(limit, first, lambda: cpu_busy(on), fits=fits)
