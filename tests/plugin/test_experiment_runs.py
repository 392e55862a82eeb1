"""After the gates, ``run_phases`` re-runs the failures on the baseline and the candidate.

The project's environment names its baseline outright (``[...environments.here.baseline]``),
served by a local HTTP server; its tests read the backend URL they were given, as the e2e
suite does, so one fails on the candidate only, one on both, one only at its first run.
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator

import pytest

from ci_tools import config, runner
from ci_tools.rundir import read
from tests.plugin.conftest import PYPROJECT

TESTS = """
import os
from pathlib import Path
import pytest
pytestmark = pytest.mark.phase(1)

def on_baseline():
    return os.environ.get("CI_TOOLS_BACKEND_URL", "") == os.environ["BASELINE_URL"]

def test_regression():
    assert on_baseline(), "the candidate answers 500"

def test_both():
    raise ConnectionError("the database refuses connections")

def test_flaky():
    marker = Path(os.environ["MARKER_DIR"]) / "flaky-ran"
    first = not marker.exists()
    marker.touch()
    assert not first, "a dropped session"

def test_fine():
    pass
"""


@pytest.fixture
def baseline_url() -> Iterator[str]:
    """A local HTTP server standing for the baseline revision (any answer is an answer)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def project(
    pytester: pytest.Pytester, baseline: str, extra: str = "", tests: str = TESTS
) -> config.Config:
    """The two-phase project of tests/plugin with a baseline named and phase 1's ``tests``."""
    text = PYPROJECT.format(url="http://127.0.0.1:9", budget=30, workers=0)
    text += f'[tool.ci_tools.environments.here.baseline]\nbackend_url = "{baseline}"\n' + extra
    pytester.makefile(".toml", pyproject=text)
    pytester.makepyfile(test_one=tests, test_two="import pytest\npytestmark = pytest.mark.phase(2)")
    return config.load(pytester.path / "pyproject.toml")


def run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    project_config: config.Config,
    baseline: str,
    *,
    experiment: bool = True,
) -> runner.RunOptions:
    """Runs phases 1 and 2 of the project (phase 1 misses its gate); the run's options."""
    monkeypatch.setenv("BASELINE_URL", baseline)
    monkeypatch.setenv("MARKER_DIR", str(pytester.path))
    monkeypatch.delenv("CI_TOOLS_BACKEND_URL", raising=False)
    run_dir = pytester.path / "reports" / "r1"
    found = runner.RunOptions(
        root=pytester.path, run_dir=run_dir, env="here", experiment=experiment
    )
    gates = runner.run_phases(project_config, [1, 2], found)
    assert [gate.status for gate in gates] == ["not_met", "skipped"]
    return found


def test_each_failure_is_compared_on_the_baseline_and_the_candidate_at_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_url: str
) -> None:
    """A failure only the candidate has is a regression, one failing on both fails on the
    baseline too, one passing when run again is flaky; the re-runs are kept beside the phase,
    out of its gate's counts."""
    options = run(pytester, monkeypatch, project(pytester, baseline_url), baseline_url)
    reruns = read.experiment(options.run_dir)
    (plan,) = reruns.plans
    assert plan.status == "ran"
    assert plan.source == "config"
    assert plan.baseline["backend"] == baseline_url
    failures = [r for r in read.records(options.run_dir, 1).records if r.outcome == "failed"]
    shown = {n.split("::")[1]: c.shown for n, c in reruns.comparisons(failures).items()}
    assert shown == {"test_regression": "regression", "test_both": "both", "test_flaky": "flaky"}
    gate = read.gate(options.run_dir, 1)
    assert gate is not None
    assert (gate.passed, gate.failed) == (1, 3)
    assert set(reruns.baseline) == set(reruns.again) == {r.nodeid for r in failures}


def test_over_the_limit_the_first_of_each_kind_is_re_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_url: str
) -> None:
    """With room for two re-runs, two failures of different kinds are re-run (an assertion
    and a refused connection), and the third is left with why."""
    limited = project(pytester, baseline_url, "[tool.ci_tools.experiment]\nmax_failures = 2\n")
    options = run(pytester, monkeypatch, limited, baseline_url)
    (plan,) = read.experiment(options.run_dir).plans
    assert [n.split("::")[1] for n in plan.chosen] == ["test_regression", "test_both"]
    assert [(n.split("::")[1], why) for n, why in plan.left] == [
        (
            "test_flaky",
            "over the experiment's limit of 2 re-runs ([tool.ci_tools.experiment] max_failures)",
        )
    ]


