"""How many forked tests run at once as a phase goes: the count grows while the cores have
CPU to spare, and stops where the tests' own CPU would make them queue for it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from ci_tools.go import cores
from ci_tools.plugin.throttle import Throttle, cpu_busy


class Machine:
    """CPU times and a clock the test moves: each step, ``busy`` of the interval was spent."""

    def __init__(self) -> None:
        self.now = 0.0
        self.spent = self.total = 0.0

    def step(self, seconds: float, busy: float) -> None:
        self.now += seconds
        self.total += seconds
        self.spent += seconds * busy

    def sample(self) -> tuple[float, float]:
        return self.spent, self.total


def throttle(machine: Machine, limit: int, start: int) -> Throttle:
    """A throttle sampling ``machine``'s CPU times on its clock."""
    return Throttle(limit, start, machine.sample, clock=lambda: machine.now)


def test_the_count_doubles_each_interval_with_cpu_to_spare_up_to_the_limit() -> None:
    """With the CPU 30% busy, the count doubles every interval and stops at the limit."""
    machine = Machine()
    pace = throttle(machine, limit=20, start=2)
    seen = [pace.allowed]
    for _ in range(6):
        machine.step(0.1, busy=0.3)
        pace.update()
        seen.append(pace.allowed)
    assert seen == [2, 4, 8, 16, 20, 20, 20]
    assert pace.timeout() is None  # at the limit: nothing left to wait for


def test_a_busy_interval_holds_the_count_and_it_never_goes_down() -> None:
    """An interval 90% busy or more holds the count where it is; it grows again once CPU frees."""
    machine = Machine()
    pace = throttle(machine, limit=64, start=2)
    machine.step(0.1, busy=0.3)
    pace.update()
    machine.step(0.1, busy=0.95)
    pace.update()
    machine.step(0.1, busy=1.0)
    pace.update()
    assert pace.allowed == 4
    machine.step(0.1, busy=0.5)  # the CPU frees up: it grows again
    pace.update()
    assert pace.allowed == 8


def test_near_the_busy_mark_the_count_grows_in_proportion_to_the_cpu_left() -> None:
    """Where the cores are more than half as busy as they may be, the count does not double:
    it grows to what would bring them to the mark if each test spent what they spend now
    (each new worker costs CPU of its own); at most half as busy, it doubles."""
    machine = Machine()
    pace = throttle(machine, limit=200, start=10)
    seen = []
    for busy in (0.7, 0.8, 0.89, 0.5, 0.3):
        machine.step(0.1, busy=busy)
        pace.update()
        seen.append(pace.allowed)
    # 10 * 0.9 / 0.7 = 12.9 -> 13; 13 * 0.9 / 0.8 = 14.6 -> 15; 15 * 0.9 / 0.89 = 15.2 -> 16;
    # 16 * 0.9 / 0.5 = 28.8 -> 29 (more than half as busy: not doubled); 0.3: doubled, 58
    assert seen == [13, 15, 16, 29, 58]


def test_the_count_waits_for_a_whole_interval_before_it_grows() -> None:
    """The count grows only once a whole interval has passed, and says how long is left."""
    machine = Machine()
    pace = throttle(machine, limit=8, start=1)
    machine.step(0.04, busy=0.0)
    pace.update()
    assert pace.allowed == 1
    assert abs((pace.timeout() or 0.0) - 0.06) < 1e-9
    machine.step(0.06, busy=0.0)
    pace.update()
    assert pace.allowed == 2


def test_the_start_is_within_the_limit_and_at_least_one() -> None:
    """The starting count is cut to the limit and is never below one."""
    machine = Machine()
    assert throttle(machine, limit=3, start=8).allowed == 3
    assert throttle(machine, limit=5, start=0).allowed == 1


def test_a_phase_starts_at_its_seed_but_never_above_the_cores() -> None:
    """A go's start (history's count) is where the count starts, capped at the cores this
    process may use: a seed of 1 starts at 1, a seed of 72 at the cores (it grows from there
    while they idle); no seed starts at the cores; --no-throttle starts at the limit."""
    from ci_tools.plugin.throttle import on_my_cores, unthrottled  # noqa: PLC0415

    mine = len(cores())
    assert on_my_cores(96, 1).allowed == 1
    assert on_my_cores(96, 72).allowed == min(72, mine)
    assert on_my_cores(96).allowed == min(96, mine)
    assert on_my_cores(1, 72).allowed == 1
    assert unthrottled(96, 1).allowed == 96


