"""The record of one test and of one phase on disk (JSONL): the seam between stages.

A phase's file holds one line per event, appended and flushed as it happens:
``{"event": "start", ...}`` when a test starts, ``{"event": "test", ...}`` (a full
:class:`TestRecord`) when it ends. A run killed midway keeps every finished test, and the
starts without an end name the tests that were still running. Reading tolerates a truncated
last line and counts lines it cannot parse instead of failing.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["passed", "failed", "error", "skipped", "not_run"]
# not_run: selected but never finished: stopped by fail-fast, the phase budget, or a cancel.
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "skipped", "not_run")
Bound = Literal["", "at_least", "unreachable"]
Priority = Literal["P1", "P2", "P3", "P4", "P5", "P6"]
# The business priorities a test is marked with, most critical first: the one tuple of them.
PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4", "P5", "P6")
_ENCODER = json.JSONEncoder(separators=(",", ":"))
# A string as a JSON string, as _ENCODER writes it (ASCII): the C function behind it, called
# without the Python frame of JSONEncoder.encode, on the per-test path.
_STRING = json.encoder.encode_basestring_ascii


_SECOND: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted, and its text
_MILLIS: dict[int, str] = {}  # a timestamp's tail, by its milliseconds (made as seen)


def timestamp(epoch: float) -> str:
    """``2026-12-01T23:10:03.123Z``: a moment as every file of a run writes it (UTC,
    milliseconds cut, as ``isoformat`` does). Three a test: the second's text is kept, so
    most calls only look up the milliseconds'."""
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


def now() -> str:
    """This moment, as ``timestamp`` writes it."""
    return timestamp(time.time())


# The ``when`` of the report of a test whose process died under it (pytest-xdist's word, which
# ci_tools.plugin.pool uses too): its record is a WorkerCrashed failure, never a hang.
CRASH_WHEN = "???"


