"""Cancelling ``ci-tools run`` with a real signal (GitHub's cancel sends SIGINT, then SIGTERM):
pytest is stopped, the tests still running are recorded as not run (cancelled), the gate is
written, no later phase starts, and no process is left, within 5 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ci_tools.records import read_records
from ci_tools.runner import warm
from tests.plugin.conftest import write_project

CANCEL_WITHIN_S = 5.0
SLOW = """
import time, pytest
pytestmark = pytest.mark.phase(1)
def test_quick(): pass
def test_slow(): time.sleep(60)
def test_after(): pass
"""


def wait_for_start(records: Path, nodeid: str, timeout_s: float = 30.0) -> None:
    """Returns once the records file says the test started."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if records.exists() and any(
            json.loads(line).get("nodeid") == nodeid and json.loads(line)["event"] == "start"
            for line in records.read_text().splitlines()
            if line.strip()
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"{nodeid} never started")


def described(process: psutil.Process) -> str:
    """A process left behind, as a failure names it: its pid and command line."""
    try:
        return f"{process.pid}: {' '.join(process.cmdline())}"
    except psutil.Error:
        return f"{process.pid}: gone"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("workers", [0, 2], ids=["one-at-a-time", "forked"])
def test_a_signal_cancels_the_run_records_what_ran_and_leaves_no_process(
    pytester: pytest.Pytester, sig: signal.Signals, workers: int
) -> None:
    """SIGINT or SIGTERM while a test runs: exit 130 within 5 s, the running and waiting
    tests not run (cancelled), the gate written and not met, phase 2 never started, and
    every process of the run gone."""
    write_project(pytester, workers=workers)
    pytester.makepyfile(test_one=SLOW, test_two="def test_two(): pass")
    command = [sys.executable, "-m", "ci_tools.cli", "--root", str(pytester.path), "run"]
    process = psutil.Popen(
        [*command, "--run-id", "r1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = pytester.path / "reports" / "r1"
    try:
        wait_for_start(run / "phase1.jsonl", "test_one.py::test_slow")
        family = [process, *process.children(recursive=True)]
        sent = time.monotonic()
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=CANCEL_WITHIN_S)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert elapsed < CANCEL_WITHIN_S
    assert "cancelled" in stderr
    gone, alive = psutil.wait_procs(family, timeout=1)
    assert alive == [], [described(p) for p in alive]
    assert len(gone) >= 2  # ci-tools and its pytest (and its workers)
    records = {r.nodeid.split("::")[1]: r for r in read_records(run / "phase1.jsonl").records}
    assert set(records) == {"test_quick", "test_slow", "test_after"}
    assert records["test_slow"].outcome == "not_run"
    not_run = [r for r in records.values() if r.outcome == "not_run"]
    for record in not_run:  # test_after too, unless another worker ran it before the signal
        assert "cancelled" in (record.reason or ""), record.reason
    assert {r.outcome for r in records.values()} <= {"passed", "not_run"}
    gate = json.loads((run / "phase1.gate.json").read_text())
    assert gate["status"] == "not_met"
    assert gate["not_run"] == len(not_run)
    assert not (run / "phase2.jsonl").exists()


# The runner with a real SIGINT sent to itself at a moment a test from outside can only hit by
# chance (on a loaded machine it did): in the Nth call of os.FUNCTION made by MODULE. Given as
# the launcher's first three arguments; it says on stderr when it sent the signal.
CANCEL_AT = """
import os, runpy, signal, sys
module, function, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
real, calls = getattr(os, function), []
def called(*args):
    if sys._getframe(1).f_globals.get("__name__") == module:
        calls.append(args)
        if len(calls) == nth:
            print(f"cancel sent in {module}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGINT)
    return real(*args)
setattr(os, function, called)
sys.argv = ["ci-tools", *sys.argv[4:]]
runpy.run_module("ci_tools.cli", run_name="__main__")
"""


@pytest.mark.parametrize(
    "moment",
    [
        # The runner waiting for phase 2's fork to lead its own session (the first one-byte
        # read is phase 1's launch): phase 2 was left running, its files behind.
        ("ci_tools.runner.warm", "read", "2"),
        # Phase 1's go being written: the phase, running, was discarded as if never started
        # (its go pipe closed twice: exit 1, no gate).
        ("ci_tools.go", "write", "1"),
    ],
    ids=["launching-phase-2", "phase-1-go"],
)
def test_a_cancel_between_steps_of_the_runner_leaves_no_phase_and_no_file_behind(
    pytester: pytest.Pytester, moment: tuple[str, str, str]
) -> None:
    """SIGINT while the runner forks phase 2 to start up ahead, or while it gives phase 1
    its go: the run is cancelled (exit 130), phase 1's gate is written, phase 2 leaves no
    file and no process."""
    write_project(pytester)
    pytester.makepyfile(test_one=SLOW, test_two="def test_two(): pass")
    launcher = pytester.path / "cancel_at.py"
    launcher.write_text(CANCEL_AT)
    command = [sys.executable, str(launcher), *moment, "--root", str(pytester.path), "run"]
    env = {k: v for k, v in os.environ.items() if k != warm.SWITCH}  # the fork path
    done = subprocess.run(
        [*command, "--run-id", "r1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert f"cancel sent in {moment[0]}" in done.stderr, done.stderr
    assert done.returncode == 130, done.stderr
    assert "cancelled" in done.stderr
    run = pytester.path / "reports" / "r1"
    assert json.loads((run / "phase1.gate.json").read_text())["status"] == "not_met"
    assert sorted(p.name for p in run.glob("phase2*")) == []
    # Forks of the runner share its command line: any left would name this launcher.
    left = [
        p
        for p in psutil.process_iter(["cmdline", "status"])
        if str(launcher) in " ".join(p.info["cmdline"] or [])
        and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    _, alive = psutil.wait_procs(left, timeout=2)
    assert alive == [], [described(p) for p in alive]