def test_the_cores_cpu_times_count_this_process_spinning_on_them() -> None:
    """The real sampler: 0.3 s of this process's CPU, spent on the one core it is pinned to,
    shows up as that core's busy time, not as its idle time."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs os.sched_setaffinity (Linux)")
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mine)})
    try:
        on = cores()
        busy, total = cpu_busy(on)
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        later_busy, later_total = cpu_busy(on)
    finally:
        os.sched_setaffinity(0, mine)
    assert on == [min(mine)]
    assert later_busy - busy >= 0.25  # the kernel counts in ticks (10 ms here)
    assert (later_total - total) - (later_busy - busy) < 0.1  # hardly idle while spinning


def test_memory_holds_the_count_below_what_the_cpu_would_allow_and_brings_it_down() -> None:
    """With CPU to spare the count doubles, but never past what fits in memory; while nothing
    is known of the workers' memory it grows as before; when the workers grow, the count comes
    down to what fits (never below one), and the lowest is remembered for the phase's log."""
    machine = Machine()
    room: list[int | None] = [None, 6, 6, 3, 0]
    reads = iter(room)
    pace = Throttle(64, 2, machine.sample, clock=lambda: machine.now, fits=lambda: next(reads))
    seen = []
    for _ in room:
        machine.step(0.1, busy=0.3)
        pace.update()
        seen.append(pace.allowed)
    assert seen == [4, 6, 6, 3, 1]
    assert pace.held_by_memory == 1
    assert pace.timeout() is not None  # a bound keeps reading the memory at any count


def test_a_test_turned_away_halves_the_count_once_per_burst_and_it_grows_no_more() -> None:
    """A 429 or 503 halves the count; the other answers of tests sent at the old count (they
    started before it came down) do not halve it again, an answer to a test sent since does;
    however idle the CPU, the count grows no more in this phase."""
    machine = Machine()
    pace = throttle(machine, limit=64, start=2)
    for _ in range(3):
        machine.step(0.1, busy=0.3)
        pace.update()
    assert pace.allowed == 16
    sent_before = machine.now
    machine.step(0.05, busy=0.3)
    for _ in range(10):  # a burst of answers, all to tests sent at 16 at once
        pace.pressure(sent_before)
    assert (pace.allowed, pace.held_by_pressure, pace.turned_away) == (8, 8, 10)
    machine.step(0.01, busy=0.3)
    pace.pressure(machine.now)  # a test sent at 8 at once is turned away too
    assert pace.allowed == 4
    for _ in range(5):
        machine.step(0.1, busy=0.1)
        pace.update()
    assert (pace.allowed, pace.held_by_pressure, pace.turned_away) == (4, 4, 11)
    for _ in range(5):
        machine.step(0.01, busy=0.1)
        pace.pressure(machine.now)
    assert pace.allowed == 1  # never below one


def test_a_memory_bound_reads_the_parent_and_the_largest_worker() -> None:
    """``MemoryBound`` reads this process's resident memory and its workers' own (USS), the
    largest seen as every worker more: with a budget of this process plus three times a
    worker that holds 64 MiB of its own, three fit; before any worker is read, nothing is
    known."""
    from ci_tools.plugin.throttle import MemoryBound  # noqa: PLC0415

    me = psutil.Process().memory_info().rss
    pids: list[tuple[int, bool, bool]] = []
    bound = MemoryBound(me + 3 * 70 * 2**20, lambda: pids)
    assert bound.fits() is None
    with _holding(64) as worker:
        pids.append((worker, True, True))
        assert bound.fits() == 3
        assert 64 * 2**20 <= bound.worker < 70 * 2**20


