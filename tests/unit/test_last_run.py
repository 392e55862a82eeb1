"""What a phase's schedule reads of the run store: its last run in full, not one cut short."""

from __future__ import annotations

from pathlib import Path

from ci_tools.environment import sqlite_url
from ci_tools.history.model import ResultRow, RunRow
from ci_tools.history.store import open_store
from ci_tools.runner.command import RunOptions
from ci_tools.runner.schedule import last_run


def _run(run_id: str, started: str, phases: tuple[int, ...]) -> RunRow:
    return RunRow(
        run_id, 1, "staging", "c", {}, started, started, "unhealthy", "none", None, phases,
        False, False, False, None,
    )  # fmt: skip


def _stored(tmp_path: Path, *runs: tuple[RunRow, list[ResultRow]]) -> str:
    url = sqlite_url(tmp_path / "history.db")
    store = open_store(url)
    try:
        for run, results in runs:
            store.record(run, results)
    finally:
        store.close()
    return url


def _result(nodeid: str, outcome: str, seconds: float, phase: int = 1) -> ResultRow:
    return ResultRow(nodeid, "t.py", phase, "P1", (), outcome, seconds)


def test_a_phase_cut_short_last_time_is_scheduled_from_its_newest_full_run(
    tmp_path: Path,
) -> None:
    """The newest run of phase 1 stopped after one test (fail-fast left two not run): the
    schedule reads the run before it, where all three ran, for its durations and order; the
    other phase's rows of the newer run are not read as phase 1's."""
    full = _run("full", "2026-12-01T10:00:00Z", (1, 2))
    cut = _run("cut", "2026-12-02T10:00:00Z", (1,))
    url = _stored(
        tmp_path,
        (full, [_result("a", "passed", 2.0), _result("b", "passed", 3.0),
                _result("c", "failed", 1.0), _result("z", "passed", 9.0, phase=2)]),
        (cut, [_result("a", "failed", 10.0), _result("b", "not_run", 0.0),
               _result("c", "not_run", 0.0)]),
    )  # fmt: skip
    options = RunOptions(tmp_path, tmp_path / "r", "staging", history_url=url)
    last = last_run(options, 1)
    assert last.durations == {"a": 2.0, "b": 3.0, "c": 1.0}
    assert last.failed == ("c",)
    assert last.order() == ["c", "b", "a"]


def test_a_phase_never_run_in_full_is_scheduled_from_its_newest_run(tmp_path: Path) -> None:
    """No run of the phase ran in full: the newest one where it ran is the hint; a phase no
    run has seen gets none."""
    older = _run("older", "2026-12-01T10:00:00Z", (1,))
    newer = _run("newer", "2026-12-02T10:00:00Z", (1,))
    url = _stored(
        tmp_path,
        (older, [_result("a", "passed", 1.0), _result("b", "not_run", 0.0)]),
        (newer, [_result("a", "failed", 5.0), _result("b", "not_run", 0.0)]),
    )
    options = RunOptions(tmp_path, tmp_path / "r", "staging", history_url=url)
    assert last_run(options, 1).failed == ("a",)
    assert last_run(options, 1).durations == {"a": 5.0}
    assert last_run(options, 2).durations == {}
