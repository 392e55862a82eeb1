"""``ci-tools run``: phases in order, gates judged from records, budgets held from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci_tools.records import read_records
from tests.plugin.conftest import write_project

PASSING = """
import pytest
pytestmark = pytest.mark.phase({phase})
def test_fast(criterion):
    criterion("latency_ms", {latency})
"""


def ci_tools(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs the ci-tools CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def gate(root: Path, phase: int) -> dict[str, object]:
    """A phase's gate file of run r1."""
    result: dict[str, object] = json.loads(
        (root / "reports" / "r1" / f"phase{phase}.gate.json").read_text()
    )
    return result


def test_healthy_phases_all_meet_their_gates(pytester: pytest.Pytester) -> None:
    """Passing tests with criteria under target: every gate met, exit 0, verdict printed."""
    write_project(pytester)
    pytester.makepyfile(
        test_one=PASSING.format(phase=1, latency=20), test_two=PASSING.format(phase=2, latency=20)
    )
    result = ci_tools(pytester.path, "run", "--run-id", "r1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "phase 1 PASS  One: 1/1 passed" in result.stdout
    assert "phase 2 PASS  Two: 1/1 passed" in result.stdout
    assert gate(pytester.path, 1)["status"] == "met"
    assert (pytester.path / "reports" / "latest").resolve().name == "r1"


def test_a_missed_gate_skips_later_phases_with_the_reason(pytester: pytest.Pytester) -> None:
    """A failing phase 1 stops the run: phase 2 is skipped, naming phase 1's numbers."""
    write_project(pytester)
    pytester.makepyfile(
        test_one="""
        import pytest
        pytestmark = [pytest.mark.phase(1), pytest.mark.area("redis")]
        def test_ok(criterion): criterion("latency_ms", 5)
        def test_down(): raise ConnectionError("Error 111 connecting to 127.0.0.1:6390")
    """,
        test_two=PASSING.format(phase=2, latency=1),
    )
    result = ci_tools(pytester.path, "run", "--run-id", "r1")
    assert result.returncode == 1
    reason = "pass rate 50.0% (1/2), needs 100.0%; failing areas: redis 1/2"
    assert gate(pytester.path, 1)["reason"] == reason
    assert gate(pytester.path, 2) == {
        **gate(pytester.path, 2),
        "status": "skipped",
        "reason": f"gate of phase 1 not met: {reason}",
    }
    assert not (pytester.path / "reports" / "r1" / "phase2.jsonl").exists()
    assert (
        "phase 2 SKIP  Two: gate of phase 1 not met\n" in result.stdout
    )  # its reason: once, above


def test_a_criterion_over_target_fails_the_gate_with_both_numbers(
    pytester: pytest.Pytester,
) -> None:
    """All tests pass but the measured value misses its target: gate not met, figures shown."""
    write_project(pytester)
    pytester.makepyfile(test_one=PASSING.format(phase=1, latency=150))
    result = ci_tools(pytester.path, "run", "--run-id", "r1", "--phase", "1")
    assert result.returncode == 1
    assert gate(pytester.path, 1)["reason"] == "Latency 150 ms in phase 1, target < 100 ms"


def test_a_spent_budget_stops_the_phase_and_names_the_hung_tests(pytester: pytest.Pytester) -> None:
    """Past its budget the phase is stopped: finished records kept, the running test recorded
    as hung, the gate written, all within the budget plus a short grace."""
    write_project(pytester, budget=3, workers=2)
    pytester.makepyfile(
        test_one="""
        import time, pytest
        pytestmark = pytest.mark.phase(1)
        def test_fast(criterion): criterion("latency_ms", 1)
        def test_stuck(): time.sleep(120)
    """
    )
    started = time.monotonic()
    result = ci_tools(pytester.path, "run", "--run-id", "r1", "--phase", "1", "--timeout", "300")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 3 + 12
    assert "phase 1 budget of 3 s ran out" in result.stderr
    verdict = gate(pytester.path, 1)
    assert verdict["budget_exhausted"] is True
    assert verdict["hung"] == ["test_one.py::test_stuck"]
    assert "budget of 3 s ran out with 1 test(s) hung" in str(verdict["reason"])
    found = read_records(pytester.path / "reports" / "r1" / "phase1.jsonl")
    outcomes = {r.nodeid: r.outcome for r in found.records}
    assert outcomes == {"test_one.py::test_fast": "passed", "test_one.py::test_stuck": "failed"}
    stuck = next(r for r in found.records if r.nodeid.endswith("test_stuck"))
    assert stuck.failure is not None
    assert stuck.failure.message == "still running when the phase budget of 3 s ran out"


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        (
            "[tool.ci_tools.phases.1]\ntitle = 'x'\nbudget_s = -1\n",
            "[tool.ci_tools] phases.1.budget_s: Input should be greater than 0 (got -1)",
        ),
        (
            "[tool.ci_tools.phases.1]\ntitle = 'x'\nbudjet_s = 5\n",
            "[tool.ci_tools] phases.1.budjet_s: Extra inputs are not permitted (got 5)",
        ),
        (
            "[tool.ci_tools.phases.2]\ntitle = 'x'\n",
            "phases must be numbered 1, 2, 3... in order; got [2]",
        ),
        (
            "[tool.ci_tools.phases.1]\ntitle = 'x'\ncriteria = ['nope']\n",
            "phases.1.criteria: unknown criterion 'nope'; define it under "
            "[tool.ci_tools.criteria.nope]",
        ),
    ],
)
def test_bad_config_is_one_line_naming_the_key(
    pytester: pytest.Pytester, pyproject: str, message: str
) -> None:
    """A wrong [tool.ci_tools] value exits 2 with one line that names the key."""
    pytester.makefile(".toml", pyproject=pyproject)
    result = ci_tools(pytester.path, "run")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_local_without_a_running_platform_is_one_line_before_any_phase(
    pytester: pytest.Pytester,
) -> None:
    """``run`` against a local environment whose platform is not started exits 2 with one
    line saying how to start it; no phase runs and no run directory is written."""
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.ci_tools.environments.local]
        stack_file = ".stack/stack.json"
        [tool.ci_tools.phases.1]
        title = "One"
    """,
    )
    pytester.makepyfile(test_one=PASSING.format(phase=1, latency=20))
    result = ci_tools(pytester.path, "run", "--run-id", "r1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "start the platform with `nox -s stack -- start`" in result.stderr
    assert "phase 1" not in result.stdout
    assert not (pytester.path / "reports").exists()


QUARANTINED = """
import pytest
pytestmark = pytest.mark.phase(1)
def test_fast(criterion):
    criterion("latency_ms", 20)
