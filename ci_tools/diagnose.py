"""Diagnosis: classify failures, group them by signature, rank likely causes, escalate.

Pure functions of a run's records, gates and deployment context: everything said here is
derived from what was measured, with its evidence, never guessed.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

from ci_tools.config import Config
from ci_tools.context.analysis import signature
from ci_tools.context.model import Context, LogLine, ServiceContext
from ci_tools.phases import CriterionResult, GateResult, evaluate_criterion, format_value
from ci_tools.records import TestRecord

INFRASTRUCTURE, APPLICATION, TEST = "infrastructure", "application", "test"
CLASS_ORDER = {INFRASTRUCTURE: 0, APPLICATION: 1, TEST: 2}

# (class, cause title, pattern over the failure and its own log lines), most specific first.
RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (klass, title, re.compile(pattern, re.IGNORECASE))
    for klass, title, pattern in (
        (INFRASTRUCTURE, "Module missing at import", r"ModuleNotFoundError|No module named"),
        (
            INFRASTRUCTURE,
            "Secret or env var missing",
            r"\b[A-Z][A-Z0-9_]{2,}\b is not set|missing (env|secret)|KeyError: '[A-Z_]+'|"
            r"token signing is not configured",
        ),
        (
            INFRASTRUCTURE,
            "Redis unreachable",
            r"redis\b.*(down|refused|connect|timeout|"
            r"unavailable)|ConnectionError.*:63\d\d",
        ),
        (INFRASTRUCTURE, "Database slow", r"postgres\w* (is )?slow|database latency"),
        (
            INFRASTRUCTURE,
            "Database unreachable",
            r"postgres\w*.*(down|refused|connect)|asyncpg|psycopg|OperationalError",
        ),
        (INFRASTRUCTURE, "DNS failure", r"gaierror|Name or service not known|NXDOMAIN"),
        (INFRASTRUCTURE, "TLS failure", r"SSLError|CERTIFICATE_VERIFY_FAILED|tlsv1 alert"),
        (INFRASTRUCTURE, "WebSocket sessions dropped", r"\b1011\b|dropped mid-stream"),
        (INFRASTRUCTURE, "Agent pipeline hangs", r"timed out after .* s.*agent|agent.*timed out"),
        (INFRASTRUCTURE, "Requests time out", r"timed out|Timeout|ReadTimeout|ConnectTimeout"),
        (
            INFRASTRUCTURE,
            "Connection refused",
            r"Connection refused|ConnectError|ConnectionRefused|Errno 111",
        ),
        (
            INFRASTRUCTURE,
            "Service unavailable (5xx)",
            r"HTTP 50[234]\b|\b50[234] (Service|Bad|Gateway)|status(_code)? (==|=|:) ?50[234]",
        ),
        (APPLICATION, "Server errors (500)", r"HTTP 500\b|Internal Server Error|Traceback"),
        (APPLICATION, "Contract broken (4xx)", r"HTTP 4\d\d\b|status(_code)? (==|=|:) ?4\d\d"),
    )
)
SCORE = {INFRASTRUCTURE: 3.0, APPLICATION: 2.0, TEST: 1.0}


@dataclasses.dataclass(frozen=True)
class Classified:
    """One failure with its class and the rule (cause) that matched."""

    record: TestRecord
    klass: str
    cause: str
    signature: str  # what groups it: its own top error log line, else its failure message
    logs: tuple[LogLine, ...]


@dataclasses.dataclass(frozen=True)
class FailureGroup:
    """Failures sharing one signature."""

    signature: str
    klass: str
    cause: str
    tests: tuple[str, ...]
    phases: tuple[int, ...]
    file: str  # of the first test, for the annotation
    line: int
    message: str  # the first test's failure message
    logs: tuple[LogLine, ...]  # the first test's own log lines
    logs_url: str = ""
    trace_urls: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Cause:
    """A ranked root-cause hint with its evidence."""

    title: str
    klass: str
    score: float
    evidence: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Escalation:
    """The escalation level and why."""

    level: str  # "P0", "P1" or "none"
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """The report stage's answer."""

    verdict: str  # "healthy", "unhealthy", "incomplete" (a phase did not run) or "unknown"
    gates: tuple[GateResult, ...]
    criteria: tuple[CriterionResult, ...]
    groups: tuple[FailureGroup, ...]
    causes: tuple[Cause, ...]
    escalation: Escalation
    counts: dict[str, int]
    first_failed_phase: int | None
    held: tuple[str, ...]  # what worked, for the executive summary
    notes: tuple[str, ...] = ()  # bad input and other things the reader should know


def classify(
    record: TestRecord, logs: Sequence[LogLine], service_errors: Sequence[str] = ()
) -> tuple[str, str]:
    """The class of a failure and the matching cause, from its exception, the HTTP statuses
    and error lines of its own requests, and the crash signatures of the services that
    answered it with a 5xx (a crash at start-up has no trace id, but explains the 503)."""
    failure = record.failure
    text = " ".join([failure.type, failure.message] if failure else [])
    if failure is not None and failure.timed_out and "agent" in record.areas:
        text += " agent timed out"
    own = [
        f"{line.message} HTTP {line.status}"
        for line in logs
        if line.severity in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY")
    ]
    evidence = " ".join([*service_errors, text, *own])
    for klass, title, pattern in RULES:
        if pattern.search(evidence):
            return klass, title
    if record.outcome == "error":
        return TEST, "Test setup failed (fixture or collection)"
    return APPLICATION, "Wrong content or behaviour"


