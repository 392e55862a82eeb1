"""The worklog never contradicts itself: one figure per fact, one phrase per fact, and a
censored value read as what happened. Pure: records, gates and context built in memory."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from ci_tools import config as cfg
from ci_tools.context.model import (
    Condition,
    Context,
    LogLine,
    RevisionInfo,
    ServiceContext,
    TestContext,
)
from ci_tools.diagnose import Diagnosis, diagnose
from ci_tools.history.analysis import track_record
from ci_tools.history.model import PastResult, PastRun
from ci_tools.phases import GateResult, evaluate_gate, pass_rate
from ci_tools.quarantine import Entry, Quarantine
from ci_tools.records import Failure, Measurement, PhaseRecords, TestRecord
from ci_tools.report.lookback import LookbackView, build_view, run_row
from ci_tools.report.markdown import Meta, criterion_mark, render, service_state
from ci_tools.report.stage import run_verdict
from ci_tools.wording import percent
from tests.fakes.records import make_record

CONFIG = cfg.load(Path(__file__).resolve().parents[2] / "pyproject.toml")
META = Meta("local", "r0", "c0", "worklog.md")
REDIS = "redis down: ConnectionError: Error 111 connecting to 127.0.0.1:6379"
STALLED = "agent pipeline stalled: no event for 10 s after agent_thinking"


def rec(
    name: str,
    outcome: str = "passed",
    *,
    phase: int = 2,
    message: str = "assert 1 == 2",
    **fields: object,
) -> TestRecord:
    """A record of phase ``phase`` (P1 unless told), failed with ``message`` unless passed."""
    failure = Failure("AssertionError", message) if outcome in ("failed", "error") else None
    values: dict[str, object] = {"priority": "P1", "file": f"tests/e2e/p{phase}.py"}
    values.update(fields)
    return make_record(name, phase=phase, outcome=outcome, failure=failure, **values)


def gate(
    number: int, records: list[TestRecord], quarantine: Quarantine | None = None
) -> GateResult:
    """The gate of phase ``number`` as the runner judges it."""
    found = PhaseRecords(tuple(records), (), 0)
    if quarantine is None:
        return evaluate_gate(number, CONFIG.phases[number], CONFIG, found)
    return evaluate_gate(number, CONFIG.phases[number], CONFIG, found, quarantine=quarantine)


def skipped(numbers: range, reason: str) -> list[GateResult]:
    """Gates of phases that did not run."""
    return [GateResult(n, CONFIG.phases[n].title, "skipped", reason) for n in numbers]


def row(worklog: str, start: str) -> str:
    """The worklog's line that starts with ``start``."""
    return next(line for line in worklog.splitlines() if line.startswith(start))


def phase1_passing() -> list[TestRecord]:
    """Phase 1 all passed, with what its criteria measure."""
    return [
        rec(
            f"infra{i}",
            phase=1,
            measurements=(
                Measurement("database_latency_ms", 12.0),
                Measurement("redis_latency_ms", 1.0),
                Measurement("websocket_success_rate", 1.0),
            ),
        )
        for i in range(16)
    ]


# --- one pass rate ---------------------------------------------------------------------------


def test_one_pass_rate_reads_the_same_in_the_phase_row_and_its_gate_reason() -> None:
    """The phase's pass rate column and its gate reason give the same figure (96.2%, not 96%
    beside 96.2%); a criterion judged by the gate is named with its phase, so the criteria
    table's figure over the whole run (97.1%) is another fact, not a second P1 pass rate."""
    phase1 = phase1_passing()
    phase2 = [rec(f"p{i}") for i in range(50)] + [rec(f"f{i}", "failed") for i in range(2)]
    gates = [gate(1, phase1), gate(2, phase2), *skipped(range(3, 6), "gate of phase 2 not met")]
    diagnosis = diagnose(CONFIG, gates, phase1 + phase2, None)
    worklog = render(diagnosis, None, META)
    line = row(worklog, "| 2 Critical business functions |")
    assert "| 96.2% |" in line
    assert "pass rate 96.2% (50/52), needs 100.0%" in line
    assert "P1 pass rate 96.2% in phase 2, target &gt;= 100.0%" in line
    assert "P1 pass rate 96.2%, target" not in line  # unscoped: read as the run's figure
    criteria = row(worklog, "| P1 pass rate |")
    assert "| 97.1% | 68 | ❌ |" in criteria
    assert "Measured over every test of the run that exercised the platform" in worklog


