"""Classification, causes, and escalation rules, one by one, on records as the plugin writes
them."""

from __future__ import annotations

import dataclasses

import pytest

from ci_tools import config as cfg
from ci_tools.context.model import LogLine
from ci_tools.diagnose import APPLICATION, INFRASTRUCTURE, TEST, classify, diagnose
from ci_tools.phases import GateResult, GateStatus
from ci_tools.records import Failure, Measurement, TestRecord
from ci_tools.rules import FailFast
from tests.fakes.records import make_record


def config() -> cfg.Config:
    """The project's own configuration (the brief's thresholds)."""
    from pathlib import Path  # noqa: PLC0415

    return cfg.load(Path(__file__).resolve().parents[2] / "pyproject.toml")


UNAUTHORIZED = "Requests refused as unauthorized (401/403: credentials or permissions)"


def record(
    message: str = "",
    kind: str = "AssertionError",
    outcome: str = "failed",
    areas: tuple[str, ...] = (),
    timed_out: bool = False,
    measurements: tuple[Measurement, ...] = (),
    priority: str = "P1",
    phase: int = 1,
    duration_s: float = 0.1,
) -> TestRecord:
    """A record; a failure when the outcome says so."""
    failure = Failure(kind, message, timed_out=timed_out) if outcome != "passed" else None
    return make_record(
        f"t_{abs(hash((message, outcome, phase)))}",
        line=3,
        phase=phase,
        outcome=outcome,
        priority=priority,
        areas=areas,
        measurements=measurements,
        failure=failure,
        duration_s=duration_s,
    )


@pytest.mark.parametrize(
    ("message", "kind", "logs", "expected"),
    [
        (
            "Error 111 connecting to 127.0.0.1:6379",
            "ConnectionError",
            (),
            (INFRASTRUCTURE, "Redis unreachable (connection refused)"),
        ),
        (
            "[Errno -2] Name or service not known",
            "ConnectError",
            (),
            (INFRASTRUCTURE, "DNS failure"),
        ),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
            "SSLError",
            (),
            (INFRASTRUCTURE, "TLS failure"),
        ),
        ("login: HTTP 503", "AssertionError", (), (INFRASTRUCTURE, "Service unavailable (5xx)")),
        (
            "[Errno 111] Connection refused",
            "ConnectError",
            (),
            (INFRASTRUCTURE, "Connection refused"),
        ),
        (
            "login: HTTP 500",
            "AssertionError",
            (LogLine("t", "ERROR", "auth", "JWT_SECRET is not set: cannot sign tokens"),),
            (INFRASTRUCTURE, "Secret or env var JWT_SECRET missing"),
        ),
        (  # refused as malformed, nothing says the platform changed: the suite's request
            "create thread: HTTP 422",
            "AssertionError",
            (),
            (TEST, "Suite's request refused in t.py (422)"),
        ),
        ("me: HTTP 401", "AssertionError", (), (INFRASTRUCTURE, UNAUTHORIZED)),
        (
            "Client error '403 Forbidden' for url 'http://127.0.0.1:8080/api/admin'",
            "HTTPStatusError",
            (),
            (INFRASTRUCTURE, UNAUTHORIZED),
        ),
        ("assert 'x' == 'y'", "AssertionError", (), (APPLICATION, "Wrong content or behaviour")),
        ("postgres slow: 5012 ms", "AssertionError", (), (INFRASTRUCTURE, "Database slow")),
        (
            "postgres slow: no answer within 10 s",
            "AssertionError",
            (),
            (INFRASTRUCTURE, "Database slow"),
        ),
        (  # the close's reason names the dependency that failed under the session
            "received 1011 (internal error) session store unavailable; then sent 1011 "
            "(internal error) session store unavailable",
            "ConnectionClosedError",
            (),
            (INFRASTRUCTURE, "WebSocket sessions dropped (1011)"),
        ),
        (  # no reason of its own: the websockets server's close after a handler raised
            "received 1011 (internal error); then sent 1011 (internal error)",
            "ConnectionClosedError",
            (),
            (APPLICATION, "WebSocket closed by a server error (1011)"),
        ),
        (
            "no password for the test users of environment 'staging': set CI_TOOLS_E2E_PASSWORD",
            "Failed",
            (),
            (TEST, "Test users' password not set (CI_TOOLS_E2E_PASSWORD)"),
        ),
        (
            "its test process (worker gw0) crashed while running it; the phase went on",
            "WorkerCrashed",
            (),
            (TEST, "Test process crashed"),
        ),
        (
            "agent pipeline failed in its run: server is shutting down",
            "AgentFailed",
            (),
            (INFRASTRUCTURE, "Backend shut down during the run (draining)"),
        ),
        (
            "received 1012 (service restart) server is shutting down; then sent 1012",
            "ConnectionClosedError",
            (),
            (INFRASTRUCTURE, "Backend shut down during the run (draining)"),
        ),
        (  # a lower-case key is a bug in the code, not a secret the deploy lacks
            "KeyError: 'title'",
            "KeyError",
            (),
            (APPLICATION, "Wrong content or behaviour"),
        ),
        (
            "KeyError: 'JWT_SECRET'",
            "KeyError",
            (),
            (INFRASTRUCTURE, "Secret or env var JWT_SECRET missing"),
        ),
    ],
)
def test_failures_are_classified_from_exception_status_and_logs(
    message: str, kind: str, logs: tuple[LogLine, ...], expected: tuple[str, str]
) -> None:
    """Each rule: connection, DNS, TLS, 5xx, secrets, 4xx, content, database, credentials,
    a crashed test process."""
    found = classify(record(message, kind), logs)
    assert (found.rule.failure_class, found.title) == expected


