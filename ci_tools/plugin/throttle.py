"""How many forked tests may run at once as a phase goes (``Throttle``), from the CPU times of
the cores the tests run on and, when the runner gives the phase a memory budget, from what
its workers hold (``MemoryBound``). Loaded only by runs with tests at once (``--concurrency``,
``--go-fd``).

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

import math
import mmap
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
    """How many forked workers fit in ``budget`` bytes beside their parent. A worker shares the
    parent's pages until it writes to them, and a Python process writes to most objects it
    touches (their reference counts): a worker's own pages (USS) jump within its first test to
    about a steady size, whatever the test does (11 MiB of a 62 MiB parent here), grow again as
    its second test runs (to 11.5-12.5 MiB) and slowly after (to 14 MiB over a phase of 379
    tests), more while a test holds memory of its own. The phase holds about the parent's
    resident pages plus each worker's own, and that sum is what the bound keeps within the
    budget. ``workers`` gives the live workers: each one's pid, whether it has begun a test and
    whether it has ended one.

    Reading: the parent's resident memory, and workers' USS in turn, ``SAMPLED`` a reading or
    more where many run, each about every ``EACH_S``. A USS read walks the worker's page tables
    (1.6 ms of CPU for a worker of phase 4 here: 238 reads were 0.39 CPU-s of the phase's 0.8),
    and ``/proc/PID/stat`` costs a hundredth of that: a worker that has taken fewer than
    ``GROWN_FAULTS`` page faults since its last read, and whose resident memory moved by less
    than ``GROWN_BYTES``, is not read again until that read is ``STALE_S`` old (phase 4 then
    makes 99-116 reads). What it allocates and writes cannot grow it unseen; a page it shares
    can become its own without a fault of its own (the parent, or the last sibling sharing it,
    writes to it or ends), and ``STALE_S`` bounds that.

    Counting: a worker counts as the most it was read to hold (a test may give back memory it
    held, and the worker's next test take it again), and one that has not ended a test yet as
    at least the mean of what those that have hold: it will, once it runs another, and the
    count comes down by retiring workers as their tests end, before they grow. A worker not
    read since its first test began (read before, it holds a fraction of what it soon will)
    counts as that mean, and each worker more as the most any worker was read to hold.
    Counting every worker at that most held a phase of 379 tests to 56 at once where 66 fit;
    counting workers in their first test at what they held then let the phase pass its budget
    by 4%, and at the mean of fresh ones by a seventh.
    """

    SAMPLED = 3  # workers read a reading at least
    EACH_S = 1.0  # ... and more where many run: each read about this often
    # ... where it may have grown by itself: this many page faults (a test writing 256 KiB
    # more; what goes unread sums over the workers: at 1 MiB a healthy run at the
    # staging-like pace peaked at 1010 MiB PSS, 967 before the reads were cut, 984 at 256 KiB)
    GROWN_FAULTS = 64
    GROWN_BYTES = 256 * 1024  # ... or its resident memory moved this much (one fault of a huge
    # page maps 2 MiB; a file's fault maps the pages around it too)
    STALE_S = 5.0  # ... or it was last read this long ago

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
        self.uss_reads = 0  # how many USS reads the bound made (each walks page tables)
        # By pid: its page faults and resident bytes at its last USS read, and when that was.
        self._signs: dict[int, tuple[int, int, float]] = {}
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
            self._read(begun[(self._turn + n) % len(begun)], now)
        self._turn += reads
        if not self.worker:
            return None
        pids = {pid for pid, _, _ in live}
        for gone in self.held.keys() - pids:
            del self.held[gone]
            self._signs.pop(gone, None)
        settled = [self.held[pid] for pid, _, ended in live if ended and pid in self.held]
        typical = sum(settled) // len(settled) if settled else self.worker
        held = self._me.memory_info().rss
        for pid, _, ended in live:
            own = self.held.get(pid, typical)
            held += own if ended else max(own, typical)
        return max(1, len(pids) + (self.budget - held) // self.worker)

    def _read(self, pid: int, now: float) -> None:
        """Reads what worker ``pid`` holds of its own, unless what ``/proc/PID/stat`` says of
        it since its last read (fewer than ``GROWN_FAULTS`` page faults, resident memory
        within ``GROWN_BYTES``) says it did not grow by itself, and that read is not stale."""
        signs = growth_signs(pid)
        last = self._signs.get(pid)
        if (
            signs is not None
            and last is not None
            and 0 <= signs[0] - last[0] < self.GROWN_FAULTS  # fewer: a new process, same pid
            and abs(signs[1] - last[1]) < self.GROWN_BYTES
            and now - last[2] < self.STALE_S
        ):
            return
        try:
            uss = psutil.Process(pid).memory_full_info().uss
        except psutil.Error:  # a worker that just ended
            return
        self.uss_reads += 1
        if signs is not None:
            self._signs[pid] = (*signs, now)
        self.held[pid] = max(self.held.get(pid, 0), uss)
        self.worker = max(self.worker, uss)


def growth_signs(pid: int) -> tuple[int, int] | None:
    """What process ``pid`` has done to its memory so far, from ``/proc/PID/stat``: its page
    faults (minor and major) and its resident bytes; None where there is no such file (not
    Linux, or the process ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return None
    # After the name: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt,
    # cmajflt, utime, stime, cutime, cstime, priority, nice, threads, itrealvalue, starttime,
    # vsize, rss (in pages).
    try:
        return int(fields[7]) + int(fields[9]), int(fields[21]) * mmap.PAGESIZE
    except (IndexError, ValueError):
        return None


class Throttle:
    """How many tests may run at once right now. The phase's count follows its tests'
    waiting; but where the tests spend CPU rather than wait, more at once than the cores can
    keep busy only queue for the CPU, each in a worker of its own memory (a new worker costs
    about 20 ms of CPU here: its fork, its first test writing to 8 MiB of its parent's pages,
    its exit). So the count starts at ``start`` and grows every ``interval_s`` while the
    cores were busy less than ``busy`` of the time in the interval, up to ``limit``: it
    doubles while they were at most half that busy, and nearer, grows to the count times
    ``busy`` over how busy they were, what would bring them to the mark if each test kept
    spending what they spend now (at 60% busy, from 10 to 15); a test once started runs on.
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
        share = spent / elapsed if elapsed > 0 else 0.0
        if self.allowed < self.limit and share < self.busy:
            # Twice as many while the cores are at most half as busy as they may be, else as
            # many as would bring them to ``busy`` if each test spent what they spend now (the
            # factor is above 1: one more at least).
            grown = 2.0 if share <= self.busy / 2 else self.busy / share
            wanted = min(self.limit, math.ceil(self.allowed * grown))
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
