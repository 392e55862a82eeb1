"""``ci-tools run`` keeps pytest's own output off the job log: it goes, masked, to the run
directory (``phaseN.log``); the job log gets each phase's progress, its gate and its first
failure, and the loop reads that progress from the records file as it grows."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from ci_tools import config, runner
from ci_tools.environment import PASSWORD_VARIABLE
from ci_tools.experiment import Plan
from ci_tools.phases import GateResult
from tests.plugin.conftest import write_project

LEAKY = f"""
import os
import pytest

pytestmark = pytest.mark.phase(1)

def test_login():
    secret = os.environ["{PASSWORD_VARIABLE}"]
    print(f"X-Custom: {{secret}}")
    assert secret == "wrong", f"login refused for {{secret}}"

def test_chat():
    raise ConnectionError("chat down")

def test_fine():
    pass
"""


def ci_tools(root: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """``ci-tools run --run-id r1 ARGS`` in the project, as a CI job runs it (output to pipes,
    not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", "--root", str(root), "run", "--run-id", "r1", *args],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pytest_s_output_goes_to_the_phase_s_log_masked_and_the_job_log_shows_the_first_failure(
    pytester: pytest.Pytester,
) -> None:
    """A phase with two failures, one leaking the password: pytest's summary and tracebacks
    are in ``phase1.log`` with the password masked; the job log holds none of pytest's
    output, only the go, the gate, the first failure (test id, its line, its exception,
    masked) and where the log is: a handful of lines."""
    password = secrets.token_urlsafe(16)
    write_project(pytester)
    pytester.makepyfile(test_one=LEAKY)
    done = ci_tools(pytester.path, "--phase", "1", **{PASSWORD_VARIABLE: password})
    assert done.returncode == 1, done.stdout + done.stderr
    log = (pytester.path / "reports" / "r1" / "phase1.log").read_text()
    assert "FAILED test_one.py::test_login - AssertionError: login refused for [REDACTED]" in log
    assert "X-Custom: [REDACTED]" in log
    assert "2 failed, 1 passed" in log
    assert password not in log
    printed = done.stdout + done.stderr
    assert password not in printed
    assert "short test summary" not in printed
    assert "2 failed, 1 passed" not in printed
    lines = done.stdout.splitlines()
    assert lines[2].startswith("phase 1 FAIL  One: 1/3 passed")
    assert lines[3:] == [
        "  first of 2 failures: test_one.py::test_login",
        "    test_one.py:9 in test_login",
        """    > assert secret == "wrong", f"login refused for {secret}\"""",
        "    E AssertionError: login refused for [REDACTED]",
        "  pytest's output: reports/r1/phase1.log",  # from where it ran (pytester's folder)
        "ci-tools: experiment on phase 1's failures: none re-run, environment 'here' names no "
        "baseline: give its URLs in [tool.ci_tools.environments.here.baseline]",
    ]


def test_a_pytest_that_could_not_run_shows_the_end_of_its_output(
    pytester: pytest.Pytester,
) -> None:
    """pytest refuses an option: the gate says its error is at the end of ``phase1.log``, and
    the job log shows that end, pytest's own error line included."""
    write_project(pytester)
    pytester.makepyfile(test_one="def test_fine(): pass")
    done = ci_tools(pytester.path, "--phase", "1", "--", "--no-such-option")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "its error is at the end of phase1.log" in done.stdout
    assert "unrecognized arguments: --no-such-option" in done.stdout
    log = (pytester.path / "reports" / "r1" / "phase1.log").read_text()
    assert "unrecognized arguments: --no-such-option" in log


def test_a_phase_started_ahead_and_discarded_leaves_no_log(pytester: pytest.Pytester) -> None:
    """Phase 1 misses its gate: phase 2, started up ahead, leaves no ``phase2.log`` (nor its
    "no go" message anywhere)."""
    write_project(pytester)
    pytester.makepyfile(
        test_one="import pytest, time\npytestmark = pytest.mark.phase(1)\n"
        "def test_down():\n    time.sleep(1)\n    raise ConnectionError('down')\n",
        test_two="import pytest\npytestmark = pytest.mark.phase(2)\ndef test_fine(): pass\n",
    )
    done = ci_tools(pytester.path)
    assert done.returncode == 1, done.stdout + done.stderr
    run = pytester.path / "reports" / "r1"
    assert (run / "phase1.log").exists()
    assert not (run / "phase2.log").exists()
    assert "no go" not in done.stdout + done.stderr


@dataclasses.dataclass
class Tallies:
    """A ``runner.Progress`` that keeps the tallies it is told."""

    seen: list[runner.Tally] = dataclasses.field(default_factory=list)

    def phase_started(self, number: int, workers: int, why: str) -> None:
        """Nothing to keep."""

    def tests_running(self, tally: runner.Tally) -> None:
        """Keeps the tally."""
        self.seen.append(tally)

    def note(self, message: str) -> None:
        """Nothing to keep."""

    def gate_judged(self, gate: GateResult) -> None:
        """Nothing to keep."""

    def excerpt(self, excerpt: runner.Excerpt) -> None:
        """Nothing to keep."""

    def experimented(self, number: int, plan: Plan, shown: Mapping[str, int]) -> None:
        """Nothing to keep."""


def test_while_a_phase_runs_the_loop_tells_its_tally_from_the_records(
    pytester: pytest.Pytester,
) -> None:
    """A phase whose second test takes 1.5 s: while it runs, the progress hears the phase's
    two selected tests, the first one done, and the slow one running longest."""
    write_project(pytester)
    pytester.makepyfile(
        test_one="import pytest, time\npytestmark = pytest.mark.phase(1)\n"
        "def test_a(): pass\ndef test_slow(): time.sleep(1.5)\n"
    )
    project = config.load(pytester.path / "pyproject.toml")
    options = runner.RunOptions(pytester.path, pytester.path / "reports" / "r1", "here")
    told = Tallies()
    runner.run_phases(project, [1], options, told)
    slow = [t for t in told.seen if t.slowest == "test_one.py::test_slow"]
    assert slow, told.seen
    assert (slow[-1].phase, slow[-1].done, slow[-1].selected, slow[-1].running) == (1, 1, 2, 1)
    assert slow[-1].slowest_s >= 0.5