def test_fixture_errors_are_test_problems() -> None:
    """A fixture pytest does not know is the suite's own defect, named with its file."""
    found = classify(record("fixture 'x' not found", "Error", outcome="error"), ())
    assert (found.rule.failure_class, found.title) == (
        TEST,
        "Suite defect in t.py: Error: fixture 'x' not found",
    )


def test_setup_errors_without_a_sign_are_test_problems() -> None:
    """A setup error no rule names and no evidence explains is put under the test."""
    found = classify(record("something odd", "RuntimeError", outcome="error"), ())
    assert (found.rule.failure_class, found.title) == (
        TEST,
        "Test setup failed (fixture or collection)",
    )


def test_a_timed_out_agent_test_is_a_hanging_pipeline() -> None:
    """A timeout in an agent test points at the agent pipeline."""
    hung = record("timed out after 30 s", "Timeout", areas=("agent",), timed_out=True)
    assert classify(hung, ()).title == "Agent pipeline hangs"


def test_a_503_is_explained_by_the_service_crash_and_names_the_module() -> None:
    """A 503 from a service that crashed at import is put under the crash, module named."""
    logs = (LogLine("t", "ERROR", "backend", "GET /health 503", status=503),)
    crash = ("backend failed to start: ModuleNotFoundError: No module named 'agent_tools_v2'",)
    found = classify(record("HTTP 503"), logs, crash)
    assert (found.rule.failure_class, found.title) == (
        INFRASTRUCTURE,
        "Module 'agent_tools_v2' missing at import",
    )


def gate(phase: int, status: GateStatus) -> GateResult:
    """A gate result of the given status."""
    return GateResult(phase=phase, title=f"P{phase}", status=status, reason="r")


def level(records: list[TestRecord], gates: list[GateResult] | None = None) -> tuple[str, ...]:
    """The escalation level and the fired rules for these records."""
    result = diagnose(config(), gates or [gate(1, "met")], records, None)
    return (result.escalation.level, *result.escalation.reasons)


def measured(name: str, value: float, bound: str = "") -> TestRecord:
    """A passing test that measured a value."""
    return record(outcome="passed", measurements=(Measurement(name, value, bound),))  # type: ignore[arg-type]


