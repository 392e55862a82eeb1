"""Fail fast by cause: repeated failures of one broken part stop the tests that depend on it,
and only those; each is recorded as not run with the cause."""

from __future__ import annotations

import time

import pytest

from tests.plugin.conftest import AT_ONCE, at_once, test_records

STALLED = 'raise RuntimeError("agent pipeline stalled: no event for 10 s after agent_thinking")'
AGENT_TESTS = f"""
import pytest
pytestmark = [pytest.mark.phase(1)]

@pytest.mark.area("agent")
def test_a1(): {STALLED}
@pytest.mark.area("agent")
def test_a2(): {STALLED}
@pytest.mark.area("agent", "websocket")
def test_a3(): pass
@pytest.mark.area("auth")
def test_auth(): pass
@pytest.mark.area("auth")
def test_auth_500(): assert False, "signup: HTTP 500"
@pytest.mark.area("auth")
def test_auth_500_again(): assert False, "signup: HTTP 500"
@pytest.mark.area("auth")
def test_auth_after(): pass
"""


def test_two_failures_of_one_part_stop_its_waiting_tests_only(pytester: pytest.Pytester) -> None:
    """The second agent stall stops the remaining agent test; auth tests still run, and two
    500s (a symptom naming no part) stop nothing."""
    pytester.makepyfile(test_one=AGENT_TESTS)
    result = pytester.runpytest("--phase", "1", "--run-dir", "out", "--fail-fast-after", "2")
    records = test_records(pytester.path / "out" / "phase1.jsonl")
    outcomes = {nodeid.split("::")[1]: r["outcome"] for nodeid, r in records.items()}
    assert outcomes == {
        "test_a1": "failed",
        "test_a2": "failed",
        "test_a3": "not_run",
        "test_auth": "passed",
        "test_auth_500": "failed",
        "test_auth_500_again": "failed",
        "test_auth_after": "passed",
    }
    reason = records["test_one.py::test_a3"]["reason"]
    assert reason.startswith("not run: agent pipeline hangs — 2 tests failed")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    selected = (pytester.path / "out" / "phase1.selected.jsonl").read_text().splitlines()
    assert len(selected) == len(records)


def test_without_the_option_every_test_runs(pytester: pytest.Pytester) -> None:
    """Fail-fast is switched off by default (and by [tool.ci_tools.failfast] enabled = false)."""
    pytester.makepyfile(test_one=AGENT_TESTS)
    pytester.runpytest("--phase", "1", "--run-dir", "out")
    records = test_records(pytester.path / "out" / "phase1.jsonl")
    assert records["test_one.py::test_a3"]["outcome"] == "passed"


@pytest.mark.parametrize("mode", AT_ONCE)
def test_a_test_waiting_on_the_broken_part_is_stopped_in_flight(
    pytester: pytest.Pytester, mode: str
) -> None:
    """Two at once (xdist or forked workers): a test already waiting on the agent when
    another worker trips it is stopped at once and recorded as not run, instead of waiting
    out its 30 s."""
    pytester.makepyfile(
        test_wait="""
        import time, pytest
        pytestmark = [pytest.mark.phase(1), pytest.mark.area("agent")]
        def test_waits():
            time.sleep(30)
        """,
        test_fail=f"""
        import time, pytest
        pytestmark = [pytest.mark.phase(1), pytest.mark.area("agent")]
        def test_f1():
            time.sleep(1)
            {STALLED}
        def test_f2(): {STALLED}
        """,
    )
    started = time.monotonic()
    pytester.runpytest_subprocess(
        "--phase",
        "1",
        "--run-dir",
        "out",
        "--fail-fast-after",
        "2",
        *at_once(mode, 2),
        *(["--dist", "loadfile"] if mode == "xdist" else []),
        "-p",
        "no:cacheprovider",
    )
    assert time.monotonic() - started < 20
    records = test_records(pytester.path / "out" / "phase1.jsonl")
    waiting = records["test_wait.py::test_waits"]
    assert waiting["outcome"] == "not_run"
    assert waiting["reason"].startswith("stopped while waiting: agent pipeline hangs")
