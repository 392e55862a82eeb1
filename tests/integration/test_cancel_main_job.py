"""Cancelling the main job (``nox -s e2e``) with a real signal while phase 2 waits on a hung
agent: its tests still running are recorded as not run (cancelled), the gate is written, the
platform it started is stopped, and nox exits non-zero within 5 s, leaving no process."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from reference_platform import stack
from tests.integration.fault_matrix import (
    E2E_STACK_DIR,
    ROOT,
    main_job_command,
    main_job_environ,
    main_job_lock,
)

pytestmark = pytest.mark.integration
CANCEL_WITHIN_S = 5.0


def newest_run(after: set[str], timeout_s: float = 60.0) -> Path:
    """The run directory the main job creates (one not in ``after``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = [p for p in (ROOT / "reports").glob("e2e-*") if p.name not in after]
        if new:
            return max(new)
        time.sleep(0.1)
    raise AssertionError("the main job created no run directory")


def wait_for(path: Path, timeout_s: float = 60.0) -> None:
    """Returns once the file exists and holds a line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_main_job_stops_everything_and_records_what_ran(
    sig: signal.Signals,
) -> None:
    """A signal to nox alone (GitHub's cancel) while phase 2 waits on the agent: exit
    non-zero within 5 s; phase 2's gate written with its tests not run (cancelled); the
    platform stopped; no process of the job or the platform left."""
    with main_job_lock():
        before = {p.name for p in (ROOT / "reports").glob("*")}
        process = psutil.Popen(
            main_job_command("--fault", "agent_hang"),
            cwd=ROOT,
            env=main_job_environ(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            run = newest_run(before)
            wait_for(run / "phase2.jsonl")
            time.sleep(0.5)  # the agent tests are waiting on the hung pipeline now
            state = stack.read_state(E2E_STACK_DIR)
            assert state is not None
            family = [process, *process.children(recursive=True)]
            family += [psutil.Process(p.pid) for p in state.processes if p.alive()]
            sent = time.monotonic()
            process.send_signal(sig)
            _, stderr = process.communicate(timeout=CANCEL_WITHIN_S + 5)
            elapsed = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
                stack.stop(E2E_STACK_DIR)
    assert process.returncode != 0
    assert elapsed < CANCEL_WITHIN_S, f"{elapsed:.1f} s:\n{stderr[-2000:]}"
    alive = stack.wait_gone(family, 1.0)  # an exited process left for PID 1 to reap is gone
    assert alive == [], [(p.pid, p.name()) for p in alive]
    assert stack.read_state(E2E_STACK_DIR) is None  # the platform was stopped
    gate = json.loads((run / "phase2.gate.json").read_text())
    assert gate["status"] == "not_met"
    assert gate["not_run"] >= 1
    records = [json.loads(line) for line in (run / "phase2.jsonl").read_text().splitlines()]
    cancelled = [r for r in records if r["event"] == "test" and r["outcome"] == "not_run"]
    assert len(cancelled) == gate["not_run"]
    assert all("cancelled" in r["reason"] for r in cancelled), [r["reason"] for r in cancelled]
    assert not (run / "phase3.jsonl").exists()
