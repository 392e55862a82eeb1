"""How a phase runs, from its history: how many tests at once, in which order, split how.

The run store's last run of the phase (``last_run``) gives the failures to run first and the
durations to order and count by; a sharded phase with no store is split by the newest other
run directory's records instead. History is a hint: without it a phase runs as configured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence

import psutil

from ci_tools import go
from ci_tools._exceptions import CIToolsError
from ci_tools.config import Config
from ci_tools.history.model import PastResult
from ci_tools.rundir import read
from ci_tools.runner.command import RunOptions

# Each slot holds three quarters of the longest test's worth of tests. Measured with the agent
# at 500 ms a step (benchmarks/e2e_run.py): phase 4 at the exact fill (72 at once) took 17.8 s,
# at 94 at once 16.5 s, the longest test 9.6 s.
SLOT_FILL = 0.75
FULL_RUN_LOOKBACK = 5  # the runs of a phase searched for one where it ran in full


@dataclasses.dataclass(frozen=True)
class LastRun:
    """What the environment's last run of a phase says about running it now."""

    failed: tuple[str, ...] = ()  # node ids that failed: they run first
    durations: dict[str, float] = dataclasses.field(default_factory=dict)  # by node id
    passed: dict[str, float] = dataclasses.field(default_factory=dict)  # the passes' durations

    def order(self) -> list[str]:
        """The order to start the tests in: the failures (the first failure, and fail-fast,
        come early), then the rest longest first, so the phase ends soonest (each test
        starts in the first free slot: longest-first is the classic makespan schedule)."""
        failed = set(self.failed)
        rest = sorted(
            (n for n in self.durations if n not in failed), key=lambda n: -self.durations[n]
        )
        return [*self.failed, *rest]


def last_run(options: RunOptions, number: int) -> LastRun:
    """Phase N in the environment's last run where it ran in full, from the run store: the
    newest of its last ``FULL_RUN_LOOKBACK`` runs with none of its tests left not run (a run
    cut short by fail-fast or its budget measured only what ran), else the newest where it ran
    at all; nothing when there is no store, no such run, or the store cannot answer (a hint,
    never a failure)."""
    if options.history_url is None:
        return LastRun()
    from ci_tools.history.store import open_store  # noqa: PLC0415 - SQLAlchemy loads slowly

    try:
        store = open_store(options.history_url)
        try:
            ran = [r.key for r in store.runs(options.env, limit=20) if number in r.phases_ran]
            found = store.results(ran[:FULL_RUN_LOOKBACK], phase=number)
        finally:
            store.close()
    except CIToolsError:
        return LastRun()
    by_run: dict[int, list[PastResult]] = {}
    for result in found:
        by_run.setdefault(result.run, []).append(result)
    full = (k for k in ran if by_run.get(k) and all(r.outcome != "not_run" for r in by_run[k]))
    results = by_run.get(next(full, ran[0] if ran else -1), [])
    return LastRun(
        failed=tuple(r.nodeid for r in results if r.outcome in ("failed", "error")),
        durations={r.nodeid: r.duration_s for r in results if r.outcome != "not_run"},
        passed={r.nodeid: r.duration_s for r in results if r.outcome == "passed"},
    )


def shard_durations(
    options: RunOptions, number: int, last: LastRun | None = None
) -> dict[str, float]:
    """What a sharded phase is split by, the same for ``ci-tools shard`` and every shard's
    run: the run store's last run of the phase (``last``, when already read), else the newest
    other run directory's records, else nothing (by count)."""
    known = (last or last_run(options, number)).durations
    return known or read.newest_durations(options.run_dir.parent, number, but=options.run_dir)


def memory_share(config: Config, pytest_pid: int, *, ahead: bool) -> int:
    """The MiB a phase's pytest and its forked workers may hold (0: no bound): the run's
    ``memory_mb`` less what the runner holds now and, when a phase is started ahead while
    this one runs (``ahead``), as much again as this phase's pytest holds before its first
    test (the one ahead is the same interpreter and plugins, collecting); never below 1."""
    if not config.memory_mb:
        return 0
    held = psutil.Process().memory_info().rss
    if ahead:
        with contextlib.suppress(psutil.Error):  # it ended already: its exit tells
            held += psutil.Process(pytest_pid).memory_info().rss
    return max(1, config.memory_mb - held // go.MIB)


def concurrency_cap(config: Config, number: int, env: str) -> int:
    """The most of phase N's tests that may ever run at once: the phase's ``max_workers`` and
    the environment's, whichever is lower."""
    cap = config.phases[number].max_workers
    limit = config.environments[env].max_workers if env in config.environments else None
    return cap if limit is None else min(cap, limit)


def choose_workers(
    config: Config, number: int, env: str, durations: Sequence[float]
) -> tuple[int, str]:
    """How many of phase N's tests start at once, and why: the seed of the count, which then
    follows what the run waits on (``ci_tools.plugin.throttle``), up to ``concurrency_cap``.
    End-to-end tests wait (on the network, the agent), so the seed follows the waiting, not
    the cores, as the last run measured it: enough slots that
    each has ``SLOT_FILL`` of the longest test's worth of tests (or ``worker_min_work_s``,
    whichever is more), so the phase ends near its longest test even though tests at once
    slow each other a little and the longest-first fill is uneven; at most the phase's
    ``max_workers`` and the environment's ``max_workers``. Unknown durations (a first run):
    the phase's ``workers``. Where the tests spend CPU rather than wait, the forked workers'
    throttle keeps fewer of them at once (``ci_tools.plugin.throttle``)."""
    phase = config.phases[number]
    cap = concurrency_cap(config, number, env)
    if not durations:
        return min(phase.workers, cap) if cap else 0, "no earlier run in the store"
    total, longest = sum(durations), max(durations)
    wanted = math.ceil(total / max(SLOT_FILL * longest, config.worker_min_work_s))
    count = max(1, min(wanted, cap))
    why = f"last run: {total:.1f} s of tests, the longest {longest:.1f} s"
    return (count if count > 1 else 0), why
