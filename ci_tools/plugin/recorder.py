"""The ci_tools pytest plugin, registered through the ``pytest11`` entry point.

Options ``--env``, ``--phase``, ``--priority`` and ``--results-dir``; the markers ``phase(n)``,
``priority("P1".."P6")`` and ``area("name")``; fixtures for the environment's URLs, an HTTP
client and a WebSocket connector that send the test's trace id, and ``criterion`` to record a
measured value. With ``--phase`` or ``--results-dir`` every test's record is appended to the
phase's JSONL file as it ends. Records are written by the controller only: under pytest-xdist
it sees every worker's reports, so none is lost or written twice.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import json
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.runner import runtestprotocol

from ci_tools import rundir
from ci_tools._exceptions import ConfigError
from ci_tools.records import (
    CRASH_WHEN,
    Bound,
    Failure,
    Known,
    Measurement,
    RecordWriter,
    Selected,
    TestRecord,
    not_run,
    read_selected,
    record_tail,
    write_selected,
)

if TYPE_CHECKING:  # imported where they are used: the plugin loads in every pytest run
    import ssl

    import httpx
    from websockets.sync.client import ClientConnection

    from ci_tools import config as cfg
    from ci_tools.forked import ForkPool
    from ci_tools.rules import FailFast, Trip

PRIORITIES = ("P1", "P2", "P3", "P4", "P5", "P6")
MARKERS = (
    "phase(n): the phase (1-5) the test belongs to",
    "priority(level): the business priority, P1 (critical) to P6",
    "area(*names): what the test exercises, e.g. area('redis', 'websocket')",
    "serial: runs with no other test of its phase beside it (a load test measuring p95 "
    "under a load of its own, a restart): in forked workers after the others, one at a time; "
    "under xdist serial tests take turns",
)
_META = "ci_tools.meta"
_TRACE = "ci_tools.trace_id"
_MEASURE = "ci_tools.measurement"
_NOT_RUN = "ci_tools.not_run"
WATCH_INTERVAL_S = 0.2  # how often a running test's process looks for a new fail-fast trip
_TIMEOUT = re.compile(r"Timeout \(>([\d.]+)s\)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # terminal colour and cursor sequences
_CRASHED_WORKER = re.compile(r"worker '([\w-]+)' crashed")
RERUN = "rerun"  # pytest-rerunfailures' outcome for a failed attempt it repeats
_RECORDER = pytest.StashKey["Recorder"]()
_CONFIG = pytest.StashKey["cfg.Config"]()
_GUARD = pytest.StashKey["FailFastGuard"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Registers the ``ci_tools`` option group."""
    group = parser.getgroup("ci_tools", "ci_tools: phased end-to-end runs after a deploy")
    group.addoption(
        "--env",
        dest="ci_tools_env",
        metavar="NAME",
        default=None,
        help="environment from [tool.ci_tools.environments] (default: its default_env)",
    )
    group.addoption(
        "--phase",
        dest="ci_tools_phase",
        metavar="N",
        type=int,
        default=None,
        help="run only the tests marked phase(N) and record them as phase N",
    )
    group.addoption(
        "--priority",
        dest="ci_tools_priority",
        metavar="P1[,P2]",
        default=None,
        help="run only tests of these priorities",
    )
    group.addoption(
        "--results-dir",
        dest="ci_tools_results_dir",
        metavar="DIR",
        default=None,
        help="write one JSON record per test to DIR/phaseN.jsonl",
    )
    group.addoption(
        "--order",
        dest="ci_tools_order",
        metavar="FILE",
        default=None,
        help="a file of node ids (one a line) in the order to start them (the runner writes "
        "last run's failures first, then the longest first); the others follow as collected",
    )
    group.addoption(
        "--shard",
        dest="ci_tools_shard",
        metavar="I/K",
        default=None,
        help="run only shard I of K of the selected tests (balanced by --shard-durations), writing "
        "the shard's own files (phaseN.shardI.*)",
    )
    group.addoption(
        "--shard-durations",
        dest="ci_tools_durations",
        metavar="FILE",
        default=None,
        help="a JSON file of node id to seconds that --shard balances by (the runner writes it "
        "from the run store or the last run; without it the shards are balanced by count)",
    )
    group.addoption(
        "--concurrency",
        dest="ci_tools_concurrency",
        metavar="N",
        type=int,
        default=0,
        help="run up to N tests at once, each in a process forked from this one (end-to-end "
        "tests mostly wait); needs --capture=sys (0 or 1: one at a time)",
    )
    group.addoption(
        "--no-throttle",
        dest="ci_tools_no_throttle",
        action="store_true",
        help="with --concurrency N: run N at once from the first test, whatever the CPU (a "
        "load of a known size); by default the count starts at the cores and grows while they "
        "have CPU to spare",
    )
    group.addoption(
        "--go-fd",
        dest="ci_tools_go_fd",
        metavar="FD",
        type=int,
        default=None,
        help="collect, then wait for the runner's go on this file descriptor before the first "
        "test (its order and concurrency come with it; no go: no test runs); the runner starts "
        "a phase so while the phase before still runs. Needs --capture=sys",
    )
    group.addoption(
        "--fail-fast-after",
        dest="ci_tools_fail_fast_after",
        metavar="N",
        type=int,
        default=0,
        help="after N failures naming the same broken part (e.g. the agent pipeline hangs), "
        "do not start, and stop, the tests that depend on it; they are recorded as not run "
        "(0: off, the default outside ci-tools run)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Registers the markers; on the controller of a recorded run, the recorder."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    _shard(config)  # a bad --shard stops here, in one line
    concurrency = config.getoption("ci_tools_concurrency")
    go_fd = config.getoption("ci_tools_go_fd")
    if config.getoption("ci_tools_no_throttle") and concurrency <= 1 and go_fd is None:
        raise pytest.UsageError(
            "--no-throttle needs --concurrency N (N > 1): it says how many run at once"
        )
    if (concurrency > 1 or go_fd is not None) and not hasattr(config, "workerinput"):
        from ci_tools import forked  # noqa: PLC0415 - only runs at once load it (pickle, 3 ms)

        # Held for a go, the concurrency comes with it: the pool is there for any count.
        forked.check_options(config, max(concurrency, 2))
        pool = forked.ForkPool(
            config,
            concurrency,
            before_fork=lambda: _before_fork(config),
            after_fork=lambda: _after_fork(config),
            quiet=("ci_tools_recorder",),
            alone=lambda item: item.get_closest_marker("serial") is not None,
            throttle=forked.unthrottled if config.getoption("ci_tools_no_throttle") else None,
        )
        config.pluginmanager.register(pool, "ci_tools_pool")
        if go_fd is not None:
            config.pluginmanager.register(HeldForGo(go_fd, pool), "ci_tools_held")
    phase = config.getoption("ci_tools_phase")
    results_dir = config.getoption("ci_tools_results_dir")
    if (phase is None and results_dir is None) or hasattr(config, "workerinput"):
        return
    folder, part = _results_folder(config), _shard(config)
    after = config.getoption("ci_tools_fail_fast_after")
    trips = rundir.trips(folder, phase or 0, part)
    if after > 0 and not hasattr(config, "workerinput"):
        trips.unlink(missing_ok=True)  # a phase re-run starts with every part trusted
    recorder = Recorder(
        RecordWriter(rundir.records(folder, phase or 0, part)),
        phase or 0,
        _failfast(after),
        trips,
        rundir.selected(folder, phase or 0, part),
    )
    config.stash[_RECORDER] = recorder
    config.pluginmanager.register(recorder, "ci_tools_recorder")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """In every process that runs tests of a fail-fast run, the guard that skips or stops the
    tests of a part declared broken."""
    config = session.config
    after = config.getoption("ci_tools_fail_fast_after")
    phase = config.getoption("ci_tools_phase")
    results_dir = config.getoption("ci_tools_results_dir")
    if phase is None and results_dir is None:
        return
    folder = _results_folder(config)
    if after <= 0:
        return
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("dsession"):
        guard = FailFastGuard(rundir.trips(folder, phase or 0, _shard(config)))
        config.stash[_GUARD] = guard
        config.pluginmanager.register(guard, "ci_tools_failfast_guard")


def _failfast(after: int) -> FailFast | None:
    """Fail-fast's rule state, once ``after`` failures of one cause declare a part broken."""
    if after <= 0:
        return None
    from ci_tools.rules import FailFast  # noqa: PLC0415 - importing its rules: 4-8 ms here

    return FailFast(after)


def redact(text: str) -> str:
    """``ci_tools.redact.redact``, loaded on the first text to redact (a failure, a skip
    reason): a run of passing tests never compiles its patterns."""
    from ci_tools.redact import redact as redacting  # noqa: PLC0415

    return redacting(text)


def _before_fork(config: pytest.Config) -> None:
    """In the parent, once, before its workers fork: what every test would otherwise build
    again in its worker (forked workers tear session fixtures down after each test)."""
    with contextlib.suppress(pytest.UsageError):  # no project: a fixture that needs it says so
        _project_config(config)
    if "httpx" in sys.modules:  # the suite's tests use it
        _ssl_context()
        _warm_clients()


def _after_fork(config: pytest.Config) -> None:
    """In a test's forked child: the fail-fast guard watches again (threads do not survive a
    fork)."""
    guard = config.stash.get(_GUARD, None)
    if guard is not None:
        guard.after_fork()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Flushes and unregisters the recorder, the guard and the serial turns."""
    recorder = config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.finish_all()
        recorder.writer.close()
        config.pluginmanager.unregister(name="ci_tools_recorder")
        del config.stash[_RECORDER]
    guard = config.stash.get(_GUARD, None)
    if guard is not None:
        guard.close()
        config.pluginmanager.unregister(guard)
        del config.stash[_GUARD]
    for name in ("ci_tools_serial_turns", "ci_tools_pool", "ci_tools_sender", "ci_tools_held"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def _project_config(config: pytest.Config) -> cfg.Config:
    from ci_tools import config as cfg  # noqa: PLC0415 - see the TYPE_CHECKING import

    if _CONFIG not in config.stash:
        try:
            config.stash[_CONFIG] = cfg.load(config.rootpath / "pyproject.toml")
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
    return config.stash[_CONFIG]


def item_meta(item: pytest.Item) -> dict[str, Any]:
    """The phase, priority, areas and marker names of a test; bad marker values are refused."""
    # One walk over the markers, closest first (this runs for every collected test).
    markers = list(item.iter_markers())
    phase = next((m.args[0] for m in markers if m.name == "phase" and m.args), None)
    priority = next((m.args[0] for m in markers if m.name == "priority" and m.args), None)
    if phase is not None and (type(phase) is not int or phase < 1):  # True is no phase
        raise pytest.UsageError(f"{item.nodeid}: phase({phase!r}) must be a whole number >= 1")
    if priority is not None and priority not in PRIORITIES:
        raise pytest.UsageError(
            f"{item.nodeid}: priority({priority!r}) must be one of {', '.join(PRIORITIES)}"
        )
    areas = tuple(sorted({str(a) for m in markers if m.name == "area" for a in m.args}))
    names = tuple(sorted({m.name for m in markers} - {"parametrize", "usefixtures"}))
    return {"phase": phase, "priority": priority, "areas": areas, "markers": names}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps the tests of ``--phase``/``--priority``; attaches each test's metadata. When this
    process records and runs its tests itself, its recorder is given them through
    ``RecordingProtocol`` (none of them ``flaky``: pytest-rerunfailures repeats those)."""
    phase = config.getoption("ci_tools_phase")
    priority = config.getoption("ci_tools_priority")
    if (
        phase is None
        and priority is None
        and config.getoption("ci_tools_results_dir") is None
        and config.getoption("ci_tools_shard") is None
    ):
        return  # not a phased run: leave the tests alone and cost nothing
    wanted = set(priority.split(",")) if priority else None
    keep, drop = [], []
    serial: list[str] = []  # node ids of the serial tests kept
    # Tests with the same parent and the same markers of their own (a parametrised function's
    # cases, a module's undecorated tests) have the same metadata: read once for them all.
    # The markers are the ones collection holds for the whole run, so their ids stay theirs.
    metas: dict[tuple[int, ...], dict[str, Any]] = {}
    for item in items:
        same = (id(item.parent), *map(id, item.own_markers))
        meta = metas.get(same)
        if meta is None:
            meta = metas[same] = item_meta(item)
        if phase is not None and meta["phase"] is None:
            # Deselecting it would hide it from the gate: say so instead.
            raise pytest.UsageError(
                f"{item.nodeid} has no phase marker, so phase {phase} would silently leave it "
                f"out: add pytestmark = pytest.mark.phase(N) to its module"
            )
        if (phase is not None and meta["phase"] != phase) or (
            wanted is not None and meta["priority"] not in wanted
        ):
            drop.append(item)
            continue
        item.user_properties.append((_META, meta))
        keep.append(item)
        if "serial" in meta["markers"]:
            serial.append(item.nodeid)
    if serial and not config.pluginmanager.hasplugin("ci_tools_serial_turns"):
        # Only where a serial test was collected (the process that runs it: an xdist worker,
        # or pytest itself): every other run pays nothing for the turns.
        turns = SerialTurns(rundir.serial_lock(_results_folder(config), phase or 0, _shard(config)))
        config.pluginmanager.register(turns, "ci_tools_serial_turns")
    rank = _order(config.getoption("ci_tools_order"))
    _by_rank(keep, rank)
    spec = config.getoption("ci_tools_shard")
    if spec is not None:  # the other shards' tests are theirs: deselected, not dropped
        from ci_tools import shard  # noqa: PLC0415 - only a split run loads it

        index, count = shard.parse(spec)
        nodeids = [i.nodeid for i in keep]
        mine = set(shard.of(nodeids, _durations(config), index, count, together=serial))
        drop += [item for item in keep if item.nodeid not in mine]
        keep = [item for item in keep if item.nodeid in mine]
    if drop or rank:
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if phase is not None:
        folder = _results_folder(config)
        write_selected(
            rundir.selected(folder, phase, _shard(config)), (_selected(item) for item in keep)
        )
    recorder = config.stash.get(_RECORDER, None)
    if (
        recorder is not None
        and not any("flaky" in meta["markers"] for meta in metas.values())
        and _runs_own_tests(config)
    ):
        config.pluginmanager.unregister(name="ci_tools_recorder")
        config.pluginmanager.register(RecordingProtocol(recorder), "ci_tools_recorder")


def _by_rank(items: list[pytest.Item], rank: dict[str, int]) -> None:
    """Sorts the tests by the order file: likely failures first (fail-fast comes early),
    then longest first (makespan); the rest follow as collected (the sort is stable)."""
    if rank:
        items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))


