"""History through the real main job: healthy, then Redis down twice, into one store. The
second run's failures are new, the third's known since the second run, said near the top."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci_tools.environment import sqlite_url
from ci_tools.history.store import open_store
from tests.integration.fault_matrix import main_job, run_dir_of

pytestmark = pytest.mark.integration


def run_main_job(history_url: str, *args: str) -> Path:
    """The main job with the faults, recording into the given store; its run directory."""
    _, result, _ = main_job(*args, history_url=history_url)
    return run_dir_of(result.stdout + result.stderr, f"main job {args}")


def test_a_repeated_failure_is_new_then_known_since_the_run_it_began(tmp_path: Path) -> None:
    """Three runs land in the store; run 2's failures are all new, run 3's all known since
    run 2, with its revision, and the worklog's summary says so before the phase table (by
    history alone: without the experiment, which would find them failing before the deploy)."""
    url = sqlite_url(tmp_path / "history.db")
    healthy = run_main_job(url)
    second = run_main_job(url, "--fault", "redis_down", "--no-experiment")
    third = run_main_job(url, "--fault", "redis_down", "--no-experiment")
    store = open_store(url)
    try:
        runs = store.runs("local")
    finally:
        store.close()
    assert [r.run_id for r in runs] == [third.name, second.name, healthy.name]
    verdicts = [json.loads((d / "verdict.json").read_text()) for d in (second, third)]
    failing = int(verdicts[0]["failed"])
    assert failing > 0
    assert (verdicts[0]["new_failures"], verdicts[0]["known_failures"]) == (str(failing), "0")
    assert (verdicts[1]["new_failures"], verdicts[1]["known_failures"]) == ("0", str(failing))
    worklog = (third / "worklog.md").read_text()
    summary = worklog[: worklog.index("## Phases")]
    began = runs[1].started[:16].replace("T", " ")
    assert f"0 of {failing} failing test(s) new; {failing} known" in summary
    assert worklog.splitlines()[0].endswith(f"· 0 of {failing} failing tests new")
    assert f"failing in every run since {began} UTC (2 runs" in summary
    assert runs[1].revisions["backend"] in summary
    assert "historical success" in worklog
    assert "Redis: failed in 2 of the last 3 runs" in worklog