def test_flaky():
    assert False, "late first chunk"
"""


@pytest.mark.parametrize(("expires", "status"), [("2099-01-01", "met"), ("2020-01-01", "not_met")])
def test_a_quarantined_failure_does_not_count_until_its_entry_expires(
    pytester: pytest.Pytester, expires: str, status: str
) -> None:
    """The quarantined test runs and is recorded; its failure does not fail the gate while
    the entry is in force, and does once it has expired."""
    write_project(pytester)
    pytester.makepyfile(test_one=QUARANTINED, test_two=PASSING.format(phase=2, latency=20))
    (pytester.path / "tests" / "e2e").mkdir(parents=True)
    (pytester.path / "tests" / "e2e" / "quarantine.toml").write_text(
        "[[quarantine]]\ntest = 'test_one.py::test_flaky'\nowner = 'alice'\n"
        f"reason = 'late chunk'\nexpires = {expires}\n"
    )
    result = ci_tools(pytester.path, "run", "--run-id", "r1", "--phase", "1")
    found = gate(pytester.path, 1)
    assert found["status"] == status, result.stdout
    assert (found["passed"], found["failed"]) == (1, 1)  # every test is still counted
    assert found["quarantined"] == (["test_one.py::test_flaky"] if status == "met" else [])


def test_last_runs_failures_of_a_phase_run_first_in_the_next_run(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """Run, report (which records the run in the store), run again: the runner names the
    test that failed last time first in phaseN.order.txt (then the others, longest first)
    and it is the first to run."""
    write_project(pytester)
    pytester.makepyfile(
        test_one="""
        import pytest
        pytestmark = pytest.mark.phase(1)
        def test_a(criterion): criterion("latency_ms", 20)
        def test_b(): assert False, "wrong"
        """,
        test_two=PASSING.format(phase=2, latency=20),
    )
    store = {"CI_TOOLS_HISTORY_URL": f"sqlite:///{tmp_path / 'history.db'}"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ci_tools.cli", "--root", str(pytester.path), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, **store},
        )

    cli("run", "--run-id", "r1")
    reported = cli("report", "--run-dir", str(pytester.path / "reports" / "r1"))
    assert reported.returncode == 0, reported.stderr
    cli("run", "--run-id", "r2")
    run = pytester.path / "reports" / "r2"
    assert (run / "phase1.order.txt").read_text().splitlines() == [
        "test_one.py::test_b",
        "test_one.py::test_a",
    ]
    order = [r.nodeid for r in read_records(run / "phase1.jsonl").records]
    assert order[0] == "test_one.py::test_b"