def test_gates_and_criteria_leave_out_the_same_tests_of_a_pass_rate() -> None:
    """A quarantined test's result counts neither for its phase's pass rate nor for a pass-rate
    criterion, at the gate or in the report (its measurements still count); a suite defect
    counts for none either."""
    held = rec("held", "failed", message="flaky thing")
    defect = rec("defect", "failed", message="name 'x' is not defined")
    defect = dataclasses.replace(
        defect, failure=Failure("NameError", "name 'x' is not defined", frame="test")
    )
    passed = [rec(f"p{i}") for i in range(4)]
    quarantine = Quarantine((Entry(held.nodeid, "me", "flaky", dt.date(2099, 1, 1)),))
    judged = gate(2, [*passed, held, defect], quarantine)
    p1 = next(c for c in judged.criteria if c.name == "p1_pass_rate")
    assert (judged.pass_rate, p1.measured, p1.samples) == (1.0, 1.0, 4)
    diagnosis = diagnose(CONFIG, [judged], [*passed, held, defect], None)
    run_p1 = next(c for c in diagnosis.criteria if c.name == "p1_pass_rate")
    assert (run_p1.measured, run_p1.samples) == (1.0, 4)


def test_a_pass_rate_short_of_a_whole_is_never_printed_as_one() -> None:
    """2,499 of 2,500 is 99.9%, not a 100% that the gate then says was missed; one test
    passed of a thousand is not 0%."""
    assert percent(2499 / 2500) == "99.9%"
    assert percent(1 / 1000) == "0.1%"
    assert percent(1.0) == "100.0%"
    rate = pass_rate([rec("a"), rec("b", "failed"), rec("c", "not_run"), rec("d", "skipped")])
    assert (rate.passed, rate.ran, rate.text) == (1, 2, "50.0% (1/2)")


# --- censored values -------------------------------------------------------------------------


def stalled_run(duration_s: float) -> tuple[Diagnosis, str]:
    """Phase 2 with two agent tests that stalled after ``duration_s``: the diagnosis and its
    worklog."""
    phase1 = phase1_passing()
    phase2 = [rec(f"p{i}") for i in range(10)] + [
        rec(f"stalled{i}", "failed", message=STALLED, areas=("agent",), duration_s=duration_s)
        for i in range(2)
    ]
    gates = [gate(1, phase1), gate(2, phase2), *skipped(range(3, 6), "gate of phase 2 not met")]
    diagnosis = diagnose(CONFIG, gates, phase1 + phase2, None)
    return diagnosis, render(diagnosis, None, META)


def test_a_lower_bound_below_the_target_says_what_happened_and_is_not_missed() -> None:
    """The stream stalled after 10.1 s: the agent pipeline's p50 is not known. The criteria
    table, the gate reason, the cause's evidence and verdict.json say "no answer within
    10.1 s", none says "≥ 10,100 ms" beside a target of 30,000 ms, and it is not marked
    missed."""
    diagnosis, worklog = stalled_run(10.1)
    agent = next(c for c in diagnosis.criteria if c.name == "agent_pipeline_ms")
    assert (agent.status, agent.figure, criterion_mark(agent)) == (
        "unknown",
        "no answer within 10.1 s",
        "❔",
    )
    assert row(worklog, "| Agent pipeline p50 |") == (
        "| Agent pipeline p50 | &lt; 30,000 ms | no answer within 10.1 s | 2 | ❔ |"
    )
    said = "Agent pipeline p50 not measured: no answer within 10.1 s, target &lt; 30,000 ms"
    assert said in worklog  # the cause's evidence
    assert "Agent pipeline p50 not measured in phase 2: no answer within 10.1 s" in worklog
    assert "≥ 10,100 ms" not in worklog
    assert "misses its target" not in worklog
    evidence = [line for c in run_verdict(diagnosis, None).causes for line in c["evidence"]]
    assert "Agent pipeline p50 not measured: no answer within 10.1 s, target < 30,000 ms" in (
        evidence
    )
    assert not any("≥" in line for line in evidence)
    assert not any("Agent pipeline p50" in r for r in diagnosis.escalation.reasons)


