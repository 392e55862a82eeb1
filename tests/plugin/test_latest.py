"""``reports/latest`` follows the main job: a single phase (``nox -s phaseN``), ``quick`` or
``full`` leaves it on the last main run; ``--link-latest`` (what ``nox -s e2e`` passes)
moves it."""

from __future__ import annotations

import os

import pytest

from tests.plugin.conftest import write_project
from tests.plugin.test_runner import PASSING, ci_tools


@pytest.mark.parametrize(
    ("args", "latest"),
    [
        (["--phase", "2"], "r0"),  # nox -s phase2, and ci-tools run --phase 2 unsaid
        (["--phase", "2", "--no-link-latest"], "r0"),
        (["--no-link-latest"], "r0"),  # nox -s full
        (["--link-latest"], "r1"),  # nox -s e2e, the main job
        (["--phase", "2", "--link-latest"], "r1"),
        ([], "r1"),  # ci-tools run of every phase, unsaid: as before
    ],
)
def test_latest_moves_only_when_the_run_says_so(
    pytester: pytest.Pytester, args: list[str], latest: str
) -> None:
    """A run with the given arguments leaves ``latest`` on r0, or points it at itself."""
    write_project(pytester)
    pytester.makepyfile(
        test_one=PASSING.format(phase=1, latency=1), test_two=PASSING.format(phase=2, latency=1)
    )
    (pytester.path / "reports" / "r0").mkdir(parents=True)
    (pytester.path / "reports" / "latest").symlink_to("r0")
    result = ci_tools(pytester.path, "run", "--run-id", "r1", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (pytester.path / "reports" / "r1" / "phase2.gate.json").exists()
    assert os.readlink(pytester.path / "reports" / "latest") == latest


def test_link_latest_with_a_run_dir_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """--link-latest with --run-dir elsewhere: exit 2 in one line before any phase runs."""
    write_project(pytester)
    pytester.makepyfile(test_one=PASSING.format(phase=1, latency=1))
    result = ci_tools(pytester.path, "run", "--link-latest", "--run-dir", "out")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "drop one of them" in result.stderr
    assert not (pytester.path / "out").exists()
