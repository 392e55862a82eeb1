"""Tests at once, the parent's side: a phase's tests run several at once, in workers forked
from the warm pytest process, and the parent hands them out and replays their reports.

End-to-end tests wait (on the network, on the agent): a phase's wall time is set by how many
tests wait at once. pytest-xdist starts each worker as a new interpreter that imports pytest,
the plugins and the suite and collects it again (1.8 s per phase for 8 workers on 2 cores, more
than most phases' longest test); a fork of the process that has already collected costs about a
millisecond. So with ``--concurrency N`` the plugin replaces pytest's test loop: up to N
workers are forked after collection (as many as the cores at first, more while the cores have
CPU to spare: see ``Throttle``), and the parent hands each the next test as it frees up: in the
runner's order (likely failures first, then longest first), or, with none, as the durations
measured so far order them (see ``Pending``). Nothing is
queued behind a running test (a queued test would wait behind a long one while another worker
idles), so a worker tears its fixtures down after each test, session-scoped ones too: what is
costly to build is built once in the parent before the fork. A worker runs each test's whole
protocol (fixtures, pytest-timeout, pytest-rerunfailures, the fail-fast guard) and sends its
reports back through a pipe, serialised by pytest's own report hooks; the parent replays them
through ``pytest_runtest_logstart/logreport/logfinish``, so the recorder, the terminal and
``-x`` see them exactly as they see pytest's own. Each test keeps its own trace id, user and
session (its function fixtures); a worker that dies is a crashed test, never a hang, and a new
worker takes its slot; the run's interrupt (SIGINT to the process group: the phase budget, a
cancel) kills every worker and is raised again, so the runner records what ran.

Captured output: forked children share the file descriptors of fd capture, and uncaptured output of
tests run at once would interleave, so concurrency needs ``--capture=sys``; the runner passes it.

A worker's own side is ``worker``; how many run at once, ``throttle``. Loaded only by runs
with tests at once (``--concurrency``, ``--go-fd``).

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import os
import pickle
import selectors
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ci_tools import forking
from ci_tools.go import MIB
from ci_tools.plugin.pending import Pending
from ci_tools.plugin.selection import ORDERED
from ci_tools.plugin.throttle import MemoryBound, Throttle, on_my_cores
from ci_tools.plugin.worker import HEADER, ORDER, STOP, Sender, serve
from ci_tools.records import CRASH_WHEN

WORKER_PREFIX = "fork"  # records name the slot a test ran in: fork0, fork1, ...


def _failure_line(report: pytest.TestReport) -> str:
    """What a failed report says went wrong: its exception's line (type and message), else
    the end of its text."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    return message if isinstance(message, str) else report.longreprtext[-4000:]


def functions(items: list[pytest.Item]) -> list[tuple[str, str]]:
    """Each test's module and function, which its parametrizations share (a test that is not
    a function: its node id)."""
    return [
        (
            item.nodeid.partition("::")[0],
            f"{item.parent.nodeid}::{item.originalname}"
            if isinstance(item, pytest.Function) and item.parent is not None
            else item.nodeid,
        )
        for item in items
    ]


class _Worker:
    """One worker as the parent sees it: its process, pipes and the tests handed to it."""

    def __init__(self, slot: int, pid: int, reports: int, orders: int) -> None:
        self.slot = slot
        self.pid = pid
        self.reports = reports  # the parent reads the worker's log hooks here
        self.orders = orders  # ... and writes the indexes of the tests it is to run here
        self.assigned: deque[int] = deque()  # handed over, not yet done (at most one)
        self.finished = False  # the first assigned test said pytest_runtest_logfinish
        self.started = False  # ... or at least pytest_runtest_logstart
        self.ran = False  # a test it was handed has ended
        self.stopped = False  # told STOP: it exits once its tests are done
        self.handed_at = 0.0  # when its last test was handed over (time.monotonic)
        self.buffer = b""

    @property
    def name(self) -> str:
        """The worker's id in records and crash reports."""
        return f"{WORKER_PREFIX}{self.slot}"

    def messages(self, data: bytes) -> Iterator[tuple[str, int, Any]]:
        """The whole messages in what has been read so far."""
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            if len(self.buffer) < HEADER.size + size:
                return
            payload = self.buffer[HEADER.size : HEADER.size + size]
            self.buffer = self.buffer[HEADER.size + size :]
            yield pickle.loads(payload)  # noqa: S301 - our own worker, through our own pipe

    def order(self, index: int) -> bool:
        """Hands the worker a test (or STOP); False when it has died (its end of the pipe is
        closed: the end of its reports pipe tells the rest)."""
        try:
            os.write(self.orders, ORDER.pack(index))
        except BrokenPipeError:
            self.stopped = True
            return False
        if index == STOP:
            self.stopped = True
        else:
            self.assigned.append(index)
            self.handed_at = time.monotonic()
        return True


