"""The main job end to end: the phased suite against the real platform, healthy and faulty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_tools import rundir
from ci_tools.records import read_records
from ci_tools.rundir import read
from reference_platform import stack
from tests.integration.conftest import StartStack
from tests.integration.helpers import files_holding, service_secrets

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cli(state: stack.State, *args: str) -> subprocess.CompletedProcess[str]:
    """The ci-tools CLI, pointed at the platform whose state is given."""
    return python_module(state, "ci_tools.cli", *args)


def python_module(state: stack.State, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m ARGS`` from the checkout, pointed at the platform whose state is given."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=stack_env(state),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def run_suite(state: stack.State, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ci-tools run`` against the platform whose state is given, results under tmp_path."""
    return cli(state, "run", "--run-dir", str(tmp_path), *args)


def stack_env(state: stack.State) -> dict[str, str]:
    """The environment that points ci-tools at this platform."""
    return {**os.environ, "CI_TOOLS_STACK_DIR": str(Path(state.logs["backend"]).parent.parent)}


def results(tmp_path: Path) -> Path:
    """Where run_suite's run wrote its files."""
    return tmp_path


def test_healthy_platform_passes_all_five_phases(start_stack: StartStack, tmp_path: Path) -> None:
    """Every phase meets its gate, at least 100 tests ran, the run exits 0, the worklog says
    healthy, and no secret the services hold reaches any file the run wrote."""
    state = start_stack()
    result = run_suite(state, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    total = 0
    for number in range(1, 6):
        gate = read.gate(results(tmp_path), number)
        assert gate is not None
        assert gate.status == "met", gate.reason
        assert f"phase {number} PASS" in result.stdout
        total += gate.passed
    assert total >= 100
    for command in ("context", "report"):
        done = cli(state, command, "--run-dir", str(tmp_path))
        assert done.returncode == 0, done.stderr
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert (verdict["verdict"], verdict["escalation"]) == ("healthy", "none")
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert written >= {"worklog.md", "context.json", "junit.xml"}
    assert files_holding(tmp_path, service_secrets(state)) == []


def test_redis_down_stops_after_phase_1_with_the_reason(
    start_stack: StartStack, tmp_path: Path
) -> None:
    """Phase 1 fails on Redis; phases 2-5 are skipped naming phase 1's gate; exit 1; and the
    context ties the failing tests to the backend's Redis errors by trace id."""
    state = start_stack("redis_down")
    result = run_suite(state, tmp_path)
    assert result.returncode == 1
    first = read.gate(results(tmp_path), 1)
    assert first is not None
    assert first.status == "not_met"
    assert "redis" in first.reason
    for number in range(2, 6):
        gate = read.gate(results(tmp_path), number)
        assert gate is not None
        assert gate.status == "skipped"
        assert gate.reason.startswith(f"gate of phase 1 not met: {first.reason}")
        assert not rundir.records(results(tmp_path), number).exists()
    context = cli(state, "context", "--run-dir", str(tmp_path))
    assert context.returncode == 0, context.stderr
    data = json.loads((tmp_path / "context.json").read_text())
    port = str(state.ports["redis"])
    redis_tests = [t for t in data["tests"] if "redis" in t["nodeid"]]
    assert redis_tests
    for test in redis_tests:
        assert any(
            e["service"] == "backend" and "ConnectionError" in e["message"] and port in e["message"]
            for e in test["entries"]
        ), test["nodeid"]
    backend = next(s for s in data["services"] if s["role"] == "backend")
    assert backend["revision"]["name"] == state.revisions["backend"]
    assert any("ConnectionError" in s["signature"] for s in backend["signatures"])


def test_agent_hang_fails_phase_2_by_timeout_and_stops(
    start_stack: StartStack, tmp_path: Path
) -> None:
    """The agent tests time out inside phase 2's budget; its gate stops the run."""
    result = run_suite(start_stack("agent_hang"), tmp_path, "--timeout", "2")
    assert result.returncode == 1
    first, second = (read.gate(results(tmp_path), n) for n in (1, 2))
    assert first is not None
    assert first.status == "met"
    assert second is not None
    assert second.status == "not_met"
    assert not second.budget_exhausted
    timed_out = [
        r
        for r in read_records(rundir.records(results(tmp_path), 2)).records
        if r.failure is not None and r.failure.timed_out
    ]
    assert timed_out
    assert all(
        r.failure is not None and r.failure.message == "timed out after 2 s" for r in timed_out
    )
    assert all("agent" in r.areas or "websocket" in r.areas for r in timed_out)
    third = read.gate(results(tmp_path), 3)
    assert third is not None
    assert third.status == "skipped"


def test_without_the_password_only_the_tests_that_log_in_fail(
    healthy: stack.State, tmp_path: Path
) -> None:
    """Against staging's configuration with no CI_TOOLS_E2E_PASSWORD, the connectivity and
    dependency tests still pass; those that log in fail with one line naming the variable."""
    env = {
        **stack_env(healthy),
        "CI_TOOLS_BACKEND_URL": healthy.urls["backend"],
        "CI_TOOLS_WEBSOCKET_URL": healthy.urls["websocket"],
        "CI_TOOLS_AUTH_URL": healthy.urls["auth"],
        "CI_TOOLS_FRONTEND_URL": healthy.urls["backend"],  # never a foreign address
    }
    env.pop("CI_TOOLS_E2E_PASSWORD", None)
    run = ["run", "--env", "staging", "--phase", "1", "--run-dir", str(tmp_path)]
    subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", *run],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    records = read_records(rundir.records(tmp_path, 1)).records
    logging_in = {r.nodeid for r in records if r.outcome != "passed"}
    assert {r.nodeid.split("::")[1] for r in records if r.outcome == "passed"} >= {
        "test_service_is_alive[backend]",
        "test_redis_is_reachable",
        "test_database_is_up_and_fast",
        "test_handshake_without_token_is_refused",
    }
    assert logging_in
    for record in records:
        if record.nodeid in logging_in:
            assert record.failure is not None
            assert "CI_TOOLS_E2E_PASSWORD" in record.failure.message, record.nodeid
            assert "\n" not in record.failure.message


def test_the_whole_suite_passes_with_every_test_at_once(
    start_stack: StartStack, tmp_path: Path
) -> None:
    """The suite is safe under any concurrency: all of it in one pytest, 64 tests at once from
    the first (no gate, no throttle, every phase's tests side by side on the shared test
    users) passes against the healthy platform."""
    state = start_stack()
    done = python_module(
        state,
        "pytest",
        "tests/e2e",
        "--concurrency",
        "64",
        "--no-throttle",
        "--capture=sys",
        "-p",
        "no:cacheprovider",
        "-q",
        "--run-dir",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " failed" not in done.stdout.splitlines()[-1], done.stdout[-3000:]
