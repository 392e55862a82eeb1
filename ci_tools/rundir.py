"""A run's directory, ``reports/<run-id>/``: every file name in it, in one place.

Each stage reads the files of the stages before it and writes its own:

    phaseN.selected.jsonl   the tests phase N selected (plugin, at collection)
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

from pathlib import Path

CONTEXT = "context.json"
WORKLOG = "worklog.md"
VERDICT = "verdict.json"
JUNIT = "junit.xml"


def records(run: Path, phase: int) -> Path:
    """Phase N's records."""
    return run / f"phase{phase}.jsonl"


def selected(run: Path, phase: int) -> Path:
    """The tests phase N selected, so that every one is accounted for."""
    return run / f"phase{phase}.selected.jsonl"


def trips(run: Path, phase: int) -> Path:
    """The parts fail-fast declared broken during phase N."""
    return run / f"phase{phase}.trips.json"


def gate(run: Path, phase: int) -> Path:
    """Phase N's gate."""
    return run / f"phase{phase}.gate.json"


def order(run: Path, phase: int) -> Path:
    """The order to start phase N's tests in (node ids, one a line)."""
    return run / f"phase{phase}.order.txt"


def serial_lock(run: Path, phase: int) -> Path:
    """The lock phase N's serial tests take turns on."""
    return run / f".phase{phase}.serial.lock"
