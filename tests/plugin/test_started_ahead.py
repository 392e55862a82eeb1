"""A phase's pytest starts up while the phase before runs, and runs nothing before its go."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import psutil
import pytest

from ci_tools import go
from ci_tools.records import read_records
from tests.plugin.conftest import run_phase1, test_records, write_project
from tests.plugin.test_runner import ci_tools, gate

SLOW_PHASE_1 = """
import time, pytest
pytestmark = pytest.mark.phase(1)
def test_slow(criterion):
    time.sleep(1.0)
    criterion("latency_ms", 5)
def test_maybe_failing():
    assert {passes}
"""

# Module code runs at collection: it notes when (and in which process) phase 2 started up.
PHASE_2 = """
import json, os, time, pytest
from pathlib import Path
Path("phase2-collected.json").write_text(json.dumps({"at": time.time(), "pid": os.getpid()}))
pytestmark = pytest.mark.phase(2)
def test_second():
    pass
"""


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _end_of(path: Path) -> float:
    """When the last test of a records file ended (epoch seconds)."""
    return max(_epoch(r.start) + r.duration_s for r in read_records(path).records)


def test_the_next_phase_starts_up_ahead_and_runs_only_after_the_gate(
    pytester: pytest.Pytester,
) -> None:
    """Phase 2 collects while phase 1's one-second test runs, yet its test starts only after
    phase 1 has ended and met its gate."""
    write_project(pytester)
    pytester.makepyfile(test_one=SLOW_PHASE_1.format(passes=True), test_two=PHASE_2)
    result = ci_tools(pytester.path, "run", "--run-id", "r1")
    assert result.returncode == 0, result.stdout + result.stderr
    run = pytester.path / "reports" / "r1"
    collected = json.loads((pytester.path / "phase2-collected.json").read_text())["at"]
    phase1_end = _end_of(run / "phase1.jsonl")
    assert collected < phase1_end - 0.3  # started up during phase 1's slow test
    second = read_records(run / "phase2.jsonl").records
    assert [r.outcome for r in second] == ["passed"]
    assert _epoch(second[0].start) >= phase1_end  # ... and ran only after phase 1 ended
    two = gate(pytester.path, 2)
    assert str(two["launched_at"]) < str(two["started_at"])


def test_a_phase_started_ahead_of_a_missed_gate_leaves_nothing(pytester: pytest.Pytester) -> None:
    """Phase 1 misses its gate: phase 2, already started up, is stopped without running a test,
    leaves no records or selection and no process, and is recorded as skipped."""
    write_project(pytester)
    pytester.makepyfile(test_one=SLOW_PHASE_1.format(passes=False), test_two=PHASE_2)
    result = ci_tools(pytester.path, "run", "--run-id", "r1")
    assert result.returncode == 1
    marker = json.loads((pytester.path / "phase2-collected.json").read_text())
    assert not psutil.pid_exists(marker["pid"])  # it did start up, and it is gone
    run = pytester.path / "reports" / "r1"
    assert gate(pytester.path, 2)["status"] == "skipped"
    assert not (run / "phase2.jsonl").exists()
    assert not (run / "phase2.selected.jsonl").exists()
    assert "Interrupted" not in result.stdout + result.stderr


def test_a_phase_that_cannot_start_ahead_starts_after_and_the_running_one_keeps_its_gate(
    pytester: pytest.Pytester,
) -> None:
    """The head start is best-effort: an unreadable gate of an earlier attempt (read to know
    whether phase 2 may start ahead) costs phase 2 its head start, not phase 1 its gate."""
    write_project(pytester)
    pytester.makepyfile(test_one=SLOW_PHASE_1.format(passes=True), test_two=PHASE_2)
    run = pytester.path / "reports" / "r1"
    run.mkdir(parents=True)
    (run / "phase1.gate.json").write_text('{"phase": 1, "tit')  # cut off, as by a kill
    result = ci_tools(pytester.path, "run", "--run-id", "r1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "phase 2 could not start up ahead" in result.stderr
    assert gate(pytester.path, 1)["status"] == "met"
    assert gate(pytester.path, 2)["status"] == "met"
    collected = json.loads((pytester.path / "phase2-collected.json").read_text())["at"]
    assert collected >= _end_of(run / "phase1.jsonl")  # started after phase 1, as before


def _held(go_message: go.Go | None) -> int:
    """The read end of a pipe that already holds the go (or its end, for none)."""
    read, write = os.pipe()
    go.send(write, go_message)
    return read


TWO_TESTS = """
import pytest
pytestmark = pytest.mark.phase(1)
def test_a(): pass
def test_b(): pass
"""


def test_held_for_a_go_runs_in_the_order_and_count_it_brings(pytester: pytest.Pytester) -> None:
    """The go's order file decides which test starts first; its count, how many at once."""
    pytester.makepyfile(test_one=TWO_TESTS)
    order = pytester.path / "order.txt"
    order.write_text("test_one.py::test_b\ntest_one.py::test_a\n")
    fd = _held(go.Go(concurrency=2, order=str(order)))
    # Unthrottled: on one core the throttle would start with one test (test_pool.py).
    result = run_phase1(pytester, "--go-fd", str(fd), "--capture=sys", "--no-throttle")
    result.assert_outcomes(passed=2)
    records = test_records(pytester.path / "out" / "phase1.jsonl")
    assert {r["worker"] for r in records.values()} == {"fork0", "fork1"}
    # The first test handed out goes to the first worker: the order file's first.
    assert records["test_one.py::test_b"]["worker"] == "fork0"


def test_held_without_a_go_runs_no_test(pytester: pytest.Pytester) -> None:
    """The pipe ends without a go (the runner decided the phase is not to run, or died): no
    test runs and pytest says why."""
    pytester.makepyfile(test_one=TWO_TESTS)
    result = run_phase1(pytester, "--go-fd", str(_held(None)), "--capture=sys")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*the runner did not start this phase (no go)*"])
    assert test_records(pytester.path / "out" / "phase1.jsonl") == {}
