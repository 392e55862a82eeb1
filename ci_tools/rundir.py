"""A run's directory, ``reports/<run-id>/``: every file name in it, in one place.

Each stage reads the files of the stages before it and writes its own:

    phaseN.selected.jsonl   the tests phase N selected (plugin, at collection)
    phaseN.shardI.*         the same files of shard I of a phase split over runners
                            (--shard I/K); ``ci-tools gate`` merges them into phaseN.*
    phaseN.jsonl            one record per test, appended as each ends (plugin)
    phaseN.trips.json       parts declared broken during phase N (plugin, fail-fast)
    phaseN.gate.json        phase N's gate with the numbers behind it (runner)
    phaseN.order.txt        the order to start the tests in: last run's failures, then the
                            longest first (runner, from history)
    .phaseN.serial.lock     the turn of phase N's serial tests (plugin)
    context.json            deployment context of the failures (context stage)
    worklog.md, verdict.json, junit.xml   the report stage's outputs

The ground floor: it imports nothing of ci_tools, so the plugin can name files without cost.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import os
from pathlib import Path

CONTEXT = "context.json"
WORKLOG = "worklog.md"
VERDICT = "verdict.json"
JUNIT = "junit.xml"


def _part(phase: int, shard: int | None) -> str:
    return f"phase{phase}" if shard is None else f"phase{phase}.shard{shard}"


def records(run: Path, phase: int, shard: int | None = None) -> Path:
    """Phase N's records (of shard I, when given)."""
    return run / f"{_part(phase, shard)}.jsonl"


def selected(run: Path, phase: int, shard: int | None = None) -> Path:
    """The tests phase N (or its shard) selected, so that every one is accounted for."""
    return run / f"{_part(phase, shard)}.selected.jsonl"


def trips(run: Path, phase: int, shard: int | None = None) -> Path:
    """The parts fail-fast declared broken during phase N (or its shard)."""
    return run / f"{_part(phase, shard)}.trips.json"


def gate(run: Path, phase: int, shard: int | None = None) -> Path:
    """Phase N's gate (a shard's: over its own tests only)."""
    return run / f"{_part(phase, shard)}.gate.json"


def order(run: Path, phase: int, shard: int | None = None) -> Path:
    """The order to start phase N's tests in (node ids, one a line)."""
    return run / f"{_part(phase, shard)}.order.txt"


def of_an_attempt(run: Path, phase: int, shard: int | None = None) -> tuple[Path, ...]:
    """What one attempt at phase N (or its shard) writes before its gate: its records,
    selection, fail-fast trips and order. A new attempt starts without them; a phase started
    ahead and never given its go leaves none behind."""
    return tuple(f(run, phase, shard) for f in (records, selected, trips, order))


def durations(run: Path, phase: int) -> Path:
    """The durations a sharded phase is split by (JSON: node id to seconds)."""
    return run / f"phase{phase}.durations.json"


def shards(run: Path, phase: int) -> list[int]:
    """The shards of phase N whose records are in the run directory, in order."""
    found = (p.name.split(".")[1] for p in run.glob(f"phase{phase}.shard*.jsonl"))
    return sorted({int(n[5:]) for n in found if n.startswith("shard") and n[5:].isdigit()})


def serial_lock(run: Path, phase: int, shard: int | None = None) -> Path:
    """The lock phase N's serial tests take turns on."""
    return run / f".{_part(phase, shard)}.serial.lock"


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` whole or not at all: readers (other test processes, other
    shards) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