def _own_logs(context: Context | None) -> dict[str, tuple[LogLine, ...]]:
    if context is None:
        return {}
    return {test.nodeid: test.entries for test in context.tests}


def _group_signature(record: TestRecord, logs: Sequence[LogLine]) -> str:
    errors = [
        line
        for line in logs
        if line.severity in ("ERROR", "CRITICAL")
        and not re.match(r"^[A-Z]+ /\S* \d{3}$", line.message)
    ]  # not the request line
    if errors:
        return f"{errors[0].service}: {signature(errors[0].message)}"
    failure = record.failure
    return signature(f"{failure.type}: {failure.message}" if failure else record.outcome)


def _criteria(config: Config, records: Sequence[TestRecord]) -> tuple[CriterionResult, ...]:
    return tuple(
        evaluate_criterion(name, criterion, records) for name, criterion in config.criteria.items()
    )


def _service_evidence(service: ServiceContext, first_failure: str | None) -> list[str]:
    lines = []
    if service.unavailable:
        return [f"{service.role}: {service.unavailable}"]
    if service.service and service.service.not_ready_finding:
        lines.append(f"{service.role}: {service.service.not_ready_finding}")
    if service.revision is not None:
        age = ""
        if service.revision_age_s is not None and first_failure:
            minutes = service.revision_age_s / 60
            age = (
                f" was created {minutes:.0f} min before the first failure"
                if minutes >= 1
                else f" was created {service.revision_age_s:.0f} s before the first failure"
            )
        lines.append(f"{service.role} revision {service.revision.name}{age}")
    if service.changes is not None:
        lines.append(f"{service.role}: {service.changes.summary}")
    for sig in service.signatures:
        if sig.severity in ("CRITICAL", "ALERT", "EMERGENCY"):
            lines.append(
                f"{service.role} logged {sig.severity} `{sig.signature}` "
                f"({sig.count}x, first at {sig.first_seen})"
            )
            break
    return lines


def _rank(
    groups: Sequence[FailureGroup],
    criteria: Sequence[CriterionResult],
    context: Context | None,
    first_failure: str | None,
) -> tuple[Cause, ...]:
    by_cause: dict[str, list[FailureGroup]] = defaultdict(list)
    for group in groups:
        by_cause[group.cause].append(group)
    causes = []
    for title, members in by_cause.items():
        klass = members[0].klass
        tests = sum(len(g.tests) for g in members)
        phases = sorted({p for g in members for p in g.phases})
        top = max(members, key=lambda g: len(g.tests))
        shared = (
            f"share signature `{top.signature}`"
            if len(members) == 1
            else f"in {len(members)} signatures, most often `{top.signature}` ({len(top.tests)})"
        )
        evidence = [f"{tests} failure(s) in phase {', '.join(map(str, phases))} {shared}"]
        services = {
            line.service
            for g in members
            for line in g.logs
            if line.severity in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY")
        }
        if context is not None:
            for service in context.services:
                if service.role in services or (
                    service.unavailable is None
                    and (service.service and service.service.not_ready_finding)
                ):
                    evidence += _service_evidence(service, first_failure)
        for criterion in criteria:
            if criterion.measured is not None and not criterion.met and _related(title, criterion):
                evidence.append(
                    f"{criterion.title} {format_value(criterion.measured, criterion.unit)}, "
                    f"target {criterion.target}"
                )
        # Earlier phases and more failures weigh more: infrastructure first.
        score = SCORE[klass] * tests / (min(phases) if phases else 1)
        causes.append(Cause(title, klass, round(score, 3), tuple(dict.fromkeys(evidence))))
    return tuple(sorted(causes, key=lambda c: (CLASS_ORDER[c.klass], -c.score)))


def _related(title: str, criterion: CriterionResult) -> bool:
    words = {"Database": "database", "Redis": "redis", "WebSocket": "websocket", "Agent": "agent"}
    return any(key in title and word in criterion.name for key, word in words.items())


