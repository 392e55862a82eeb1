"""Helpers for driving the plugin with pytester."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# Imported once here, before any pytester test: pytester puts sys.modules back after each test,
# so a dialect first imported inside one (by the run store) would be imported again by the
# next, and SQLAlchemy warns that its functions are registered twice.
import sqlalchemy.dialects.postgresql  # noqa: F401

PYPROJECT = """
[tool.ci_tools]
default_env = "here"
[tool.ci_tools.environments.here]
backend_url = "{url}"
websocket_url = "ws://127.0.0.1:9/ws"
auth_url = "{url}"
dev_password = "pw"
[tool.ci_tools.criteria.latency_ms]
title = "Latency"
unit = "ms"
max = 100
[tool.ci_tools.phases.1]
title = "One"
paths = ["test_one.py"]
budget_s = {budget}
workers = {workers}
criteria = ["latency_ms"]
[tool.ci_tools.phases.2]
title = "Two"
paths = ["test_two.py"]
budget_s = 30
workers = 0
"""


def write_project(
    pytester: pytest.Pytester, url: str = "http://127.0.0.1:9", budget: float = 30, workers: int = 0
) -> None:
    """A project whose [tool.ci_tools] points at ``url`` with two small phases."""
    pytester.makefile(".toml", pyproject=PYPROJECT.format(url=url, budget=budget, workers=workers))


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of a records file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records(path: Path) -> dict[str, dict[str, Any]]:
    """The test records of a file, by node id."""
    return {r["nodeid"]: r for r in read_lines(path) if r["event"] == "test"}


test_records.__test__ = False  # type: ignore[attr-defined]


def run_phase1(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in-process as phase 1 recording into ``out/``, with extra arguments."""
    return pytester.runpytest("--phase", "1", "--run-dir", "out", "-p", "no:cacheprovider", *args)


# The two ways a phase runs tests at once: pytest-xdist's workers (a user's -n) and the
# plugin's forked workers (what ci-tools run uses).
AT_ONCE = {
    "xdist": lambda n: ["-n", str(n)],
    # Unthrottled: these tests are about records and workers, and quick tests are CPU-bound,
    # so the throttle would keep fewer at once on a busy machine (tests/plugin/test_pool.py
    # checks the throttle).
    "forked": lambda n: ["--concurrency", str(n), "--capture=sys", "--no-throttle"],
}


def at_once(mode: str, n: int) -> list[str]:
    """The pytest options that run ``n`` tests at once the ``mode`` way."""
    return AT_ONCE[mode](n)
