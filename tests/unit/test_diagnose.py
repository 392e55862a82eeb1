"""Classification and escalation rules, one by one, on records as the plugin writes them."""

from __future__ import annotations

import pytest

from ci_tools import config as cfg
from ci_tools.context.model import LogLine
from ci_tools.diagnose import APPLICATION, INFRASTRUCTURE, TEST, classify, diagnose
from ci_tools.phases import GateResult
from ci_tools.records import Failure, Measurement, TestRecord
from tests.fakes.records import make_record


def config() -> cfg.Config:
    """The project's own configuration (the brief's thresholds)."""
    from pathlib import Path  # noqa: PLC0415

    return cfg.load(Path(__file__).resolve().parents[2] / "pyproject.toml")


def record(
    message: str = "",
    kind: str = "AssertionError",
    outcome: str = "failed",
    areas: tuple[str, ...] = (),
    timed_out: bool = False,
    measurements: tuple[Measurement, ...] = (),
    priority: str = "P1",
    phase: int = 1,
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
    )


@pytest.mark.parametrize(
    ("message", "kind", "logs", "expected"),
    [
        (
            "Error 111 connecting to 127.0.0.1:6379",
            "ConnectionError",
            (),
            (INFRASTRUCTURE, "Redis unreachable"),
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
            (INFRASTRUCTURE, "Secret or env var missing"),
        ),
        ("create thread: HTTP 422", "AssertionError", (), (APPLICATION, "Contract broken (4xx)")),
        ("assert 'x' == 'y'", "AssertionError", (), (APPLICATION, "Wrong content or behaviour")),
        ("postgres slow: 5012 ms", "AssertionError", (), (INFRASTRUCTURE, "Database slow")),
        (
            "received 1011 (internal error)",
            "ConnectionClosedError",
            (),
            (INFRASTRUCTURE, "WebSocket sessions dropped"),
        ),
    ],
)
def test_failures_are_classified_from_exception_status_and_logs(
    message: str, kind: str, logs: tuple[LogLine, ...], expected: tuple[str, str]
) -> None:
    """Each rule of the brief: connection, DNS, TLS, 5xx, secrets, 4xx, content, database."""
    assert classify(record(message, kind), logs) == expected


def test_fixture_errors_are_test_problems() -> None:
    """A setup error without an infrastructure sign is the test's own fault."""
    assert classify(record("fixture 'x' not found", "Error", outcome="error"), ()) == (
        TEST,
        "Test setup failed (fixture or collection)",
    )


def test_a_timed_out_agent_test_is_a_hanging_pipeline() -> None:
    """A timeout in an agent test points at the agent pipeline."""
    hung = record("timed out after 30 s", "Timeout", areas=("agent",), timed_out=True)
    assert classify(hung, ()) == (INFRASTRUCTURE, "Agent pipeline hangs")


def test_a_503_is_explained_by_the_service_crash() -> None:
    """A 503 from a service that crashed at import is classified by the crash."""
    logs = (LogLine("t", "ERROR", "backend", "GET /health 503", status=503),)
    crash = ("backend failed to start: ModuleNotFoundError: No module named 'x'",)
    assert classify(record("HTTP 503"), logs, crash) == (INFRASTRUCTURE, "Module missing at import")


def gate(phase: int, status: str) -> GateResult:
    """A gate result of the given status."""
    return GateResult(phase=phase, title=f"P{phase}", status=status, reason="r")


def level(records: list[TestRecord], gates: list[GateResult] | None = None) -> tuple[str, ...]:
    """The escalation level and its reasons for these records."""
    result = diagnose(config(), gates or [gate(1, "met")], records, None)
    return (result.escalation.level, *result.escalation.reasons)


def measured(name: str, value: float) -> TestRecord:
    """A passing test that measured a value."""
    return record(outcome="passed", measurements=(Measurement(name, value),))


def test_escalation_p0_rules() -> None:
    """P0: phase-1 gate, database > 10 s, WebSocket success < 50%."""
    assert level([record("x")], [gate(1, "not_met")])[0] == "P0"
    assert level([measured("database_latency_ms", 10_500)])[:2] == (
        "P0",
        "database latency 10,500 ms > 10,000 ms",
    )
    assert level(
        [
            measured("websocket_success_rate", 0.0),
            measured("websocket_success_rate", 0.0),
            measured("websocket_success_rate", 1.0),
        ]
    )[:2] == ("P0", "WebSocket success 33.3% < 50.0%")


def test_escalation_p1_rules() -> None:
    """P1: P1 pass rate < 80%, agent p50 > 60 s, database > 5 s."""
    assert level([measured("database_latency_ms", 6000)])[:2] == (
        "P1",
        "database latency 6,000 ms > 5,000 ms",
    )
    assert level([measured("agent_pipeline_ms", 61_000)])[:2] == (
        "P1",
        "agent pipeline p50 61,000 ms > 60,000 ms",
    )
    fails = [record(f"x{i}", phase=2) for i in range(3)]
    passes = [record(outcome="passed", phase=2) for _ in range(7)]
    assert level(fails + passes)[:2] == ("P1", "P1 tests pass 70.0% < 80.0%")


def test_no_rule_no_escalation_and_the_history_rule_is_noted() -> None:
    """A healthy run is not escalated; the history-based rule says why it was skipped."""
    result = diagnose(config(), [gate(1, "met")], [measured("database_latency_ms", 12)], None)
    assert result.escalation.level == "none"
    assert result.verdict == "healthy"
    assert "needs run history" in result.escalation.notes[0]


def test_causes_rank_infrastructure_first_and_earlier_phases_higher() -> None:
    """An application failure in many tests still ranks below an infrastructure one."""
    app = [record(f"assert {i} == 0", phase=2) for i in range(10)]
    infra = [record("Error 111 connecting to 127.0.0.1:6379", "ConnectionError", phase=3)]
    result = diagnose(config(), [gate(1, "met")], app + infra, None)
    assert [c.klass for c in result.causes] == [INFRASTRUCTURE, APPLICATION]
    assert result.causes[0].evidence[0].startswith("1 failure(s) in phase 3 share signature")