def test_escalation_p0_rules() -> None:
    """P0: database > 10 s in every sample, WebSocket success < 50%; not a failed phase-1
    gate (a rule beyond the brief, off by default)."""
    assert level([record("x", priority="P3")], [gate(1, "not_met")]) == ("none",)
    slow = [measured("database_latency_ms", 10_500), measured("database_latency_ms", 10_200)]
    assert level(slow)[:2] == (
        "P0",
        "database slow consistently: Database latency 10,200 ms (every sample) > 10,000 ms",
    )
    assert level([*slow, measured("database_latency_ms", 30)])[0] == "P1"  # not consistently
    assert level(
        [
            measured("websocket_success_rate", 0.0),
            measured("websocket_success_rate", 0.0),
            measured("websocket_success_rate", 1.0),
        ]
    )[:2] == ("P0", "WebSocket failing: WebSocket success rate 33.3% < 50.0%")


def test_escalation_sees_censored_values() -> None:
    """A check that gave up after 10 s is a lower bound above 10 s: P0 all the same."""
    cut = [measured("database_latency_ms", 10_004, "at_least") for _ in range(2)]
    assert level(cut)[:2] == (
        "P0",
        "database slow consistently: Database latency ≥ 10,004 ms (every sample) > 10,000 ms",
    )


def test_escalation_p1_rules() -> None:
    """P1: P1 pass rate < 80%, agent average > 60 s, database > 5 s, agent pipeline down."""
    assert level([measured("database_latency_ms", 6000)])[:2] == (
        "P1",
        "database slow: Database latency 6,000 ms > 5,000 ms",
    )
    assert level([measured("agent_pipeline_ms", 61_000)])[:2] == (
        "P1",
        "agent pipeline slow: Agent pipeline p50 61,000 ms on average > 60,000 ms",
    )
    fails = [record(f"x{i}", phase=2) for i in range(3)]
    passes = [record(outcome="passed", phase=2) for _ in range(7)]
    assert level(fails + passes)[:2] == ("P1", "P1 tests failing: P1 pass rate 70.0% < 80.0%")
    hung = [
        record(f"agent pipeline stalled {i}", areas=("agent",), priority="P3") for i in range(2)
    ]
    assert level(hung)[:2] == (
        "P1",
        "agent pipeline down: 2 of 2 agent tests failed or were stopped",
    )


def test_no_rule_no_escalation_and_the_history_rules_are_noted() -> None:
    """A healthy run is not escalated; the rules that need history say they were not judged."""
    result = diagnose(config(), [gate(1, "met")], [measured("database_latency_ms", 12)], None)
    assert result.escalation.level == "none"
    assert result.verdict == "healthy"
    assert "not judged without run history" in result.escalation.notes[0]
    assert "Redis down for hours" in result.escalation.notes[0]


def test_a_beyond_brief_rule_fires_only_when_enabled() -> None:
    """The phase-1 rule is not the brief's: enabling it is a choice the config makes."""
    project = config()
    rules = tuple(
        r.model_copy(update={"enabled": True}) if r.beyond_brief else r
        for r in project.escalation.rules
    )
    enabled = project.model_copy(
        update={"escalation": project.escalation.model_copy(update={"rules": rules})}
    )
    result = diagnose(enabled, [gate(1, "not_met")], [record("x", priority="P3")], None)
    assert result.escalation.reasons == ("phase 1 gate not met: the gate of phase 1 was not met",)


def test_causes_rank_infrastructure_first_and_earlier_phases_higher() -> None:
    """An application failure in many tests still ranks below an infrastructure one."""
    app = [record(f"assert {i} == 0", phase=2) for i in range(10)]
    infra = [record("Error 111 connecting to 127.0.0.1:6379", "ConnectionError", phase=3)]
    result = diagnose(config(), [gate(1, "met")], app + infra, None)
    assert [c.failure_class for c in result.causes] == [INFRASTRUCTURE, APPLICATION]
    assert result.causes[0].evidence[0].startswith("1 failure(s) in phase 3 share signature")


