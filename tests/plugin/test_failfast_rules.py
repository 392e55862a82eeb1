"""Fail-fast reads the project's rule table: a rule added in ``[tool.ci_tools.rules]`` trips
during the phase, and a bad rule stops the run before any test, in one line."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import test_records

BILLING_RULE = """
[[tool.ci_tools.rules.rule]]
name = "billing_down"
pattern = "billing provider unreachable"
class = "infrastructure"
title = "Billing provider unreachable"
part = "billing provider"
areas = ["billing"]
failfast = true
"""
BILLING_TESTS = """
import pytest
pytestmark = [pytest.mark.phase(1)]

@pytest.mark.area("billing")
def test_b1(): raise RuntimeError("billing provider unreachable")
@pytest.mark.area("billing")
def test_b2(): raise RuntimeError("billing provider unreachable")
@pytest.mark.area("billing")
def test_b3(): pass
@pytest.mark.area("auth")
def test_auth(): pass
"""


def test_a_configured_failfast_rule_stops_the_waiting_tests_of_its_areas(
    pytester: pytest.Pytester,
) -> None:
    """The second failure naming the configured part stops the remaining billing test only."""
    pytester.makepyprojecttoml(BILLING_RULE)
    pytester.makepyfile(test_one=BILLING_TESTS)
    pytester.runpytest("--phase", "1", "--run-dir", "out", "--fail-fast-after", "2")
    records = test_records(pytester.path / "out" / "phase1.jsonl")
    outcomes = {nodeid.split("::")[1]: r["outcome"] for nodeid, r in records.items()}
    assert outcomes == {
        "test_b1": "failed",
        "test_b2": "failed",
        "test_b3": "not_run",
        "test_auth": "passed",
    }
    assert records["test_one.py::test_b3"]["reason"].startswith(
        "not run: billing provider unreachable — 2 tests failed"
    )


def test_without_the_rule_the_same_failures_stop_nothing(pytester: pytest.Pytester) -> None:
    """The built-ins know no billing provider: every test runs."""
    pytester.makepyfile(test_one=BILLING_TESTS)
    pytester.runpytest("--phase", "1", "--run-dir", "out", "--fail-fast-after", "2")
    records = test_records(pytester.path / "out" / "phase1.jsonl")
    assert records["test_one.py::test_b3"]["outcome"] == "passed"


def test_a_bad_configured_rule_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """A pattern that does not compile stops the run in one line naming the rule."""
    pytester.makepyprojecttoml(BILLING_RULE.replace("unreachable", "(unreachable"))
    pytester.makepyfile(test_one=BILLING_TESTS)
    result = pytester.runpytest("--phase", "1", "--run-dir", "out", "--fail-fast-after", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*rule 'billing_down': pattern * does not compile*"])