Frame = Literal["", "test", "helper", "fixture", "collection"]
# What raised, as far as the suite goes: "test" the test function's own body; "helper" any
# other function of the repository during the call; "fixture" the repository's code during
# setup or teardown; "collection" a module that could not be collected; "" unknown (no
# traceback, or a record written before frames were recorded).
FRAMES: tuple[Frame, ...] = ("", "test", "helper", "fixture", "collection")


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why a test failed: exception type, message, and a short traceback; and where it was
    raised: ``where`` the last traceback frame inside the repository (rootdir-relative,
    ``"tests/e2e/client.py:42 in post_json"``), ``frame`` what that is (one of FRAMES),
    ``library`` the top-level package of the innermost frame when that frame is outside the
    repository (``"httpx"``, ``"asyncio"``; "" when the repository's code raised)."""

    type: str
    message: str
    traceback: str = ""
    timed_out: bool = False
    where: str = ""
    frame: Frame = ""
    library: str = ""

    def as_json(self) -> dict[str, Any]:
        """The failure as its record's JSON: where it was raised only when known, so records
        of failures without a traceback read as they always did."""
        data: dict[str, Any] = {
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "timed_out": self.timed_out,
        }
        if self.where:
            data["where"] = self.where
        if self.frame:
            data["frame"] = self.frame
        if self.library:
            data["library"] = self.library
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Failure:
        """Reads what ``as_json`` wrote (and records written before ``where``/``frame``/
        ``library`` existed); raises TypeError/ValueError on bad data."""
        failure = cls(**data)
        if failure.frame not in FRAMES:
            raise ValueError(f"unknown frame {failure.frame!r}")
        return failure


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One value a test measured against a named criterion."""

    criterion: str
    value: float
    # "" measured exactly; "at_least": the wait was cut short (a timeout), so the value is a
    # lower bound; "unreachable": the part refused or never answered, nothing was measured.
    bound: Bound = ""

    def as_json(self) -> dict[str, Any]:
        """The measurement as its record's JSON (an exact value has no "bound")."""
        if self.bound:
            return {"criterion": self.criterion, "value": self.value, "bound": self.bound}
        return {"criterion": self.criterion, "value": self.value}


@dataclasses.dataclass(frozen=True)
class TestRecord:
    """Everything later stages need to know about one test of one phase."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    file: str
    line: int
    phase: int
    outcome: str  # one of OUTCOMES
    duration_s: float
    start: str  # ISO 8601 UTC
    end: str
    priority: str | None = None
    markers: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    failure: Failure | None = None
    reason: str | None = None  # why it was skipped or not run
    worker: str | None = None
    # Attempts before the last one, each failed with a transient error and retried: a pass
    # after a retry is flaky, never a clean pass.
    retries: int = 0

    def as_json(self) -> dict[str, Any]:
        """The record as one JSON object (with ``"event": "test"``)."""
        # Built by hand: dataclasses.asdict deep-copies, and this runs once per test.
        data: dict[str, Any] = {"event": "test"}
        data.update(self.__dict__)
        data["measurements"] = [m.as_json() for m in self.measurements]
        data["failure"] = self.failure.as_json() if self.failure else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestRecord:
        """Reads what ``as_json`` wrote; raises KeyError/TypeError/ValueError on bad data."""
        fields = {k: v for k, v in data.items() if k != "event"}
        if "skip_reason" in fields:  # records written before not_run existed
            fields["reason"] = fields.pop("skip_reason")
        failure = fields.get("failure")
        fields["failure"] = Failure.from_json(failure) if failure else None
        fields["measurements"] = tuple(Measurement(**m) for m in fields.get("measurements", ()))
        for name in ("markers", "areas", "trace_ids"):
            fields[name] = tuple(fields.get(name, ()))
        record = cls(**fields)
        if record.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {record.outcome!r}")
        return record


@dataclasses.dataclass(frozen=True)
class PhaseRecords:
    """What a phase's records file holds."""

    records: tuple[TestRecord, ...]
    started_not_finished: tuple[str, ...]  # node ids of tests that started and never ended
    bad_lines: int  # lines that could not be parsed (e.g. truncated by a kill)


@dataclasses.dataclass(frozen=True)
class Selected:
    """A test the phase selected: what a record of it needs when it never ran."""

    nodeid: str
    file: str
    line: int
    priority: str | None = None
    areas: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()


def selected_lines(tests: Iterable[Selected]) -> str:
    """A phase's selection file, one test a line (written at once, atomically: each xdist
    worker writes the same list, and the last one wins)."""
    return "".join(_ENCODER.encode(dataclasses.asdict(test)) + "\n" for test in tests)


def read_selected(path: Path) -> tuple[Selected, ...]:
    """The selection of a phase; empty when the phase never collected (or the file is bad)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return ()
    tests = []
    for line in lines:
        try:
            data = json.loads(line)
            data["areas"] = tuple(data.get("areas", ()))
            data["markers"] = tuple(data.get("markers", ()))
            tests.append(Selected(**data))
        except (ValueError, TypeError):
            continue
    return tuple(tests)


def not_run(test: Selected, phase: int, reason: str, when: str) -> TestRecord:
    """The record of a selected test that never finished."""
    return TestRecord(
        nodeid=test.nodeid,
        file=test.file,
        line=test.line,
        phase=phase,
        outcome="not_run",
        duration_s=0.0,
        start=when,
        end=when,
        priority=test.priority,
        markers=test.markers,
        areas=test.areas,
        reason=reason,
    )


# What collection knows of a test, as its record has it: node id, file, line, phase, priority,
# markers, areas.
Known = tuple[str, str, int, int, str | None, tuple[str, ...], tuple[str, ...]]


def record_tail(
    file: str, phase: int, priority: str | None, markers: tuple[str, ...], areas: tuple[str, ...]
) -> bytes:
    """The fields of a test's record that collection knows and its module's (or parametrised
    function's) other tests share, encoded for ``RecordWriter.passed``: its caller keeps it."""
    body = {"file": file, "phase": phase, "priority": priority, "markers": markers, "areas": areas}
    return _ENCODER.encode(body)[1:-1].encode()


class RecordWriter:
    """Appends one line per event; each line goes out in one write(2), so a kill cannot
    interleave or half-write two records."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _write(self, data: dict[str, Any]) -> None:
        os.write(self._fd, _ENCODER.encode(data).encode() + b"\n")

    def start(self, nodeid: str, when: str) -> None:
        """Notes that a test started."""
        # Built by hand: this runs before every test, and json.dumps of a dict costs more.
        os.write(
            self._fd,
            b'{"event":"start","nodeid":%s,"time":"%s"}\n'
            % (_STRING(nodeid).encode(), when.encode()),
        )

    def record(self, record: TestRecord) -> None:
        """Writes a finished test's record."""
        self._write(record.as_json())

    def passed(  # noqa: PLR0917 - positional: it runs once a test, and keywords cost
        self,
        nodeid: str,
        line: int,
        tail: bytes,
        duration_s: float,
        start: str,
        end: str,
        trace_ids: list[str],
        measurements: list[Measurement],
        worker: str | None,
    ) -> None:
        """Writes the record of a test that passed, first try, from its node id, line and
        ``record_tail``: the same JSON object ``record`` writes (its keys in another order),
        without building a TestRecord (on 2,000 trivial tests that took recording from 1.068
        to 1.054 of plain pytest's instructions)."""
        os.write(
            self._fd,
            b'{"event":"test","nodeid":%s,"line":%d,%s,"outcome":"passed","duration_s":%r,'
            b'"start":"%s","end":"%s","trace_ids":%s,"measurements":%s,"failure":null,'
            b'"reason":null,"worker":%s,"retries":0}\n'
            % (
                _STRING(nodeid).encode(),
                line,
                tail,
                duration_s,
                start.encode(),
                end.encode(),
                _ENCODER.encode(trace_ids).encode() if trace_ids else b"[]",
                _ENCODER.encode([m.as_json() for m in measurements]).encode()
                if measurements
                else b"[]",
                _STRING(worker).encode() if worker is not None else b"null",
            ),
        )

    def close(self) -> None:
        """Closes the file."""
        os.close(self._fd)


def read_records(path: Path) -> PhaseRecords:
    """Reads a phase's records; a missing file is an empty phase."""
    try:
        lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return PhaseRecords((), (), 0)
    return parse_lines(lines)


def parse_lines(lines: Iterable[str]) -> PhaseRecords:
    """Parses record lines: the last record of a node id wins; bad lines are counted."""
    records: dict[str, TestRecord] = {}
    started: dict[str, None] = {}
    bad = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data["event"] == "start":
                started[str(data["nodeid"])] = None
            elif data["event"] == "test":
                record = TestRecord.from_json(data)
                records[record.nodeid] = record
            else:
                bad += 1
        except (ValueError, KeyError, TypeError, AttributeError):
            bad += 1
    hung = tuple(nodeid for nodeid in started if nodeid not in records)
    return PhaseRecords(tuple(records.values()), hung, bad)