def _escalate(
    config: Config, gates: Sequence[GateResult], criteria: Sequence[CriterionResult]
) -> Escalation:
    rules = config.escalation
    measured = {c.name: c.measured for c in criteria if c.measured is not None}
    p0, p1 = [], []
    first = next((g for g in gates if g.phase == 1), None)
    if first is not None and first.status == "not_met":
        p0.append(f"phase 1 gate not met: {first.reason}")
    db = measured.get("database_latency_ms")
    if db is not None and db > rules.p0_database_latency_ms:
        p0.append(
            f"database latency {format_value(db, 'ms')} > "
            f"{format_value(rules.p0_database_latency_ms, 'ms')}"
        )
    elif db is not None and db > rules.p1_database_latency_ms:
        p1.append(
            f"database latency {format_value(db, 'ms')} > "
            f"{format_value(rules.p1_database_latency_ms, 'ms')}"
        )
    ws = measured.get("websocket_success_rate")
    if ws is not None and ws < rules.p0_websocket_success_rate:
        p0.append(
            f"WebSocket success {format_value(ws, '%')} < "
            f"{format_value(rules.p0_websocket_success_rate, '%')}"
        )
    p1_rate = measured.get("p1_pass_rate")
    if p1_rate is not None and p1_rate < rules.p1_p1_pass_rate:
        p1.append(
            f"P1 tests pass {format_value(p1_rate, '%')} < "
            f"{format_value(rules.p1_p1_pass_rate, '%')}"
        )
    agent = measured.get("agent_pipeline_ms")
    if agent is not None and agent > rules.p1_agent_p50_ms:
        p1.append(
            f"agent pipeline p50 {format_value(agent, 'ms')} > "
            f"{format_value(rules.p1_agent_p50_ms, 'ms')}"
        )
    notes = (
        f"P0 rule 'agent pipeline failing every run for more than "
        f"{rules.p0_agent_failing_hours:g} h' skipped: it needs run history, which is not "
        "recorded yet",
    )
    if p0:
        return Escalation("P0", tuple(p0 + p1), notes)
    if p1:
        return Escalation("P1", tuple(p1), notes)
    return Escalation("none", (), notes)


def diagnose(
    config: Config,
    gates: Sequence[GateResult],
    records: Sequence[TestRecord],
    context: Context | None,
    notes: Sequence[str] = (),
) -> Diagnosis:
    """The run's diagnosis from its gates, records and (optional) deployment context."""
    own = _own_logs(context)
    failed = [r for r in records if r.outcome in ("failed", "error")]
    crashes = {
        s.role: tuple(
            sig.signature for sig in s.signatures if sig.severity in ("CRITICAL", "ALERT")
        )
        for s in (context.services if context else ())
    }
    classified = []
    for record in failed:
        logs = own.get(record.nodeid, ())
        answered_5xx = {line.service for line in logs if (line.status or 0) >= 500}
        crashed = [sig for role in sorted(answered_5xx) for sig in crashes.get(role, ())]
        klass, cause = classify(record, logs, crashed)
        classified.append(Classified(record, klass, cause, _group_signature(record, logs), logs))
    trace_urls = {t.nodeid: t.trace_urls for t in context.tests} if context else {}
    logs_urls = {
        f"{s.role}: {sig.signature}": sig.logs_url
        for s in (context.services if context else ())
        for sig in s.signatures
    }
    grouped: dict[str, list[Classified]] = defaultdict(list)
    for item in classified:
        grouped[item.signature].append(item)
    groups = []
    for sig, items in grouped.items():
        first = min(items, key=lambda i: (i.record.phase, i.record.start))
        cause_counts = Counter(i.cause for i in items)
        klass = min((i.klass for i in items), key=CLASS_ORDER.__getitem__)
        failure = first.record.failure
        groups.append(
            FailureGroup(
                signature=sig,
                klass=klass,
                cause=cause_counts.most_common(1)[0][0],
                tests=tuple(i.record.nodeid for i in items),
                phases=tuple(sorted({i.record.phase for i in items})),
                file=first.record.file,
                line=first.record.line,
                message=failure.message if failure else first.record.outcome,
                logs=first.logs,
                logs_url=logs_urls.get(sig, ""),
                trace_urls=trace_urls.get(first.record.nodeid, ()),
            )
        )
    groups.sort(key=lambda g: (CLASS_ORDER[g.klass], min(g.phases), -len(g.tests)))
    criteria = _criteria(config, records)
    first_failure = min((r.start for r in failed), default=None)
    causes = _rank(groups, criteria, context, first_failure)
    if not causes:  # no failing test, but a criterion may still have missed its target
        causes = tuple(
            Cause(
                f"{c.title} misses its target",
                INFRASTRUCTURE,
                1.0,
                (f"{c.title} {format_value(c.measured, c.unit)}, target {c.target}",),
            )
            for c in criteria
            if c.measured is not None and not c.met
        )
    counts = Counter(r.outcome for r in records)
    run_gates = [g for g in gates if g.status != "skipped"]
    if not gates:
        verdict = "unknown"
    elif any(g.status in ("not_met", "skipped") for g in gates):
        verdict = "unhealthy"
    elif any(g.status == "not_run" for g in gates):
        verdict = "incomplete"  # never "healthy" while a phase is unaccounted for
    else:
        verdict = "healthy"
    held = tuple(f"phase {g.phase} {g.title}" for g in run_gates if g.met)
    failed_phase = next((g.phase for g in gates if g.status == "not_met"), None)
    return Diagnosis(
        verdict=verdict,
        gates=tuple(gates),
        criteria=criteria,
        groups=tuple(groups),
        causes=causes,
        escalation=_escalate(config, gates, criteria),
        counts={
            "tests": len(records),
            "passed": counts["passed"],
            "failed": counts["failed"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
        },
        first_failed_phase=failed_phase,
        held=held,
        notes=tuple(notes),
    )
