"""The sub-agent rules: a failure that names a sub-agent is diagnosed as that sub-agent (not
the whole agent pipeline), and fail-fast stops only the tests of that sub-agent's area."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_tools import config as cfg
from ci_tools.diagnose import APPLICATION, INFRASTRUCTURE, classify, diagnose
from ci_tools.phases import GateResult
from ci_tools.records import Failure, TestRecord
from ci_tools.rules import SUBAGENTS, FailFast, subagent_area
from tests.fakes.records import make_record

DATA_DOWN = "data sub-agent failed in query_metrics: ToolError: the metrics store is unavailable"
OPTIMIZATION_STALLED = "optimization sub-agent stalled: no event for 10 s after agent_thinking"


def _record(
    name: str, message: str = "", kind: str = "AgentFailed", areas: tuple[str, ...] = ()
) -> TestRecord:
    failure = Failure(kind, message) if message else None
    return make_record(
        name, phase=3, outcome="failed" if message else "passed", areas=areas, failure=failure
    )


@pytest.mark.parametrize(
    ("kind", "message", "expected"),
    [
        (
            "AgentFailed",
            DATA_DOWN,
            ("Data sub-agent fails (its source is unavailable)", INFRASTRUCTURE, "data sub-agent"),
        ),
        (
            "AgentStalled",
            OPTIMIZATION_STALLED,
            ("Optimization sub-agent hangs", INFRASTRUCTURE, "optimization sub-agent"),
        ),
        (
            "AgentFailed",
            "reporting sub-agent failed in summarise: TypeError: unsupported operand",
            ("Reporting sub-agent fails", APPLICATION, "reporting sub-agent"),
        ),
        (
            "AgentStalled",
            "agent pipeline stalled: no event for 10 s after agent_thinking",
            ("Agent pipeline hangs", INFRASTRUCTURE, "agent pipeline"),
        ),
    ],
)
def test_a_failure_naming_a_sub_agent_is_that_sub_agents_part(
    kind: str, message: str, expected: tuple[str, str, str]
) -> None:
    """A sub-agent's unreachable source or stall is infrastructure of that sub-agent; another
    error of its own is application; a stall of the supervisor stays the whole pipeline's."""
    found = classify(_record("t", message, kind, ("agent",)), ())
    assert (found.title, found.rule.failure_class, found.rule.part) == expected


def test_every_sub_agent_has_its_rules_and_area() -> None:
    """Each sub-agent's stall and failure name it, with the area agent.<name>."""
    for name in SUBAGENTS:
        stalled = classify(_record("s", f"{name} sub-agent stalled: no event", "AgentStalled"), ())
        failed = classify(_record("f", f"{name} sub-agent failed in x: refused"), ())
        assert stalled.rule.areas == failed.rule.areas == (subagent_area(name),)
        assert stalled.title == f"{name.capitalize()} sub-agent hangs"
        assert failed.rule.part == f"{name} sub-agent"


def test_failfast_on_a_sub_agent_stops_only_its_own_tests() -> None:
    """Two data failures trip the data sub-agent: tests of agent.data are stopped (whatever
    else they need), tests of other sub-agents and of the pipeline alone are not; an
    application error of a sub-agent trips nothing."""
    failfast = FailFast(after=2)
    assert failfast.observe(f"AgentFailed: {DATA_DOWN}", DATA_DOWN) is None
    trip = failfast.observe(f"AgentFailed: {DATA_DOWN}", DATA_DOWN)
    assert trip is not None
    assert (trip.title, trip.areas) == (
        "Data sub-agent fails (its source is unavailable)",
        ("agent.data",),
    )
    assert trip.stops(("agent", "agent.data"))
    assert trip.stops(("agent", "agent.data", "agent.reporting"))
    assert not trip.stops(("agent", "agent.triage"))
    assert not trip.stops(("agent",))
    bug = "AgentFailed: reporting sub-agent failed in summarise: TypeError: unsupported operand"
    assert failfast.observe(bug, bug) is None
    assert failfast.observe(bug, bug) is None


def test_the_diagnosis_headlines_the_failing_sub_agent_and_not_the_pipeline() -> None:
    """Data failures and a 500 in a data test make one infrastructure cause, the data
    sub-agent; the other sub-agents' tests pass and a 500 of a triage test is its own."""
    config = cfg.load(Path(__file__).resolve().parents[2] / "pyproject.toml")
    gates = [GateResult(phase=3, title="P3", status="not_met", reason="r")]
    records = [
        _record("d1", DATA_DOWN, areas=("agent", "agent.data")),
        _record("d2", DATA_DOWN, areas=("agent", "agent.data", "agent.reporting")),
        _record("d3", "create thread: HTTP 500", "AssertionError", ("agent", "agent.data")),
        _record("t1", areas=("agent", "agent.triage")),
        _record("o1", areas=("agent", "agent.optimization")),
    ]
    result = diagnose(config, gates, records, None)
    assert [(c.title, c.failure_class, c.part) for c in result.headlines] == [
        ("Data sub-agent fails (its source is unavailable)", INFRASTRUCTURE, "data sub-agent")
    ]
    assert [c.tests for c in result.causes] == [3]
    assert "also explains 1 × server errors (500)" in result.causes[0].evidence
    assert result.escalation.level == "none"
    triage_500 = _record("t2", "create thread: HTTP 500", "AssertionError", ("agent.triage",))
    mixed = diagnose(config, gates, [*records, triage_500], None)
    assert [c.failure_class for c in mixed.causes] == [INFRASTRUCTURE, APPLICATION]


def test_every_sub_agent_of_the_platform_has_its_rules() -> None:
    """A sub-agent added to the reference platform gets its rules (and area) here too: the
    names are one list, kept equal by this test."""
    from reference_platform import subagents  # noqa: PLC0415 - the platform, not ci_tools

    assert set(SUBAGENTS) == set(subagents.NAMES)