def test_a_lower_bound_past_the_target_is_a_miss() -> None:
    """No answer within 31 s, the target is under 30 s: at least 31,000 ms, missed."""
    diagnosis, worklog = stalled_run(31.0)
    agent = next(c for c in diagnosis.criteria if c.name == "agent_pipeline_ms")
    assert (agent.status, agent.figure) == ("missed", "≥ 31,000 ms")
    assert row(worklog, "| Agent pipeline p50 |").endswith("| ≥ 31,000 ms | 2 | ❌ |")
    assert "Agent pipeline p50 ≥ 31,000 ms, target &lt; 30,000 ms" in worklog


def test_a_cut_short_sample_above_the_median_leaves_the_median_exact() -> None:
    """p50 of 100, 200, 300 ms and one wait cut short at 20 s: raising the cut-short value
    cannot move the median, so 250 ms is measured and met, not a lower bound. Under a max,
    any cut-short sample makes the figure a lower bound: one cut at 2 s under a 3 s limit
    decides nothing."""
    values = [100.0, 200.0, 300.0]
    exact = [
        rec(f"a{i}", measurements=(Measurement("agent_pipeline_ms", v),))
        for i, v in enumerate(values)
    ]
    cut = rec("cut", measurements=(Measurement("agent_pipeline_ms", 20_000.0, "at_least"),))
    judged = gate(2, [*exact, cut])
    agent = next(c for c in judged.criteria if c.name == "agent_pipeline_ms")
    assert (agent.measured, agent.bound, agent.met) == (250.0, "", True)
    slowest = [
        rec(f"d{i}", phase=1, measurements=(Measurement("database_latency_ms", 10.0),))
        for i in range(3)
    ]
    cut_db = rec(
        "cut_db", phase=1, measurements=(Measurement("database_latency_ms", 2_000.0, "at_least"),)
    )
    database = next(
        c for c in gate(1, [*slowest, cut_db]).criteria if c.name == "database_latency_ms"
    )
    assert (database.bound, database.status, database.figure) == (
        "at_least",
        "unknown",
        "no answer within 2.0 s",
    )


# --- one start for one outage ----------------------------------------------------------------

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def at(minutes: float) -> str:
    """T0 plus minutes, as the store writes times."""
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def redis_down_run(phase1: list[TestRecord]) -> tuple[Diagnosis, list[GateResult]]:
    """A run whose phase 1 fails on Redis."""
    gates = [gate(1, phase1), *skipped(range(2, 6), "gate of phase 1 not met")]
    return diagnose(CONFIG, gates, phase1, None), gates


def outage_view(runs_down: int, *, not_run_in: int | None = None) -> tuple[LookbackView, str]:
    """The current run and ``runs_down`` runs before it, one every 10 minutes, all with Redis
    down and the Redis tests of phase 1 failing (not run in the run ``not_run_in`` back);
    a healthy run before them. The view and the worklog."""
    phase1 = [
        rec("redis_a", "failed", phase=1, message=REDIS, areas=("redis",)),
        rec("redis_b", "failed", phase=1, message=REDIS, areas=("redis",)),
        *[rec(f"ok{i}", phase=1) for i in range(4)],
    ]
    phase1 = [dataclasses.replace(r, start=at(600), end=at(600)) for r in phase1]
    first, _ = redis_down_run(phase1)
    current = run_row(
        CONFIG, first, phase1, None, env="local", run_id="now", attempt=1, commit="c0"
    )
    assert current is not None
    assert current.redis_down
    past: list[PastRun] = []
    results: list[PastResult] = []
    for k in range(1, runs_down + 2):
        down = k <= runs_down
        stored = PastRun(
            **{
                **dataclasses.asdict(current),
                "run_id": f"r{k}",
                "commit": f"c{k}",
                "started": at(600 - 10 * k),
                "finished": at(600 - 10 * k),
                "redis_down": down,
                "outage": down,
                "verdict": "unhealthy" if down else "healthy",
            },
            key=k,
        )
        past.append(stored)
        for r in phase1:
            outcome = r.outcome if down else "passed"
            if k == not_run_in and r.outcome == "failed":
                outcome = "not_run"
            results.append(PastResult(k, r.nodeid, r.file, 1, outcome, "", ""))
    view = build_view(
        CONFIG, current=current, records=phase1, diagnosis=first, past=past, past_results=results
    )
    gates = [gate(1, phase1), *skipped(range(2, 6), "gate of phase 1 not met")]
    diagnosis = diagnose(CONFIG, gates, phase1, None, duration_facts=view.facts)
    return view, render(diagnosis, None, META, lookback=view)