class ForkPool:
    """pytest's test loop, with up to ``concurrency`` tests running at once in workers
    forked from this process. ``before_fork`` is called once in the parent (to build what
    every worker shares); ``after_fork`` in each worker first (the fail-fast guard starts its
    watcher again there); ``quiet`` names plugins a worker unregisters (the recorder: only the
    parent writes records)."""

    def __init__(
        self,
        config: pytest.Config,
        concurrency: int,
        *,
        before_fork: Callable[[], None] = lambda: None,
        after_fork: Callable[[], None] = lambda: None,
        quiet: tuple[str, ...] = (),
        alone: Callable[[pytest.Item], bool] = lambda item: False,
        throttle: Callable[..., Throttle] | None = None,
        turned_away: Callable[[str], bool] = lambda text: False,
    ) -> None:
        self.concurrency = concurrency
        self.start = 0  # how many at once at first (0: as many as the cores; a go may say)
        self.memory = 0  # bytes it and its workers may hold (0: no bound; --memory-mb, a go)
        # The count as it grows (see Throttle): from ``start``, while the cores have CPU to
        # spare.
        self.throttle = throttle or on_my_cores
        self.alone = alone  # tests that must run with no other test beside them
        # Whether a failure's text says the platform turned the test away (a 429, a 503):
        # the count comes down (``Throttle.pressure``).
        self.turned_away = turned_away
        self.before_fork = before_fork
        self._prepared = False
        self.after_fork = after_fork
        self.quiet = quiet
        self.sender = Sender(config)
        config.pluginmanager.register(self.sender, "ci_tools_sender")

    def prepare(self) -> None:
        """Builds what every worker shares (``before_fork``), once: a phase held for its go
        calls it while it waits, so the work is off the path."""
        if not self._prepared:
            self._prepared = True
            self.before_fork()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """Runs the session's tests in order, up to ``concurrency`` at once (one at a time:
        pytest's own loop runs them, in this process)."""
        if self.concurrency <= 1:
            return None
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            raise session.Interrupted(
                f"{session.testsfailed} error{'s' if session.testsfailed != 1 else ''} "
                "during collection"
            )
        if session.config.option.collectonly or not session.items:
            return True
        self.prepare()
        # What the parent holds now is shared with every worker, copy-on-write: the workers'
        # garbage collector must not walk (and so copy) it.
        gc.freeze()
        workers: dict[int, _Worker] = {}  # by the fd of its reports
        try:
            self._run(session, workers)
        except BaseException:
            for worker in workers.values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
            for worker in workers.values():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(worker.pid, 0)
                os.close(worker.reports)
                os.close(worker.orders)
            raise
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
        return True

    def _run(self, session: pytest.Session, workers: dict[int, _Worker]) -> None:
        """Forks the workers as the throttle allows more tests at once, hands out the tests,
        replays their reports, replaces a worker that died, until every test ran (or ``-x``
        stopped the run)."""
        items = session.items
        pending = Pending(
            len(items),
            alone=(index for index, item in enumerate(items) if self.alone(item)),
            # No order from the runner (nothing known): the durations measured as the phase
            # goes order the rest, by test function.
            groups=None if session.config.stash.get(ORDERED, False) else functions(items),
        )
        bound = None
        if self.memory:
            bound = MemoryBound(
                self.memory,
                lambda: [(w.pid, w.started or w.ran, w.ran) for w in workers.values()],
            )
        limit = min(self.concurrency, len(items))
        throttle = self.throttle(limit, self.start, bound.fits if bound else None)
        free: list[int] = []  # slots of workers that ended, taken again lowest first
        with selectors.DefaultSelector() as selector:

            def spawn() -> None:
                slot = heapq.heappop(free) if free else len(workers)
                try:
                    worker = self._fork(session, slot)
                except OSError as exc:  # out of processes or memory: go on with those there
                    if not workers:
                        raise
                    heapq.heappush(free, slot)
                    throttle.limit = throttle.allowed = len(workers)
                    sys.stderr.write(
                        f"ci-tools: cannot fork another test worker ({exc}); "
                        f"going on with {len(workers)} at once\n"
                    )
                    return
                workers[worker.reports] = worker
                selector.register(worker.reports, selectors.EVENT_READ)

            while True:
                throttle.update()
                more = self._hand_out(session, [*workers.values()], pending, throttle.allowed)
                if more:  # a worker is forked only when a test is there for it (a new one
                    for _ in range(more):  # takes the slot of one that died)
                        spawn()
                    self._hand_out(session, [*workers.values()], pending, throttle.allowed)
                if not workers:
                    break
                for key, _ in selector.select(throttle.timeout()):
                    worker = workers[key.fd]
                    if self._read(worker, items, throttle, pending):
                        continue
                    selector.unregister(worker.reports)
                    del workers[worker.reports]
                    heapq.heappush(free, worker.slot)
                    if worker.assigned and worker.started:  # crashed in it: it ended too
                        pending.ended(worker.assigned[0])
                    pending.give_back(self._end(worker, items))
        if bound is not None and throttle.held_by_memory:
            sys.stderr.write(
                f"ci-tools: memory held this phase to {throttle.held_by_memory} tests at once "
                f"(within {self.memory // MIB:,} MiB, a worker holding up to "
                f"{bound.worker / MIB:.1f} MiB of its own)\n"
            )
        if throttle.held_by_pressure:
            sys.stderr.write(
                f"ci-tools: the platform turned {throttle.turned_away} tests away (rate limited "
                f"or unavailable); this phase went on with {throttle.held_by_pressure} at "
                "once\n"
            )

    @staticmethod
    def _hand_out(
        session: pytest.Session,
        workers: list[_Worker],
        pending: Pending,
        allowed: int,
    ) -> int:
        """Each free worker gets the next test while fewer than ``allowed`` run; STOP when
        there is no more, or when more workers are there than ``allowed`` (it came down:
        memory, or the platform turning tests away).
        Returns how many more tests could start now, given workers. A test
        of ``alone`` (a load test measuring under a load of its own) runs with nothing beside
        it: the others go first, then each of those, one at a time, once every worker is free
        (a worker never holds its slot waiting for such a test's turn)."""
        stopping = bool(session.shouldfail or session.shouldstop)
        busy = sum(1 for worker in workers if worker.assigned)
        by_itself = any(i in pending.runs_alone for worker in workers for i in worker.assigned)
        live = sum(1 for worker in workers if not worker.stopped)
        for worker in workers:
            if worker.stopped or worker.assigned:
                continue
            if stopping or not pending:
                worker.order(STOP)
                continue
            if busy >= allowed and live > allowed:  # the count came down: retired
                worker.order(STOP)
                live -= 1
                continue
            if by_itself or busy >= allowed:
                return 0
            index = pending.next_shared()
            if index is None:  # only tests that run alone are left
                if busy:
                    return 0
                index, by_itself = pending.next_alone(), True
                assert index is not None  # pending holds tests, none of them shared
            if worker.order(index):
                busy += 1
            else:
                pending.give_back([index])  # the worker died between tests: another runs it
                by_itself = False
        if stopping or by_itself or not pending:
            return 0
        startable = pending.left
        if not startable:  # only tests that run alone: one, once nothing else runs
            return 0 if busy else 1
        return max(0, min(allowed - busy, startable))

    def _fork(self, session: pytest.Session, slot: int) -> _Worker:
        """Forks the worker of ``slot``."""
        reports_read, reports_write = os.pipe()
        orders_read, orders_write = os.pipe()
        # The run's SIGINT (budget, cancel): held back until the worker has its own.
        pid, held = forking.fork(
            {signal.SIGINT}, (reports_read, reports_write, orders_read, orders_write)
        )
        if pid == 0:  # the worker: never returns
            os.close(reports_read)
            os.close(orders_write)
            serve(
                session,
                self.sender,
                reports=reports_write,
                orders=orders_read,
                mask=held,
                quiet=self.quiet,
                after_fork=self.after_fork,
            )
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(reports_write)
        os.close(orders_read)
        return _Worker(slot, pid, reports_read, orders_write)

    def _read(
        self, worker: _Worker, items: list[pytest.Item], throttle: Throttle, pending: Pending
    ) -> bool:
        """Replays the messages the worker sent; False at the end of its pipe. A failure
        that says the platform turned the test away brings the count down; a test's end
        measures it for the order of the rest."""
        data = os.read(worker.reports, 1 << 16)
        if not data:
            return False
        for kind, index, payload in worker.messages(data):
            item = items[index]
            ihook = item.ihook
            if kind == "logstart":
                worker.started, worker.finished = True, False
                ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            elif kind == "report":
                report = item.config.hook.pytest_report_from_serializable(
                    config=item.config, data=payload
                )
                vars(report)["worker_id"] = worker.name  # as pytest-xdist names its workers
                if report.failed and self.turned_away(_failure_line(report)):
                    throttle.pressure(worker.handed_at)
                ihook.pytest_runtest_logreport(report=report)
            elif kind == "logfinish":
                worker.finished = True
                ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            elif kind == "done":
                pending.ended(worker.assigned.popleft())
                worker.started = worker.finished = False
                worker.ran = True
        return True

    def _end(self, worker: _Worker, items: list[pytest.Item]) -> list[int]:
        """Reaps the worker. A test it was running when it died is reported as crashed; any
        other handed to it is given back to run elsewhere."""
        os.close(worker.reports)
        os.close(worker.orders)
        _, status = os.waitpid(worker.pid, 0)
        if not worker.assigned:
            return []
        index = worker.assigned.popleft()
        back = list(worker.assigned)
        if worker.finished:
            return back
        item = items[index]
        if os.WIFSIGNALED(status):
            how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            how = f"exit code {os.waitstatus_to_exitcode(status)}"
        if not worker.started:
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        report = pytest.TestReport(
            nodeid=item.nodeid,
            location=item.location,
            keywords={},
            outcome="failed",
            longrepr=f"worker '{worker.name}' crashed while running {item.nodeid!r} ({how})",
            when=CRASH_WHEN,  # type: ignore[arg-type]  # as pytest-xdist's crash report
        )
        vars(report)["worker_id"] = worker.name  # as pytest-xdist names its workers
        item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return back
