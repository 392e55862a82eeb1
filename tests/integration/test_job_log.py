"""The main job's log reads as a person reads it: short, its verdict on the last screen.

A failing run of ``nox -s e2e`` (the reference platform with a fault) prints each phase's
progress, gate and first failure, not pytest's output (that is in ``phaseN.log``), so the
whole log stays under ``MOST_LINES`` lines and the report's verdict is among its last
``LAST_SCREEN`` lines.
"""

from __future__ import annotations

import re
import tempfile

import pytest

from tests.integration.fault_matrix import main_job, run_dir_of

pytestmark = pytest.mark.integration

MOST_LINES = 150  # the whole job log
LAST_SCREEN = 40  # the verdict is on the screen a person sees when the job ends
_VERDICT = re.compile(r"^verdict: ")  # the report's verdict line (ci_tools.report.terminal)


def verdict_from_end(lines: list[str]) -> int | None:
    """Where the last verdict line is, counted from the end (1: the last line); None if none."""
    at = [n for n, line in enumerate(lines) if _VERDICT.match(line)]
    return len(lines) - at[-1] if at else None


@pytest.mark.parametrize("fault", ["redis_down", "agent_hang"])
def test_a_failing_main_job_s_log_is_short_and_ends_with_its_verdict(fault: str) -> None:
    """``nox -s e2e -- --fault X``: a gate is not met; stdout and stderr together (stderr
    after stdout: the verdict's worst place) are at most 150 lines, the verdict in the last
    40, and pytest's own output of the failing phase is in its ``phaseN.log`` instead."""
    with tempfile.TemporaryDirectory(prefix="job-log-") as store:
        _, result, _ = main_job("--fault", fault, history_url=f"sqlite:///{store}/history.db")
    output = result.stdout + result.stderr
    lines = output.splitlines()
    assert result.returncode != 0, output[-4000:]
    place = verdict_from_end(lines)
    assert place is not None, output[-4000:]
    assert len(lines) <= MOST_LINES, f"{len(lines)} lines:\n{output}"
    assert place <= LAST_SCREEN, f"the verdict is line {place} from the end:\n{output}"
    assert "short test summary info" not in output
    run_dir = run_dir_of(output, fault)
    logs = [path.read_text() for path in sorted(run_dir.glob("phase*.log"))]
    assert any("short test summary info" in log for log in logs), sorted(run_dir.iterdir())
