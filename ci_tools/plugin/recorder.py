"""Each test's reports become one record, appended to the phase's JSONL file as the test ends:
its start line first, so a test still running when the run is killed is named; a passed test
written straight from its reports; any other through a ``TestRecord``. Failures feed fail-fast,
whose trips are published for every test process. Records are written by the controller only:
under pytest-xdist it sees every worker's reports, so none is lost or written twice.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ci_tools.plugin.failfast import publish_trips
from ci_tools.plugin.keys import MEASURE, META, NOT_RUN, TRACE
from ci_tools.records import (
    CRASH_WHEN,
    Failure,
    Known,
    Measurement,
    RecordWriter,
    Selected,
    TestRecord,
    not_run,
    now,
    read_selected,
    record_tail,
    timestamp,
)

if TYPE_CHECKING:
    from ci_tools.plugin.where import Repository
    from ci_tools.rules import FailFast

RERUN = "rerun"  # pytest-rerunfailures' outcome for a failed attempt it repeats
_TIMEOUT = re.compile(r"Timeout \(>([\d.]+)s\)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # terminal colour and cursor sequences
_CRASHED_WORKER = re.compile(r"worker '([\w-]+)' crashed")
_RAISED = re.compile(r"^E\s+(?P<kind>[A-Za-z_][\w.]*): (?P<message>.*)$")  # E   KeyError: 'x'
_NO_FIXTURE = re.compile(r"^E\s+fixture '[^']*' not found")  # pytest's FixtureLookupError
_SYNTAX_ERRORS = frozenset({"SyntaxError", "IndentationError", "TabError"})


def _redact(text: str) -> str:
    """``ci_tools.redact.redact``, loaded on the first text to redact (a failure, a skip
    reason, why a test was not run): a run of passing tests never compiles its patterns nor
    reads the environment's secret values (the test users' password among them)."""
    from ci_tools.redact import redact  # noqa: PLC0415

    return redact(text)


def failure_of(report: pytest.TestReport, repository: Repository) -> Failure:
    """The exception type, message and a short traceback of a failed report, as plain text
    (pytest colours its diffs when colour is forced, e.g. FORCE_COLOR in CI), redacted; and
    where it was raised (``ci_tools.plugin.where``)."""
    from ci_tools.plugin import where  # noqa: PLC0415 - a run without failures never loads it

    text = _redact(_ANSI.sub("", report.longreprtext))
    kind, message = _kind_and_message(report, text)
    origin = where.of_test(report, repository)
    timed_out = _TIMEOUT.search(text)
    if timed_out:
        kind, message = "Timeout", f"timed out after {float(timed_out.group(1)):g} s"
    return Failure(
        kind,
        _redact(message),
        _short(text),
        timed_out=timed_out is not None,
        where=origin.where,
        frame=origin.frame,
        library=origin.library,
    )


def collection_failure(report: pytest.CollectReport, repository: Repository) -> Failure:
    """Why a module (or folder) could not be collected: the exception's type, its message
    naming the missing name (a SyntaxError's with its file and line, as Python words it), the
    traceback pytest wrote, and where it was raised, with ``frame="collection"``."""
    from ci_tools.plugin import where  # noqa: PLC0415 - a run without failures never loads it

    text = _redact(_ANSI.sub("", report.longreprtext))
    kind, message = _kind_and_message(report, text)
    pointed = where.syntax_error_place(text) if kind in _SYNTAX_ERRORS else None
    if pointed is not None:
        message = f"{message} ({pointed[0]}, line {pointed[1]})"
    origin = where.of_collection(report, repository)
    return Failure(
        kind,
        _redact(message),
        _short(text),
        where=origin.where,
        frame=origin.frame,
        library=origin.library,
    )


def _kind_and_message(
    report: pytest.TestReport | pytest.CollectReport, text: str
) -> tuple[str, str]:
    """The exception type and message of a failed report: from pytest's crash line where it
    kept a traceback, else from its text."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None:
        return _raised(text)
    first = _ANSI.sub("", str(crash.message)).splitlines()[0] if crash.message else ""
    kind, sep, message = first.partition(": ")
    if sep and " " not in kind:
        return kind, message
    # pytest's crash line of a failed assert is the assert itself ("assert 1 == 2").
    from ci_tools.plugin.where import raised_type  # noqa: PLC0415 - failures only

    named = raised_type(report.longrepr)
    if named:
        return named, first
    return ("AssertionError" if first.startswith("assert ") else "Error"), first


def _raised(text: str) -> tuple[str, str]:
    """The exception type and message of a failure pytest kept as text only (a collection
    error, a report replayed from a worker): its last ``E   Type: message`` line."""
    lines = text.strip().splitlines()
    for line in reversed(lines):
        found = _RAISED.match(line)
        if found is not None:
            return found["kind"], found["message"]
        if _NO_FIXTURE.match(line):
            return "FixtureLookupError", line[1:].strip()
    return "Error", lines[-1] if lines else ""


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
        if key == META:
            meta = value
        elif key == TRACE and value not in trace_ids:
            trace_ids.append(str(value))
        elif key == MEASURE:
            measurements.append(Measurement(str(value[0]), float(value[1]), value[2]))
        elif key == NOT_RUN:
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
        *,
        rootdir: Path | None = None,
        invocation_dir: Path | None = None,
    ) -> None:
        self.writer = writer
        self.phase = phase
        self.failfast = failfast
        self.trips_path = trips_path
        self.selection_path = selection_path  # what a crashed test's record is completed from
        # Where the suite's code is (pytest's rootdir), and the folder relative paths in its
        # tracebacks start from: for where a failure was raised. Default: this folder.
        self._places = (str(rootdir or os.getcwd()), str(invocation_dir or os.getcwd()))
        self._repository: Repository | None = None  # built on the first failure
        self._uncollected: set[str] = set()  # node ids of collection errors recorded
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
        self.writer.start(nodeid, timestamp(now))

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

    @property
    def repository(self) -> Repository:
        """Where the suite's code is (``ci_tools.plugin.where``, loaded on the first failure:
        a run of passing tests never loads it)."""
        if self._repository is None:
            from ci_tools.plugin.where import Repository  # noqa: PLC0415

            self._repository = Repository(*self._places)
        return self._repository

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A module (or folder) that could not be collected becomes a record: its tests were
        never known, so the error is the evidence. Each once: under pytest-xdist every worker
        collects, and the controller hears each error again from another worker."""
        if not report.failed or report.nodeid in self._uncollected:
            return
        self._uncollected.add(report.nodeid)
        when = now()
        # Not fed to fail-fast: a module that cannot be imported says nothing of a platform part.
        self.writer.record(
            TestRecord(
                nodeid=report.nodeid,
                file=report.nodeid.split("::", 1)[0],
                line=0,
                phase=self.phase,
                outcome="error",
                duration_s=0.0,
                start=when,
                end=when,
                failure=collection_failure(report, self.repository),
            )
        )

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
            not_run(test, self.phase, "", timestamp(started)),
            outcome="failed",
            reason=None,
            end=timestamp(now),
            duration_s=round(now - started, 4),
            failure=Failure("WorkerCrashed", message, _redact(report.longreprtext)[-4000:]),
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
            timestamp(reports[0].start),
            timestamp(last.stop),
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
            outcome, failed, reason = "not_run", None, _redact(reason)
        if outcome == "skipped" and skipped is not None and isinstance(skipped.longrepr, tuple):
            reason = _redact(str(skipped.longrepr[2]).removeprefix("Skipped: "))
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
            start=timestamp(reports[0].start),
            end=timestamp(last.stop),
            trace_ids=tuple(trace_ids),
            measurements=tuple(measurements),
            failure=failure_of(failed, self.repository) if failed is not None else None,
            reason=reason,
            worker=getattr(last, "worker_id", None),
        )


RECORDER: pytest.StashKey[Recorder] = pytest.StashKey()  # the controller's, of a recorded run