def test_symptoms_follow_the_root_that_explains_them() -> None:
    """A hung agent explains the 500s and the budget hang of other agent tests: one cause,
    infrastructure, no application cause; a 500 in an unrelated area stays its own."""
    stalled = [
        record(f"agent pipeline stalled: no event for 10 s ({i})", areas=("agent",))
        for i in range(2)
    ]
    symptom = record("create thread: HTTP 500", areas=("agent", "threads"))
    hung = record("still running when the phase budget", "Hung", areas=("agent",))
    unrelated = record("signup: HTTP 500", areas=("auth",))
    result = diagnose(config(), [gate(2, "not_met")], [*stalled, symptom, hung], None)
    assert [(c.title, c.failure_class) for c in result.causes] == [
        ("Agent pipeline hangs", INFRASTRUCTURE)
    ]
    assert "also explains" in result.causes[0].evidence[1]
    mixed = diagnose(config(), [gate(2, "not_met")], [*stalled, unrelated], None)
    assert [c.failure_class for c in mixed.causes] == [INFRASTRUCTURE, APPLICATION]


def test_independent_causes_are_all_headlines() -> None:
    """Redis down and a missing secret explain different failures: both lead the summary."""
    redis = [
        record(f"redis down: Error 111 connecting to 127.0.0.1:6379 ({i})", areas=("redis",))
        for i in range(2)
    ]
    secret = [
        record(f"auth not ready: JWT_SECRET is not set ({i})", areas=("auth",)) for i in range(2)
    ]
    result = diagnose(config(), [gate(1, "not_met")], redis + secret, None)
    assert {c.title for c in result.headlines} == {
        "Redis unreachable (connection refused)",
        "Secret or env var JWT_SECRET missing",
    }


def test_censored_measurements_make_a_criterion_measured() -> None:
    """A refused Redis is "unreachable" and a stalled agent a lower bound, never "not
    measured"; both miss their target."""
    refused = record("redis down: Error 111 connecting to 127.0.0.1:6379", areas=("redis",))
    stalled = record("agent pipeline stalled: no event for 10 s", areas=("agent",), duration_s=10.2)
    result = diagnose(config(), [gate(1, "not_met")], [refused, stalled], None)
    figures = {c.name: (c.measured, c.bound, c.met) for c in result.criteria}
    assert figures["redis_latency_ms"] == (None, "unreachable", False)
    assert figures["agent_pipeline_ms"] == (10_200.0, "at_least", False)


def test_not_run_tests_are_counted_under_their_cause() -> None:
    """Tests fail-fast did not run are counted, and their cause says how many."""
    stalled = [
        record(f"agent pipeline stalled: no event for 10 s ({i})", areas=("agent",))
        for i in range(2)
    ]
    skipped = dataclasses.replace(
        record(outcome="passed", areas=("agent",)),
        outcome="not_run",
        reason="not run: agent pipeline hangs — 2 tests failed (agent pipeline stalled)",
    )
    result = diagnose(config(), [gate(2, "not_met")], [*stalled, skipped], None)
    assert result.counts["not_run"] == 1
    assert result.causes[0].not_run == 1


def test_failfast_trips_on_the_second_failure_of_a_part_only() -> None:
    """Two agent stalls trip the agent pipeline (areas agent); a 500 or a first stall do not."""
    failfast = FailFast(after=2)
    assert failfast.observe("AssertionError: HTTP 500", "HTTP 500") is None
    assert failfast.observe("AgentStalled: agent pipeline stalled", "stalled") is None
    trip = failfast.observe("AgentStalled: agent pipeline stalled", "stalled")
    assert trip is not None
    assert (trip.title, trip.areas, trip.failures) == ("Agent pipeline hangs", ("agent",), 2)
    assert trip.stops(("agent", "websocket"))
    assert not trip.stops(("auth",))
    assert failfast.observe("AgentStalled: agent pipeline stalled", "stalled") is None
