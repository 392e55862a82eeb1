"""Scores the classifier on the corpus: each entry a real failure with the class it belongs to.

Both files hold one JSON object a line: ``corpus.jsonl`` (written by ``generate``: failures
raised by real libraries under real conditions, with the server's log lines of the request)
and ``verbatim.jsonl`` (failure texts copied from public threads, each with its URL). An
entry becomes the ``TestRecord`` and ``LogLine``\\ s the report stage would read, and
``ci_tools.diagnose.classify.classify`` names its class; the score is taken twice, with the
trace-linked server logs and without them.

An entry's keys: ``id``, ``expected`` (infrastructure / application / test), ``source``, and
either ``failure`` (``type``, ``message``, optional ``traceback``, ``timed_out``) or ``text``
(a verbatim first line, split into type and message as ci_tools splits pytest's crash line);
optional ``nodeid``, ``outcome``, ``areas``, ``where``, ``frame``, ``library``, ``trace_ids``
and ``logs`` (``service``, ``severity``, ``message``, optional ``status``); and ``part``, the
broken part, for a reader (no score reads it).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ci_tools._exceptions import CIToolsError
from ci_tools.context.model import LogLine
from ci_tools.diagnose.classify import classify
from ci_tools.records import Failure, TestRecord
from ci_tools.rules import FAILURE_CLASSES, FailureClass

HERE = Path(__file__).parent
FILES = (HERE / "corpus.jsonl", HERE / "verbatim.jsonl")
GOAL_ACCURACY = 0.95
GOAL_EACH = 0.9


class CorpusError(CIToolsError):
    """A corpus line cannot be read; the message names the file, the line and the fix."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One corpus failure, as the report stage would see it, with its expected class."""

    id: str
    expected: FailureClass
    source: str
    record: TestRecord
    logs: tuple[LogLine, ...]


@dataclasses.dataclass(frozen=True)
class Miss:
    """An entry put under another class than its own."""

    id: str
    expected: FailureClass
    got: FailureClass
    rule: str
    text: str  # the failure's type and message
    logs: tuple[str, ...]  # its error log lines, as the classifier read them


@dataclasses.dataclass(frozen=True)
class ClassScore:
    """Precision and recall of one class, with their counts."""

    failure_class: FailureClass
    n: int  # entries of this class
    predicted: int  # entries put under it
    correct: int

    @property
    def precision(self) -> float:
        """Of those put under the class, the share that belong to it (1.0 when none were)."""
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Of those that belong to the class, the share put under it (1.0 when none do)."""
        return self.correct / self.n if self.n else 1.0


@dataclasses.dataclass(frozen=True)
class Score:
    """The classifier on a set of entries: accuracy, per class, the confusion, the misses."""

    label: str
    n: int
    correct: int
    classes: tuple[ClassScore, ...]
    confusion: tuple[tuple[FailureClass, FailureClass, int], ...]  # expected, got, count
    misses: tuple[Miss, ...]

    @property
    def accuracy(self) -> float:
        """The share of entries under their own class."""
        return self.correct / self.n if self.n else 1.0

    def shortfalls(self) -> list[str]:
        """Every goal this score misses, one line each (empty when all are met)."""
        missed = []
        if self.accuracy < GOAL_ACCURACY:
            missed.append(f"{self.label}: accuracy {self.accuracy:.2f} < {GOAL_ACCURACY:.2f}")
        for cls in self.classes:
            for name, value in (("precision", cls.precision), ("recall", cls.recall)):
                if value < GOAL_EACH:
                    missed.append(
                        f"{self.label}: {cls.failure_class} {name} {value:.2f} < {GOAL_EACH:.2f}"
                    )
        return missed


def _fail(path: Path, number: int, what: str) -> CorpusError:
    return CorpusError(f"{path}:{number}: {what}; fix the line or delete it")


def split_text(text: str) -> tuple[str, str]:
    """A failure's first line as ci_tools splits pytest's crash line: ``Type: message``, or
    ``Error`` and the whole line when it does not start with a type."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    kind, sep, message = first.partition(": ")
    if not sep or " " in kind or not kind:
        return "Error", first
    return kind, message


def _text(
    data: dict[str, Any], key: str, path: Path, number: int, default: str | None = None
) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise _fail(path, number, f"{key!r} must be a string, not {type(value).__name__}")
    return value


def _failure(data: dict[str, Any], path: Path, number: int) -> Failure:
    if "text" in data:
        kind, message = split_text(_text(data, "text", path, number))
        fields: dict[str, Any] = {"type": kind, "message": message}
    elif isinstance(data.get("failure"), dict):
        failure = data["failure"]
        fields = {
            "type": _text(failure, "type", path, number),
            "message": _text(failure, "message", path, number),
            "traceback": _text(failure, "traceback", path, number, ""),
            "timed_out": bool(failure.get("timed_out", False)),
        }
    else:
        raise _fail(path, number, "no 'failure' object and no 'text'")
    for name in ("where", "frame", "library"):
        fields[name] = _text(data, name, path, number, "")
    try:
        return Failure.from_json(fields)
    except (TypeError, ValueError) as exc:
        raise _fail(path, number, f"not a failure ci_tools can record ({exc})") from None