def test_a_baseline_that_answers_nothing_is_said_and_nothing_is_re_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A baseline on a closed port: the plan says it is unreachable, naming its URL, and no
    re-run is started."""
    down = f"http://127.0.0.1:{closed_port()}"
    options = run(pytester, monkeypatch, project(pytester, down), down)
    (plan,) = read.experiment(options.run_dir).plans
    assert plan.status == "unreachable"
    assert f"the baseline's backend at {down} answers nothing" in plan.reason
    assert plan.chosen == ()
    assert not (options.run_dir / "phase1.baseline").exists()


def test_the_experiment_is_off_with_one_switch(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_url: str
) -> None:
    """``--no-experiment`` (RunOptions.experiment False): the plan says it is off for this
    run and nothing is re-run."""
    options = run(
        pytester, monkeypatch, project(pytester, baseline_url), baseline_url, experiment=False
    )
    (plan,) = read.experiment(options.run_dir).plans
    assert plan.status == "off"
    assert plan.reason == "the experiment is off for this run (--no-experiment)"
    assert not (options.run_dir / "phase1.again").exists()


def test_a_healthy_run_makes_no_experiment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_url: str
) -> None:
    """No failed test (the gate may still miss on an unmeasured criterion): no plan, no
    re-run, nothing written for the experiment."""
    project(pytester, baseline_url)
    pytester.makepyfile(
        test_one="import pytest\npytestmark = pytest.mark.phase(1)\ndef test_fine(): pass\n"
    )
    run_dir = pytester.path / "reports" / "r1"
    options = runner.RunOptions(root=pytester.path, run_dir=run_dir, env="here")
    runner.run_phases(config.load(pytester.path / "pyproject.toml"), [1], options)
    assert [r.outcome for r in read.records(run_dir, 1).records] == ["passed"]
    assert list(run_dir.glob("*experiment*")) == []
    assert list(run_dir.glob("phase1.again")) == []


HANGS_AGAIN = """
import os, time
from pathlib import Path
import pytest
pytestmark = pytest.mark.phase(1)

def test_hangs_when_run_again():
    marker = Path(os.environ["MARKER_DIR"]) / "ran-once"
    first = not marker.exists()
    marker.touch()
    if os.environ.get("CI_TOOLS_BACKEND_URL", "") == os.environ["BASELINE_URL"]:
        return
    assert not first, "the connection pool is exhausted"
    time.sleep(60)

def test_fine():
    pass
"""


def test_a_candidate_still_running_well_after_the_baseline_answered_hangs_again(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_url: str
) -> None:
    """A failure that hangs when run again on the candidate, with no earlier run to say how
    long a healthy answer takes: once the baseline has answered (at once), the candidate's
    re-run is stopped at three times that, two seconds at least, not at the test's timeout;
    it is recorded as hung and the failure is this deploy's regression."""
    hanging = project(pytester, baseline_url, tests=HANGS_AGAIN)
    options = run(pytester, monkeypatch, hanging, baseline_url)
    reruns = read.experiment(options.run_dir)
    (plan,) = reruns.plans
    assert plan.duration_s < 10
    assert plan.stopped == ""
    (again,) = reruns.again.values()
    assert again.failure is not None
    assert again.failure.type == "Hung"
    assert again.failure.timed_out
    said = re.fullmatch(
        r"still running when the re-runs were stopped ([\d.]+) s in, the baseline having "
        r"answered every one in ([\d.]+) s",
        again.failure.message,
    )
    assert said is not None, again.failure.message
    stopped_at, answered_in = float(said[1]), float(said[2])
    assert stopped_at >= max(3 * answered_in, 2.0) - 0.05
    failures = [r for r in read.records(options.run_dir, 1).records if r.outcome == "failed"]
    assert [c.shown for c in reruns.comparisons(failures).values()] == ["regression"]


SLOW_FAILURES = """
import time
import pytest
pytestmark = pytest.mark.phase(1)

@pytest.mark.parametrize("n", range(4))
def test_waits_then_fails(n):
    time.sleep(1.0)
    raise TimeoutError("the agent answered nothing")
"""


def test_failures_that_wait_are_re_run_at_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, baseline_url: str
) -> None:
    """Four failures that each wait a second are re-run side by side on each revision: the
    experiment takes about one wait, not four."""
    waiting = project(pytester, baseline_url, tests=SLOW_FAILURES)
    options = run(pytester, monkeypatch, waiting, baseline_url)
    reruns = read.experiment(options.run_dir)
    (plan,) = reruns.plans
    assert len(plan.chosen) == 4
    assert plan.duration_s < 3.0
    assert len({r.worker for r in reruns.again.values()}) == 4
    assert {r.outcome for r in [*reruns.again.values(), *reruns.baseline.values()]} == {"failed"}