def test_a_memory_bound_counts_each_worker_at_what_it_holds() -> None:
    """Workers hold different amounts (a test that holds memory of its own, a fresh one):
    the bound sums the most each was read to hold, and counts the largest for each worker
    more. One worker holding L (96 MiB and its interpreter) and one holding next to nothing,
    both past a test, in a budget of 3.5 L and 40 MiB: two more fit (four), where counting
    both at L makes it three. A worker still in its first test counts as at least the mean
    of those past one (it grows to that as its next test runs): as L here, three fit. One
    that has not begun a test is not read (it holds a fraction of what it soon will) and
    counts as that mean, about L / 2: two more fit beside the three (five), one counting it
    at L."""
    from ci_tools.plugin.throttle import MemoryBound  # noqa: PLC0415

    pids: list[tuple[int, bool, bool]] = []
    with _holding(96) as large, _holding(0) as small:
        most = psutil.Process(large).memory_full_info().uss
        me = psutil.Process().memory_info().rss
        bound = MemoryBound(me + int(3.5 * most) + 40 * 2**20, lambda: pids)
        pids.extend([(large, True, True), (small, True, True)])
        assert bound.fits() == 4
        assert set(bound.held) == {large, small}
        assert bound.held[small] < 12 * 2**20 < 96 * 2**20 <= bound.held[large]
        pids[1] = (small, True, False)  # in its first test: as the large one, the only past one
        assert bound.fits() == 3
        pids[1] = (small, True, True)
        with _holding(0) as fresh:
            pids.append((fresh, False, False))
            assert bound.fits() == 5
            assert fresh not in bound.held
        pids.pop()
        pids.pop(0)  # the large one ended: what it held is forgotten
        bound.fits()
        assert set(bound.held) == {small}


def test_a_memory_bound_reads_more_workers_where_many_run() -> None:
    """Three workers are read a reading, or more where many run, so that each is read about
    every ``EACH_S``: twelve workers, half a second after the last reading, six are read;
    the next reading at once reads the next three."""
    from ci_tools.plugin.throttle import MemoryBound  # noqa: PLC0415

    now = [0.0]
    with contextlib.ExitStack() as stack:
        pids = [(stack.enter_context(_holding(0)), True, False) for _ in range(12)]
        bound = MemoryBound(2**40, lambda: pids, clock=lambda: now[0])
        now[0] += bound.EACH_S / 2
        bound.fits()
        assert set(bound.held) == {pid for pid, _, _ in pids[:6]}
        bound.fits()
        assert set(bound.held) == {pid for pid, _, _ in pids[:9]}


def test_a_memory_bound_reads_a_worker_again_only_once_its_stat_says_it_grew() -> None:
    """A USS read walks the worker's page tables; ``/proc/PID/stat`` costs a hundredth of that
    to read, and what a worker allocates and writes shows there (page faults, resident
    memory). A worker read once is not read again while it is idle, and is once it has
    written 8 MiB more (what it holds then counts), or once its last read is ``STALE_S``
    old; an ended worker has no stat to read."""
    from ci_tools.plugin.throttle import MemoryBound, growth_signs  # noqa: PLC0415

    now = [0.0]
    with _growing() as (worker, grow):
        pids = [(worker, True, True)]
        bound = MemoryBound(2**40, lambda: pids, clock=lambda: now[0])
        bound.fits()
        first = bound.held[worker]
        assert bound.uss_reads == 1
        for _ in range(3):
            now[0] += bound.EACH_S
            bound.fits()
        assert bound.uss_reads == 1  # idle: its stat did not move
        grow(8)
        now[0] += bound.EACH_S
        bound.fits()
        assert bound.uss_reads == 2
        assert bound.held[worker] >= first + 8 * 2**20
        now[0] += bound.STALE_S
        bound.fits()
        assert bound.uss_reads == 3  # stale: read again, though it did not grow
    assert growth_signs(worker) is None  # gone: nothing to read


@contextlib.contextmanager
def _growing(mib: int = 0) -> Iterator[tuple[int, Callable[[int], None]]]:
    """A forked process holding ``mib`` MiB of its own, which writes to more each time it is
    told: (its pid, a call that tells it how many MiB more and returns once it has)."""
    import multiprocessing  # noqa: PLC0415

    orders, answers = multiprocessing.get_context("fork").Pipe()
    worker = multiprocessing.get_context("fork").Process(target=_grow, args=(mib, answers))
    worker.start()

    def grow(more: int) -> None:
        orders.send(more)
        assert orders.poll(30)
        orders.recv()

    try:
        assert orders.poll(30)
        orders.recv()
        yield worker.pid or 0, grow
    finally:
        orders.send(0)
        worker.join(30)


def _grow(mib: int, answers: Any) -> None:
    """Holds ``mib`` MiB, and writes to more pages of its own each time it is told, until
    told 0."""
    held = [b"x" * (mib * 2**20)]  # every page written
    answers.send("ready")
    while more := answers.recv():
        held.append(b"x" * (more * 2**20))
        answers.send("grown")


@contextlib.contextmanager
def _holding(mib: int) -> Iterator[int]:
    """A forked process holding ``mib`` MiB of its own while the block runs: its pid."""
    with _growing(mib) as (pid, _):
        yield pid