def _logs(data: dict[str, Any], path: Path, number: int) -> tuple[LogLine, ...]:
    lines = data.get("logs", [])
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise _fail(path, number, "'logs' must be a list of objects")
    logs = []
    for line in lines:
        status = line.get("status")
        if status is not None and not isinstance(status, int):
            raise _fail(path, number, f"a log line's 'status' must be an integer, not {status!r}")
        logs.append(
            LogLine(
                timestamp="",
                severity=_text(line, "severity", path, number),
                service=_text(line, "service", path, number),
                message=_text(line, "message", path, number),
                status=status,
            )
        )
    return tuple(logs)


def parse(data: Any, path: Path, number: int) -> Entry:
    """One corpus line's object as an Entry; raises CorpusError naming what is wrong."""
    if not isinstance(data, dict):
        raise _fail(path, number, "not a JSON object")
    for key in ("id", "expected", "source"):
        if key not in data:
            raise _fail(path, number, f"missing {key!r}")
    expected = data["expected"]
    if expected not in FAILURE_CLASSES:
        raise _fail(
            path, number, f"'expected' is {expected!r}, not one of {', '.join(FAILURE_CLASSES)}"
        )
    entry_id = _text(data, "id", path, number)
    nodeid = _text(data, "nodeid", path, number, entry_id)
    outcome = _text(data, "outcome", path, number, "failed")
    if outcome not in ("failed", "error"):
        raise _fail(path, number, f"'outcome' is {outcome!r}, not 'failed' or 'error'")
    record = TestRecord(
        nodeid=nodeid,
        file=nodeid.split("::")[0],
        line=0,
        phase=0,
        outcome=outcome,
        duration_s=0.0,
        start="",
        end="",
        areas=tuple(str(area) for area in data.get("areas", ())),
        trace_ids=tuple(str(trace) for trace in data.get("trace_ids", ())),
        failure=_failure(data, path, number),
    )
    return Entry(
        id=entry_id,
        expected=expected,
        source=_text(data, "source", path, number),
        record=record,
        logs=_logs(data, path, number),
    )


def load(path: Path) -> tuple[Entry, ...]:
    """Every entry of one corpus file; a bad line raises CorpusError naming file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CorpusError(
            f"{path}: cannot be read ({exc.strerror}); run python -m tests.corpus.generate"
        ) from None
    entries = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise _fail(path, number, f"not JSON ({exc})") from None
        entry = parse(data, path, number)
        if entry.id in seen:
            raise _fail(path, number, f"id {entry.id!r} is used twice")
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries)


def load_all(paths: Iterable[Path] = FILES) -> tuple[Entry, ...]:
    """The entries of every corpus file."""
    return tuple(entry for path in paths for entry in load(path))


def score(entries: Sequence[Entry], *, with_logs: bool) -> Score:
    """Classifies every entry (with its logs, or with none) and scores the classes."""
    counts: dict[tuple[FailureClass, FailureClass], int] = {}
    misses = []
    for entry in entries:
        logs = entry.logs if with_logs else ()
        found = classify(entry.record, logs)
        got = found.rule.failure_class
        counts[entry.expected, got] = counts.get((entry.expected, got), 0) + 1
        if got != entry.expected:
            failure = entry.record.failure
            misses.append(
                Miss(
                    id=entry.id,
                    expected=entry.expected,
                    got=got,
                    rule=found.rule.name,
                    text=f"{failure.type}: {failure.message}" if failure else "",
                    logs=tuple(
                        f"{line.severity} {line.status or ''} {line.message.splitlines()[0]}"
                        for line in logs
                        if line.message
                    ),
                )
            )
    classes = tuple(
        ClassScore(
            cls,
            n=sum(v for (e, _), v in counts.items() if e == cls),
            predicted=sum(v for (_, g), v in counts.items() if g == cls),
            correct=counts.get((cls, cls), 0),
        )
        for cls in FAILURE_CLASSES
    )
    return Score(
        label="with trace-linked server logs" if with_logs else "without server logs",
        n=len(entries),
        correct=sum(cls.correct for cls in classes),
        classes=classes,
        confusion=tuple(
            (e, g, counts.get((e, g), 0)) for e in FAILURE_CLASSES for g in FAILURE_CLASSES
        ),
        misses=tuple(misses),
    )


def render(result: Score) -> str:
    """The score as a small text table: accuracy, each class's precision and recall with n,
    and the confusion (rows: expected, columns: given)."""
    lines = [
        f"{result.label}: accuracy {result.accuracy:.2f} ({result.correct}/{result.n})",
        f"  {'class':<15} {'precision':>9} {'recall':>7} {'n':>4} {'given':>6}",
    ]
    lines.extend(
        f"  {cls.failure_class:<15} {cls.precision:>9.2f} {cls.recall:>7.2f} {cls.n:>4} "
        f"{cls.predicted:>6}"
        for cls in result.classes
    )
    lines.append("  confusion (expected \\ given): " + " ".join(c[:5] for c in FAILURE_CLASSES))
    for expected in FAILURE_CLASSES:
        row = " ".join(f"{count:>5}" for e, _, count in result.confusion if e == expected)
        lines.append(f"  {expected:<15} {row}")
    return "\n".join(lines)