def test_an_outage_has_one_start_said_the_same_everywhere() -> None:
    """Redis down in this run and the 30 before it (past the 20-run window): the history line,
    the failure group, the expected state and the escalation rule all say the same start,
    in the same words, over every stored run (not cut at the window)."""
    _, worklog = outage_view(30)
    since = "in every run since 2026-12-01 13:00 UTC (31 runs, 5 h)"
    assert since in row(worklog, "**History:**")
    assert since in row(worklog, "- history: known:")
    assert row(worklog, "- Redis: failed in 21 of the last 21 runs;").endswith(f"failing {since}")
    assert f"Redis failing {since}" in row(worklog, "**Escalation P0:**")
    assert worklog.count("in every run since") == worklog.count(since)


def test_a_test_not_run_during_the_outage_keeps_its_start() -> None:
    """A Redis test that fail-fast did not run in one run of the outage is no new failure and
    does not start the outage again: it has failed since the outage began."""
    view, worklog = outage_view(5, not_run_in=2)
    assert view.new_failures == 0
    assert "in every run since 2026-12-01 17:10 UTC (6 runs, 50 min)" in row(
        worklog, "- history: known:"
    )
    current = PastRun(**{**dataclasses.asdict(past_run(0, 600)), "key": 0})
    found = track_record(
        "t",
        1,
        "failed",
        current=current,
        past=[past_run(1, 590), past_run(2, 580), past_run(3, 570)],
        by_run={
            1: {"t": PastResult(1, "t", "t.py", 1, "not_run", "", "")},
            2: {"t": PastResult(2, "t", "t.py", 1, "failed", "", "")},
            3: {"t": PastResult(3, "t", "t.py", 1, "passed", "", "")},
        },
    )
    assert (found.status, found.failing_runs, found.since and found.since.run_id) == (
        "known",
        3,
        "r2",
    )


def past_run(key: int, minutes: float) -> PastRun:
    """A stored run of phase 1 at T0 + minutes."""
    return PastRun(
        run_id=f"r{key}",
        attempt=1,
        env="local",
        commit=f"c{key}",
        revisions={},
        started=at(minutes),
        finished=at(minutes),
        verdict="unhealthy",
        escalation="none",
        first_failed_phase=1,
        phases_ran=(1,),
        outage=False,
        agent_pipeline_failed=False,
        redis_down=False,
        database_min_ms=None,
        key=key,
    )


def test_a_revision_age_is_said_of_this_runs_first_failure() -> None:
    """The deployment context and the cause's evidence say "this run's first failure": an
    outage that began runs before is said with its own start, not by the revision's age."""
    context = redis_context()
    record = rec("redis_a", "failed", phase=1, message=REDIS, areas=("redis",))
    diagnosis, _ = redis_down_run([record])
    diagnosis = diagnose(CONFIG, list(diagnosis.gates), [record], context)
    worklog = render(diagnosis, context, META)
    assert "| service | revision | age at this run's first failure |" in worklog
    assert "backend revision backend-00002 was created 3 s before this run's first failure" in (
        worklog
    )
    assert "before the first failure" not in worklog


# --- the context's state ---------------------------------------------------------------------


