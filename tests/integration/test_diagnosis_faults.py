"""Diagnosis from real runs: each fault of the reference platform, run through the phases,
the context stage and the report, is classified and escalated as the brief says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import StartStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def ci_tools(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI against the platform in state_dir."""
    env = {**os.environ, "CI_TOOLS_STACK_DIR": str(state_dir)}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def diagnose_fault(
    start_stack: StartStack,
    results: Path,
    faults: tuple[str, ...],
    phases: tuple[int, ...],
    *run_args: str,
) -> dict[str, Any]:
    """Platform with the faults -> phases -> context -> report; verdict.json plus extras."""
    state = start_stack(*faults)
    state_dir = Path(state.logs["backend"]).parent.parent
    phase_args = [arg for n in phases for arg in ("--phase", str(n))]
    ci_tools(state_dir, "run", "--results-dir", str(results), *phase_args, *run_args)
    context = ci_tools(state_dir, "context", "--results", str(results))
    assert context.returncode == 0, context.stderr
    report = ci_tools(state_dir, "report", "--results", str(results))
    assert report.returncode == 0, report.stderr
    verdict: dict[str, Any] = json.loads((results / "verdict.json").read_text())
    verdict["worklog"] = (results / "worklog.md").read_text()
    return verdict


CASES = [
    (("redis_down",), (1,), (), "Redis unreachable", "P0"),
    (("missing_secret",), (1,), (), "Secret or env var missing", "P0"),
    (("missing_module",), (1,), (), "Module missing at import", "P0"),
    (("db_slow=3100",), (1,), (), "Database slow", "P0"),
    (("agent_hang",), (1, 2), ("--timeout", "2"), "Agent pipeline hangs", None),
    (("ws_drop=1",), (1, 2), (), "WebSocket sessions dropped", "P0"),
]


@pytest.mark.parametrize(
    ("faults", "phases", "run_args", "cause", "level"), CASES, ids=[case[0][0] for case in CASES]
)
def test_each_fault_is_diagnosed_with_its_cause(
    start_stack: StartStack,
    tmp_path: Path,
    faults: tuple[str, ...],
    phases: tuple[int, ...],
    run_args: tuple[str, ...],
    cause: str,
    level: str | None,
) -> None:
    """The top cause names the fault as infrastructure, with evidence, and escalates."""
    verdict = diagnose_fault(start_stack, tmp_path, faults, phases, *run_args)
    assert verdict["verdict"] == "unhealthy"
    top = verdict["causes"][0]
    assert (top["title"], top["klass"]) == (cause, "infrastructure"), verdict["causes"]
    assert top["evidence"]
    assert verdict["escalation"] == level if level else verdict["escalation"] in ("P0", "P1")
    assert f"**Most likely cause: {cause}** (infrastructure)" in verdict["worklog"]


def test_missing_module_evidence_names_the_not_ready_revision(
    start_stack: StartStack, tmp_path: Path
) -> None:
    """The crash at import leaves the new backend revision not ready: the worklog says so."""
    verdict = diagnose_fault(start_stack, tmp_path, ("missing_module",), (1,))
    assert "was created but is not ready" in verdict["worklog"]
    assert "ModuleNotFoundError" in verdict["worklog"]
