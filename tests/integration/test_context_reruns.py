"""The experiment's re-runs in ``ci-tools context``, against the real platform with its
baseline: a candidate's own defect fails a test, the runner re-runs it on both revisions, and
context.json gives each re-run its arm, its trace links and its own log lines, the baseline's
written by the baseline's processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci_tools.rundir import read
from tests.integration.conftest import StartStack
from tests.integration.test_e2e_runs import cli, run_suite

pytestmark = pytest.mark.integration


def test_reruns_on_both_revisions_get_their_own_trace_links_and_log_lines(
    start_stack: StartStack, tmp_path: Path
) -> None:
    """With the candidate's handler broken, each failure has one context entry of the run's
    own (arm "") and one per arm of its re-runs: with trace URLs, the baseline's lines all
    written by the baseline revision (threads created), the candidate's by the candidate (a
    500); ``failures`` counts the run's own only, and the terminal says how many re-runs."""
    state = start_stack("handler_error", baseline=True)
    assert state.baseline is not None
    run = tmp_path / "run"
    assert run_suite(state, run).returncode == 1
    reruns = read.experiment(run)
    assert reruns.baseline
    assert reruns.again
    done = cli(state, "context", "--run-dir", str(run))
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads((run / "context.json").read_text())
    own = [t for t in data["tests"] if t["arm"] == ""]
    assert data["failures"] == len(own) >= 1
    by_arm = {(t["arm"], t["nodeid"]): t for t in data["tests"] if t["arm"]}
    assert set(by_arm) == {("baseline", n) for n in reruns.baseline} | {
        ("candidate", n) for n in reruns.again
    }
    candidate, baseline = state.revisions["backend"], state.baseline.revisions["backend"]
    for (arm, nodeid), test in by_arm.items():
        record = (reruns.baseline if arm == "baseline" else reruns.again)[nodeid]
        assert test["trace_ids"] == list(record.trace_ids), nodeid
        assert len(test["trace_urls"]) == len(record.trace_ids) >= 1
        assert all(t in u for t, u in zip(record.trace_ids, test["trace_urls"], strict=True))
        backend = [e for e in test["entries"] if e["service"] == "backend"]
        assert backend, (arm, nodeid)
        assert {e["revision"] for e in backend} == {baseline if arm == "baseline" else candidate}
    statuses = {
        arm: {e["status"] for (a, _), t in by_arm.items() if a == arm for e in t["entries"]}
        for arm in ("baseline", "candidate")
    }
    assert 201 in statuses["baseline"]
    assert 500 not in statuses["baseline"]
    assert 500 in statuses["candidate"]
    rerun_count = len(reruns.baseline) + len(reruns.again)
    assert f"  experiment: {rerun_count} re-run(s) looked up by trace id" in done.stdout