def redis_context() -> Context:
    """Backend and auth both serving ready revisions; the failed Redis test's own log lines
    show auth logging in fine and backend's readiness answering 503 with Redis down."""
    entries = (
        LogLine("2026-12-01T08:00:00Z", "INFO", "auth", "POST /auth/login 200", "t", 200),
        LogLine(
            "2026-12-01T08:00:01Z",
            "ERROR",
            "backend",
            "dependency redis is down: ConnectionError: Error 111 connecting to 127.0.0.1:6379",
            "t",
        ),
        LogLine("2026-12-01T08:00:01Z", "ERROR", "backend", "GET /health/ready 503", "t", 503),
    )
    services = tuple(
        ServiceContext(role, role, revision=revision(f"{role}-00002"), revision_age_s=3.0)
        for role in ("backend", "auth")
    )
    return Context(
        generated_at="2026-12-01T08:01:00Z",
        env="local",
        source="local",
        project="",
        region="",
        window_start=None,
        window_end=None,
        failures=1,
        requests={},
        services=services,
        tests=(TestContext("tests/e2e/p1.py::redis_a", 1, ("t",), (), entries),),
    )


def revision(name: str) -> RevisionInfo:
    """A ready revision called ``name``."""
    return RevisionInfo(
        name=name,
        create_time="2026-12-01T07:59:57Z",
        image="img",
        image_digest=None,
        env=(),
        vpc_access={},
        scaling={},
        timeout="300s",
        service_account="sa",
        conditions=(Condition("Ready", "CONDITION_SUCCEEDED"),),
    )


def test_the_state_of_a_service_says_what_the_run_found_of_it() -> None:
    """Redis down: backend answered the Redis test with errors, so its state names the cause
    instead of "ok"; auth answered fine and stays "ok"."""
    context = redis_context()
    record = rec("redis_a", "failed", phase=1, message=REDIS, areas=("redis",))
    gates = [gate(1, [record]), *skipped(range(2, 6), "gate of phase 1 not met")]
    diagnosis = diagnose(CONFIG, gates, [record], context)
    backend, auth = context.services
    assert service_state(backend, diagnosis) == "failing: Redis unreachable (connection refused)"
    assert service_state(auth, diagnosis) == "ok"
    worklog = render(diagnosis, context, META)
    assert row(worklog, "| backend |").endswith(
        "| failing: Redis unreachable (connection refused) |"
    )
    assert row(worklog, "| auth |").endswith("| ok |")


def test_a_hung_service_is_not_ok() -> None:
    """A stream that stalled logs no error: the service the test was left waiting on (the last
    to log) is named with the cause."""
    context = redis_context()
    waiting = (
        LogLine("2026-12-01T08:00:00Z", "INFO", "auth", "POST /auth/login 200", "t", 200),
        LogLine("2026-12-01T08:00:01Z", "INFO", "backend", "connection open", "t"),
    )
    record = rec("stalled", "failed", message=STALLED, areas=("agent",), duration_s=10.1)
    context = dataclasses.replace(
        context, tests=(TestContext(record.nodeid, 2, ("t",), (), waiting),)
    )
    gates = [gate(2, [record])]
    diagnosis = diagnose(CONFIG, gates, [record], context)
    backend, auth = context.services
    assert service_state(backend, diagnosis) == "failing: Agent pipeline hangs"
    assert service_state(auth, diagnosis) == "ok"


# --- the trend -------------------------------------------------------------------------------


def test_the_trend_ends_on_the_pass_rates_of_the_phase_table() -> None:
    """The current run's point of the trend is each gate's pass rate (a suite defect left
    out, as the phase table says), and a phase that did not run has none."""
    defect = dataclasses.replace(
        rec("defect", "failed", phase=1),
        failure=Failure("NameError", "name 'x' is not defined", frame="test"),
    )
    phase1 = [*phase1_passing()[:3], rec("bad", "failed", phase=1), defect]
    phase1 = [dataclasses.replace(r, start=at(600), end=at(600)) for r in phase1]
    gates = [gate(1, phase1), *skipped(range(2, 6), "gate of phase 1 not met")]
    diagnosis = diagnose(CONFIG, gates, phase1, None)
    current = run_row(
        CONFIG, diagnosis, phase1, None, env="local", run_id="now", attempt=1, commit="c"
    )
    assert current is not None
    view = build_view(
        CONFIG,
        current=current,
        records=phase1,
        diagnosis=diagnosis,
        past=[past_run(1, 590)],
        past_results=[],
    )
    assert view.trend[-1].rates == {1: gates[0].pass_rate, 2: None, 3: None, 4: None, 5: None}
    assert gates[0].pass_rate == 0.75