class HeldForGo:
    """``--go-fd``: the phase's pytest has started up and collected ahead of its turn, and
    waits for the runner's go before its first test (see ``ci_tools.go``)."""

    def __init__(self, fd: int, pool: ForkPool) -> None:
        self.fd = fd
        self.pool = pool  # the go says how many tests it runs at once

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, bool, bool]:
        """Waits for the go, then lets the test loop (the pool's or pytest's) run."""
        from ci_tools import go  # noqa: PLC0415 - only a held run loads it

        self.pool.prepare()  # while it waits: what its workers share (about 60 ms here)
        order = go.receive(self.fd)
        if order is None:
            raise session.Interrupted("the runner did not start this phase (no go)")
        _by_rank(session.items, _order(order.order))
        self.pool.concurrency = order.concurrency
        return (yield)


def _shard(config: pytest.Config) -> int | None:
    """This process's shard (``--shard I/K``): I, or None when the phase is not split."""
    spec = config.getoption("ci_tools_shard")
    if spec is None:
        return None
    from ci_tools import shard  # noqa: PLC0415 - only a split run loads it

    try:
        return shard.parse(spec)[0]
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _durations(config: pytest.Config) -> dict[str, float]:
    """The durations ``--shard`` balances by; none without ``--shard-durations``."""
    path = config.getoption("ci_tools_durations")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(
            f"--shard-durations {path}: {exc}; give a JSON object of node id to seconds, or leave "
            "the option out to balance the shards by count"
        ) from None
    if not isinstance(data, dict):
        raise pytest.UsageError(
            f"--shard-durations {path}: not a JSON object of node id to seconds"
        )
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def _results_folder(config: pytest.Config) -> Path:
    """Where this run's files go: ``--results-dir``, or ``reports/adhoc``."""
    return Path(config.getoption("ci_tools_results_dir") or "reports/adhoc")


def _order(path: str | None) -> dict[str, int]:
    """Each node id of the order file with its place; none when there is no file."""
    if not path:
        return {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {}  # an ordering hint only: a missing file changes nothing else
    return {nodeid: place for place, nodeid in enumerate(n.strip() for n in lines if n.strip())}


def _meta(item: pytest.Item) -> dict[str, Any]:
    """The metadata collection attached to a test (empty for a test it did not see)."""
    for key, value in item.user_properties:
        if key == _META:
            meta: dict[str, Any] = value  # type: ignore[assignment]  # set by this plugin
            return meta
    return {}


def _selected(item: pytest.Item) -> Selected:
    meta = _meta(item)
    file, line, _ = item.location
    return Selected(
        item.nodeid, file, (line or 0) + 1, meta["priority"], meta["areas"], meta["markers"]
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_SECOND: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted, and its text
_MILLIS: dict[int, str] = {}  # a timestamp's tail, by its milliseconds (made as seen)


def _iso(epoch: float) -> str:
    """``2026-12-01T23:10:03.123Z`` (UTC, milliseconds cut, as ``isoformat`` does). Three a
    test: the second's text is kept, so most calls only look up the milliseconds'."""
    fraction, whole = math.modf(epoch)
    second, micros = int(whole), round(fraction * 1_000_000)  # as datetime rounds
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    last, text = _SECOND[0]
    if second != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _SECOND[0] = (second, text)
    millis = micros // 1000
    tail = _MILLIS.get(millis)
    if tail is None:
        tail = _MILLIS[millis] = f".{millis:03d}Z"
    return text + tail


def failure_of(report: pytest.TestReport) -> Failure:
    """The exception type, message and a short traceback of a failed report, as plain text
    (pytest colours its diffs when colour is forced, e.g. FORCE_COLOR in CI), redacted."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = redact(_ANSI.sub("", report.longreprtext))
    if crash is not None:
        first = _ANSI.sub("", str(crash.message)).splitlines()[0] if crash.message else ""
        kind, sep, message = first.partition(": ")
        if not sep or " " in kind:
            kind, message = "Error", first
    else:
        kind, message = "Error", text.strip().splitlines()[-1] if text.strip() else ""
    timed_out = _TIMEOUT.search(text)
    if timed_out:
        return Failure(
            "Timeout",
            f"timed out after {float(timed_out.group(1)):g} s",
            _short(text),
            timed_out=True,
        )
    return Failure(kind, redact(message), _short(text))


def _short(text: str, lines: int = 25, chars: int = 4000) -> str:
    return "\n".join(text.splitlines()[-lines:])[-chars:]


def _recorded(
    properties: list[tuple[str, Any]],
) -> tuple[dict[str, Any], list[str], list[Measurement], str | None]:
    """What the plugin noted on a test: its metadata, trace ids (each once), measurements,
    and why it was not run (None when it was)."""
    meta: dict[str, Any] = {}
    trace_ids: list[str] = []
    measurements: list[Measurement] = []
    not_run_reason = None
    for key, value in properties:
        if key == _META:
            meta = value
        elif key == _TRACE and value not in trace_ids:
            trace_ids.append(str(value))
        elif key == _MEASURE:
            measurements.append(Measurement(str(value[0]), float(value[1]), value[2]))
        elif key == _NOT_RUN:
            not_run_reason = str(value)
    return meta, trace_ids, measurements, not_run_reason


class Recorder:
    """Turns each test's setup/call/teardown reports into one record, written as it ends;
    feeds failures to fail-fast and publishes its trips to every test process. Its log hooks
    hear the reports of forked workers, xdist and pytest-rerunfailures; where pytest runs the
    tests itself, ``RecordingProtocol`` hands it each test's reports instead."""

    def __init__(
        self,
        writer: RecordWriter,
        phase: int,
        failfast: FailFast | None = None,
        trips_path: Path | None = None,
        selection_path: Path | None = None,
    ) -> None:
        self.writer = writer
        self.phase = phase
        self.failfast = failfast
        self.trips_path = trips_path
        self.selection_path = selection_path  # what a crashed test's record is completed from
        self._reports: dict[str, list[pytest.TestReport]] = {}
        self._started: dict[str, float] = {}  # epoch seconds, for a crashed test's record
        self._retries: dict[str, int] = {}  # attempts pytest-rerunfailures repeated
        self._retried: set[str] = set()  # tests whose failed attempt's teardown is pending
        self._encoded: dict[tuple[Any, ...], bytes] = {}  # record tails, by their values

    def pytest_runtest_logstart(
        self,
        nodeid: str,
        location: tuple[str, int | None, str],
    ) -> None:
        """Notes the start, so a test still running when the run is killed can be named."""
        now = time.time()
        self._started[nodeid] = now
        self.writer.start(nodeid, _iso(now))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collects a report; the test's record is written after its teardown. A failed
        attempt that pytest-rerunfailures repeats (outcome ``rerun``) is counted, and its
        reports are dropped: the record is the last attempt's."""
        nodeid = report.nodeid
        if report.outcome == RERUN:
            self._retries[nodeid] = self._retries.get(nodeid, 0) + 1
            self._reports.pop(nodeid, None)
            self._retried.add(nodeid)
            return
        if nodeid in self._retried:
            if report.when == "teardown":  # the repeated attempt's own teardown
                self._retried.discard(nodeid)
                return
            self._retried.discard(nodeid)
        self._reports.setdefault(nodeid, []).append(report)
        if report.when not in ("setup", "call"):  # teardown, or xdist's report of a crash
            self._finish(nodeid)

    def finish_all(self) -> None:
        """Drops tests that never reached teardown (the run was interrupted): their start line
        without an end is what names them as hung, so no half-record is written."""
        self._reports.clear()

    def _finish(self, nodeid: str) -> None:
        reports = self._reports.pop(nodeid, [])
        started = self._started.pop(nodeid, None)
        if not reports:
            return
        retries = self._retries.pop(nodeid, 0)
        if reports[-1].when == CRASH_WHEN:
            record = self.crashed(reports[-1], started)
        elif not retries and self.write_passed(nodeid, reports):
            return  # most tests of a healthy run: no record object, no fail-fast to feed
        else:
            record = self.build(reports)
        if retries:
            record = dataclasses.replace(record, retries=retries)
        self.written(record)

    def written(self, record: TestRecord) -> None:
        """Writes a record and feeds its failure to fail-fast."""
        self.writer.record(record)
        failure = record.failure
        if self.failfast is None or failure is None or record.outcome == "not_run":
            return
        from ci_tools.rules import failure_text  # noqa: PLC0415 - loaded with fail-fast

        text = failure_text(failure.type, failure.message, record.areas, failure.timed_out)
        if self.failfast.observe(text, failure.message) is not None and self.trips_path:
            publish_trips(self.trips_path, self.failfast.trips)

    def crashed(self, report: pytest.TestReport, started: float | None) -> TestRecord:
        """The record of a test whose process died under it (xdist's crash report carries
        neither its markers nor its times): a failure naming the crash, completed from the
        phase's selection, never a hang."""
        now = time.time()
        started = started or now
        selection = read_selected(self.selection_path) if self.selection_path else ()
        known = next((t for t in selection if t.nodeid == report.nodeid), None)
        test = known or Selected(report.nodeid, report.location[0], 0)
        named = _CRASHED_WORKER.search(report.longreprtext)
        worker = named.group(1) if named else None
        message = (
            f"its test process (worker {worker or '?'}) crashed while running it; the phase "
            "went on in a new worker"
        )
        return dataclasses.replace(
            not_run(test, self.phase, "", _iso(started)),
            outcome="failed",
            reason=None,
            end=_iso(now),
            duration_s=round(now - started, 4),
            failure=Failure("WorkerCrashed", message, redact(report.longreprtext)[-4000:]),
            worker=worker,
        )

    def write_passed(self, nodeid: str, reports: list[pytest.TestReport]) -> bool:
        """Writes the record of a test whose every report passed, straight from its reports
        (the record ``build`` would give); False, writing nothing, for any other test."""
        duration = 0.0
        for report in reports:
            if report.outcome != "passed":
                return False
            duration += report.duration
        last = reports[-1]  # the teardown's: its copy of the test's properties has them all
        meta, trace_ids, measurements, not_run_reason = _recorded(last.user_properties)
        if not_run_reason is not None:
            return False
        file, line, _ = last.location
        self.writer.passed(
            nodeid,
            (line or 0) + 1,
            self._tail(file, meta),
            round(duration, 4),
            _iso(reports[0].start),
            _iso(last.stop),
            trace_ids,
            measurements,
            getattr(last, "worker_id", None),
        )
        return True

    def _tail(self, file: str, meta: dict[str, Any]) -> bytes:
        """``record_tail`` of a test of ``file`` with this metadata, encoded once for all the
        tests that share them (a module's, a parametrised function's)."""
        known = (
            file,
            meta.get("phase") or self.phase,
            meta.get("priority"),
            meta.get("markers", ()),
            meta.get("areas", ()),
        )
        tail = self._encoded.get(known)
        if tail is None:
            tail = self._encoded[known] = record_tail(*known)
        return tail

    def _known(
        self, nodeid: str, location: tuple[str, int | None, str], meta: dict[str, Any]
    ) -> Known:
        """What collection knows of a test (its place, its metadata), as its record has it.
        A plain tuple: the passed-test path builds one for every test."""
        file, line, _ = location
        return (
            nodeid,
            file,
            (line or 0) + 1,
            meta.get("phase") or self.phase,
            meta.get("priority"),
            meta.get("markers", ()),
            meta.get("areas", ()),
        )

    def build(self, reports: list[pytest.TestReport]) -> TestRecord:
        """One record from a test's reports: any test that did not pass at the first try
        (``write_passed`` writes the others)."""
        failed = skipped = None
        call_failed = False
        duration = 0.0
        properties: list[tuple[str, Any]] = []
        for report in reports:
            duration += report.duration
            if report.failed:
                failed = failed or report
                call_failed = call_failed or report.when == "call"
            elif report.skipped and skipped is None:
                skipped = report
            # Each report copies the test's properties as they were then: the last has all.
            if len(report.user_properties) >= len(properties):
                properties = report.user_properties
        if failed is not None:
            outcome = (
                "failed" if call_failed or failed.when not in ("setup", "teardown") else "error"
            )
        else:
            outcome = "skipped" if skipped is not None else "passed"
        meta, trace_ids, measurements, reason = _recorded(properties)
        if reason is not None:
            outcome, failed = "not_run", None
        if outcome == "skipped" and skipped is not None and isinstance(skipped.longrepr, tuple):
            reason = redact(str(skipped.longrepr[2]).removeprefix("Skipped: "))
        last = reports[-1]
        nodeid, file, line, phase, priority, markers, areas = self._known(
            last.nodeid, last.location, meta
        )
        return TestRecord(
            nodeid=nodeid,
            file=file,
            line=line,
            phase=phase,
            priority=priority,
            markers=markers,
            areas=areas,
            outcome=outcome,
            duration_s=round(duration, 4),
            start=_iso(reports[0].start),
            end=_iso(last.stop),
            trace_ids=tuple(trace_ids),
            measurements=tuple(measurements),
            failure=failure_of(failed) if failed is not None else None,
            reason=reason,
            worker=getattr(last, "worker_id", None),
        )


class RecordingProtocol:
    """The recorder of a process that runs its own tests one after another, through pytest's
    own protocol alone (no forked workers, no xdist, no plugin running a test its own way):
    runs that protocol for each test and records from the reports it returns, in place of the
    recorder's four log hooks a test (on 2,000 trivial tests with pytest-rerunfailures
    installed, as it always is beside ci_tools, recording went from 1.039 to 1.015 of plain
    pytest's instructions)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """What ``_pytest.runner.pytest_runtest_protocol`` does, with the test's start
        written before ``logstart`` and its record after its last report."""
        ihook, nodeid, location = item.ihook, item.nodeid, item.location
        recorder = self.recorder
        recorder.writer.start(nodeid, _iso(time.time()))
        ihook.pytest_runtest_logstart(nodeid=nodeid, location=location)
        reports = runtestprotocol(item, nextitem=nextitem)
        if not recorder.write_passed(nodeid, reports):
            recorder.written(recorder.build(reports))
        ihook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
        return True


def _runs_own_tests(config: pytest.Config) -> bool:
    """Whether this process runs its tests itself, each through pytest's own protocol: no
    forked workers or xdist, and no other plugin's protocol but wrappers and
    pytest-rerunfailures' when it repeats nothing (no retries asked for here; the caller
    checks that no test is marked ``flaky``)."""
    manager = config.pluginmanager
    if manager.has_plugin("dsession") or manager.has_plugin("ci_tools_pool"):
        return False
    runner, reruns = manager.get_plugin("runner"), manager.get_plugin("rerunfailures")
    if reruns is not None and _reruns_asked(config):
        return False
    return all(
        impl.wrapper or impl.hookwrapper or impl.plugin in (runner, reruns)
        for impl in manager.hook.pytest_runtest_protocol.get_hookimpls()
    )


def _reruns_asked(config: pytest.Config) -> bool:
    """Whether pytest-rerunfailures was given a count for every test (its options or ini)."""
    if config.getoption("force_reruns", None) is not None:
        return True
    if config.getoption("reruns", None) is not None:
        return True
    try:
        return bool(str(config.getini("reruns")).strip())
    except ValueError:  # no such ini key: an older pytest-rerunfailures
        return False


def publish_trips(path: Path, trips: list[Trip]) -> None:
    """Writes the trips for every test process to see (atomically: they poll the file)."""
    fields = ("rule", "title", "areas", "failures", "example")
    rundir.write_atomically(path, json.dumps([{f: getattr(t, f) for f in fields} for t in trips]))


def read_trips(path: Path) -> list[Trip]:
    """The trips published so far; none when the file is absent or half-written."""
    from ci_tools import rules  # noqa: PLC0415 - only a fail-fast run reads trips

    try:
        data = json.loads(path.read_text())
        return [
            rules.Trip(d["rule"], d["title"], tuple(d["areas"]), d["failures"], d["example"])
            for d in data
        ]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return []


class FailFastStopped(BaseException):
    """Raised inside a running test whose part was declared broken: it is recorded as not
    run. A BaseException, so that a test's own ``except Exception`` does not swallow it."""


class SerialTurns:
    """Serial tests take turns: while one runs (its call), another serial test of the phase,
    in whatever worker, waits. An exclusive lock on a file of the run directory, so it holds
    across xdist workers and is released by the kernel if a worker dies."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """Runs a serial test's call under the lock; any other test as it is."""
        if item.get_closest_marker("serial") is None:
            return (yield)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                return (yield)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class FailFastGuard:
    """In each test process: does not start a test whose areas depend on a broken part, and
    stops (by a signal to the main thread) one that is waiting on it when the part trips."""

    def __init__(self, trips_path: Path) -> None:
        self.trips_path = trips_path
        self._mtime = 0.0
        self._trips: list[Trip] = []
        self._current: pytest.Item | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._previous = signal.signal(signal.SIGUSR1, self._stop_current)
        self._watcher = self._start_watcher()

    def _start_watcher(self) -> threading.Thread:
        watcher = threading.Thread(target=self._watch, name="ci-tools-failfast", daemon=True)
        watcher.start()
        return watcher

    def after_fork(self) -> None:
        """In a forked child: fresh lock and event (the parent's may have been held), and a
        watcher of its own."""
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._current = None
        self._watcher = self._start_watcher()

    def trips(self) -> list[Trip]:
        """The trips as the file says now (read again only when it changed)."""
        try:
            mtime = self.trips_path.stat().st_mtime
        except FileNotFoundError:
            return self._trips
        if mtime != self._mtime:
            self._mtime, self._trips = mtime, read_trips(self.trips_path)
        return self._trips

    def _stopping(self, item: pytest.Item) -> Trip | None:
        areas = _meta(item).get("areas", ())
        return next((trip for trip in self.trips() if trip.stops(areas)), None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """A test of a broken part is not started."""
        trip = self._stopping(item)
        if trip is not None:
            item.user_properties.append((_NOT_RUN, trip.reason))
            pytest.skip(trip.reason)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """Marks the test as stoppable while its body runs."""
        with self._lock:
            self._current = item
        try:
            return (yield)
        finally:
            with self._lock:
                self._current = None

    def _watch(self) -> None:
        while not self._done.wait(WATCH_INTERVAL_S):
            with self._lock:
                item = self._current
            if item is not None and self._stopping(item) is not None:
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    def _stop_current(self, signum: int, frame: object) -> None:
        with self._lock:
            item = self._current
        if item is None:
            return  # it finished in the meantime
        trip = self._stopping(item)
        if trip is None:
            return
        reason = trip.reason.replace("not run:", "stopped while waiting:", 1)
        item.user_properties.append((_NOT_RUN, reason))
        with self._lock:
            self._current = None  # one stop per test
        raise FailFastStopped(reason)

    def close(self) -> None:
        """Stops the watcher and gives SIGUSR1 back."""
        self._done.set()
        self._watcher.join(timeout=1)
        signal.signal(signal.SIGUSR1, self._previous)


# Fixtures: what an end-to-end test uses to reach the platform.


@pytest.fixture(scope="session")
def ci_config(pytestconfig: pytest.Config) -> cfg.Config:
    """The project's ``[tool.ci_tools]`` configuration."""
    return _project_config(pytestconfig)


@pytest.fixture(scope="session")
def ci_env_name(pytestconfig: pytest.Config, ci_config: cfg.Config) -> str:
    """The name of the environment under test."""
    name: str = pytestconfig.getoption("ci_tools_env") or ci_config.default_env
    return name


@pytest.fixture(scope="session")
def ci_urls(
    pytestconfig: pytest.Config,
    ci_config: cfg.Config,
    ci_env_name: str,
) -> dict[str, str]:
    """The environment's URLs (backend, websocket, auth, frontend when it has one)."""
    from ci_tools import config as cfg  # noqa: PLC0415 - see the TYPE_CHECKING import

    try:
        return cfg.resolve_urls(
            ci_env_name, ci_config.environment(ci_env_name), pytestconfig.rootpath, os.environ
        )
    except ConfigError as exc:
        # A failed setup, not pytest.exit: that would crash an xdist worker mid-run.
        pytest.fail(f"ci_tools: {exc}", pytrace=False)


@pytest.fixture
def trace_id(request: pytest.FixtureRequest) -> str:
    """A fresh trace id for this test, recorded with its record."""
    value = secrets.token_hex(16)
    request.node.user_properties.append((_TRACE, value))
    return value


def trace_headers(trace: str) -> dict[str, str]:
    """The trace id in both headers Cloud Run reads, with a fresh span id."""
    span = secrets.token_hex(8)
    return {
        "traceparent": f"00-{trace}-{span}-01",
        "x-cloud-trace-context": f"{trace}/{int(span, 16)};o=1",
    }


def _warm_clients() -> None:
    """Imports what a first request and a first WebSocket session import lazily (httpx's
    transport, h11, the IDNA codec; websockets' sync client), so workers forked next share
    it instead of each importing it again as its first test starts."""
    import importlib  # noqa: PLC0415

    import httpx  # noqa: PLC0415 - see the TYPE_CHECKING import

    httpx.Client(verify=_ssl_context()).close()
    for name in ("httpcore._sync.http11", "h11", "encodings.idna", "websockets.sync.client"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    "localhost".encode("idna")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    import httpx  # noqa: PLC0415 - see the TYPE_CHECKING import

    return httpx.create_ssl_context()


@pytest.fixture(scope="session")
def ci_ssl_context() -> ssl.SSLContext:
    """One TLS context for the process: building one loads the CA bundle (about 20 ms), which
    a client per test would otherwise pay every time (forked workers share the parent's)."""
    return _ssl_context()


@pytest.fixture
def http(trace_id: str, ci_ssl_context: ssl.SSLContext) -> Iterator[httpx.Client]:
    """An HTTP client whose every request carries the test's trace id."""
    import httpx  # noqa: PLC0415 - see the TYPE_CHECKING import

    def stamp(request: httpx.Request) -> None:
        request.headers.update(trace_headers(trace_id))

    with httpx.Client(
        timeout=httpx.Timeout(15.0, connect=5.0),
        event_hooks={"request": [stamp]},
        verify=ci_ssl_context,
    ) as client:
        yield client


@pytest.fixture
def ws_connect(
    trace_id: str,
    ci_urls: dict[str, str],
) -> Iterator[Callable[..., ClientConnection]]:
    """Opens WebSocket connections (default: the environment's URL) carrying the trace id;
    ``token`` goes in the query string, as a browser would send it. All close at teardown."""
    from websockets.sync.client import connect as ws_connect_sync  # noqa: PLC0415

    with contextlib.ExitStack() as opened:

        def connect(
            url: str | None = None, *, token: str | None = None, open_timeout: float = 10.0
        ) -> ClientConnection:
            target = url or ci_urls["websocket"]
            if token is not None:
                target += ("&" if "?" in target else "?") + f"token={token}"
            return opened.enter_context(
                ws_connect_sync(
                    target,
                    additional_headers=trace_headers(trace_id),
                    open_timeout=open_timeout,
                    close_timeout=2.0,
                )
            )

        yield connect


class Criterion:
    """Records values a test measured against the named criteria of
    ``[tool.ci_tools.criteria]``: ``criterion(name, value)`` for a measured value,
    ``criterion.at_least(name, value)`` when the wait was cut short (a timeout: the value is a
    lower bound), ``criterion.unreachable(name)`` when the part never answered."""

    def __init__(self, node: pytest.Item, names: Any) -> None:
        self._node = node
        self._names = names

    def _add(self, name: str, value: float, bound: Bound) -> None:
        if name not in self._names:
            raise ConfigError(
                f"unknown criterion {name!r}: define it under [tool.ci_tools.criteria.{name}]"
            )
        self._node.user_properties.append((_MEASURE, (name, float(value), bound)))

    def __call__(self, name: str, value: float) -> None:
        """A measured value."""
        self._add(name, value, "")

    def at_least(self, name: str, value: float) -> None:
        """A lower bound: the measurement was cut short after ``value``."""
        self._add(name, value, "at_least")

    def unreachable(self, name: str) -> None:
        """Nothing could be measured: the part refused or never answered."""
        self._add(name, 0.0, "unreachable")


@pytest.fixture
def criterion(request: pytest.FixtureRequest, ci_config: cfg.Config) -> Criterion:
    """Records measured values against the named criteria of ``[tool.ci_tools.criteria]``."""
    return Criterion(request.node, ci_config.criteria)
