"""History's analysis, pure: new vs known, flaky vs broken with outages left out, the
duration facts of escalation, success rates."""

from __future__ import annotations

import dataclasses
import datetime as dt

from ci_tools.config import parse
from ci_tools.history.analysis import (
    phase_trend,
    streak,
    success_rates,
    tallies_of,
    track_record,
    window_rates,
)
from ci_tools.history.model import PastResult, PastRun, RunRow
from ci_tools.report.lookback import duration_facts

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
NODE = "tests/e2e/t.py::test_x"


def at(minutes: float) -> str:
    """T0 plus minutes, as the store writes times."""
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def run(key: int, minutes: float, **changes: object) -> PastRun:
    """A stored run of phase 1 at T0 + minutes."""
    base = PastRun(
        run_id=f"r{key}",
        attempt=1,
        env="local",
        commit=f"c{key}",
        revisions={"backend": f"backend-{key:05d}"},
        started=at(minutes),
        finished=at(minutes + 1),
        verdict="healthy",
        escalation="none",
        first_failed_phase=None,
        phases_ran=(1,),
        outage=False,
        agent_pipeline_failed=False,
        redis_down=False,
        database_min_ms=12.0,
        key=key,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def current(minutes: float = 600, **changes: object) -> RunRow:
    """The run being reported."""
    return run(0, minutes, **changes)


def past_runs(
    outcomes: list[str], **changes: object
) -> tuple[list[PastRun], dict[int, dict[str, PastResult]]]:
    """Past runs newest first, one every 10 minutes before the current one, with NODE's
    outcome in each."""
    past = [run(k + 1, 590 - 10 * k, **changes) for k in range(len(outcomes))]
    by_run = {
        r.key: {NODE: PastResult(r.key, NODE, "tests/e2e/t.py", 1, o, "", "")}
        for r, o in zip(past, outcomes, strict=True)
    }
    return past, by_run


def test_a_failure_after_a_pass_is_new() -> None:
    """Failing now, passed the last time its phase ran: new, since this run."""
    past, by_run = past_runs(["passed", "failed"])
    found = track_record(NODE, 1, "failed", current=current(), past=past, by_run=by_run)
    assert (found.status, found.failing_runs, found.passed_before) == ("new", 1, True)


def test_a_failure_the_store_never_saw_run_is_new_without_having_passed() -> None:
    """No earlier run of its phase, or none holding the test: new, and not said to have
    passed before (a first run, a new test)."""
    for outcomes in ([], ["skipped"]):
        past, by_run = past_runs(outcomes)
        if outcomes:
            by_run = {k: {} for k in by_run}  # its phase ran, this test was not in it
        found = track_record(NODE, 1, "failed", current=current(), past=past, by_run=by_run)
        assert (found.status, found.passed_before) == ("new", False)


def test_a_repeated_failure_is_known_since_its_first_run() -> None:
    """Failing in the last two runs too: known since the older of them, 3 runs, 20 min."""
    past, by_run = past_runs(["failed", "error", "passed"])
    found = track_record(NODE, 1, "failed", current=current(), past=past, by_run=by_run)
    assert found.status == "known"
    assert found.since is not None
    assert found.since.run_id == "r2"
    assert (found.failing_runs, round(found.failing_hours * 60)) == (3, 20)


def test_runs_where_its_phase_did_not_run_are_passed_over() -> None:
    """A run that stopped before the test's phase says nothing of it."""
    past, by_run = past_runs(["passed", "failed", "passed"])
    phase2 = [dataclasses.replace(r, phases_ran=(1, 2)) for r in past]
    phase2[0] = dataclasses.replace(phase2[0], phases_ran=(1,))  # phase 2 skipped there
    by_run2 = {
        k: {NODE: dataclasses.replace(v[NODE], phase=2)} for k, v in by_run.items() if k != 1
    }
    found = track_record(
        NODE, 2, "failed", current=current(phases_ran=(1, 2)), past=phase2, by_run=by_run2
    )
    assert (found.status, found.failing_runs) == ("known", 2)


def test_two_flips_over_enough_results_are_flaky_and_too_few_are_not() -> None:
    """Flaky needs at least min_results results and two flips; fewer results never are."""
    past, by_run = past_runs(["passed", "failed", "passed", "passed", "passed"])
    found = track_record(
        NODE, 1, "failed", current=current(), past=past, by_run=by_run, min_results=5
    )
    assert (found.flaky, found.flips, found.results) == (True, 3, 6)
    few, few_by_run = past_runs(["passed", "failed"])
    assert not track_record(
        NODE, 1, "failed", current=current(), past=few, by_run=few_by_run, min_results=5
    ).flaky


def test_both_outcomes_on_one_commit_and_revisions_are_flaky() -> None:
    """A re-run of the same build that passed where this one failed: flaky at once."""
    past, by_run = past_runs(["passed"], commit="c0", revisions={"backend": "backend-00000"})
    found = track_record(NODE, 1, "failed", current=current(), past=past, by_run=by_run)
    assert found.flaky
    assert not found.broken


def test_failing_in_every_run_since_a_point_is_broken() -> None:
    """Failing now and in the runs before, after passing: broken, not flaky."""
    past, by_run = past_runs(["failed", "failed", "passed", "passed", "passed"])
    found = track_record(NODE, 1, "failed", current=current(), past=past, by_run=by_run)
    assert (found.broken, found.flaky) == (True, False)


def test_outage_runs_never_make_a_test_flaky_or_broken() -> None:
    """Failures in outage runs (the current one included) are left out of the sample."""
    past, by_run = past_runs(["failed", "passed", "failed", "passed", "failed"], outage=True)
    found = track_record(NODE, 1, "failed", current=current(outage=True), past=past, by_run=by_run)
    assert (found.results, found.flaky, found.broken) == (0, False, False)
    assert found.status == "known"  # still known: outages do not hide a repeated failure


def test_streaks_give_the_duration_rules_their_hours_and_runs() -> None:
    """Redis down in this run and the 30 runs before (300 min): 5 h, and the P0 rule's fact
    fires; database above 10 s in three runs in a row: 3 runs."""
    past = [run(k + 1, 590 - 10 * k, redis_down=True) for k in range(30)]
    past.append(run(99, 0))
    config = parse({})
    now = current(redis_down=True)
    facts = duration_facts(config, now, past)
    assert round(facts["redis_down_h"].value, 1) == 5.0
    assert "Redis failing in every run since 2026-12-01 13:00 UTC (31 runs, 5 h)" in (
        facts["redis_down_h"].text
    )
    assert "agent_pipeline_failing_h" not in facts
    slow = [run(1, 590, database_min_ms=10_500.0), run(2, 580, database_min_ms=12_000.0)]
    slow.append(run(3, 570, database_min_ms=900.0))
    facts = duration_facts(config, current(database_min_ms=11_000.0), slow)
    assert facts["database_slow_runs"].value == 3.0
    assert streak(current(), past, lambda r: r.redis_down) is None


def test_success_rates_count_passed_failed_and_errors_only() -> None:
    """Skipped and not-run results say nothing of success; the runs are counted."""
    past, by_run = past_runs(["passed", "failed", "skipped", "not_run"])
    results = [r for rs in by_run.values() for r in rs.values()]
    rate = success_rates(past, results, lambda r: r.file)["tests/e2e/t.py"]
    assert (rate.passed, rate.total, rate.runs, rate.value) == (1, 2, 2, 0.5)


def test_a_pass_after_a_retry_is_flaky_at_once() -> None:
    """No history needed: a test that passed only on its retry is flaky, not clean."""
    found = track_record(NODE, 1, "passed", current=current(), past=[], by_run={}, retried=True)
    assert found.flaky
    assert found.status == "passing"


def test_the_duration_rules_escalate_to_p0_with_their_evidence() -> None:
    """The agent pipeline failing in every run for 2.5 h gives P0 through the brief's rule,
    named with when it began; 1.5 h does not."""
    from ci_tools.diagnose.escalation import escalate  # noqa: PLC0415

    config = parse({})
    for hours, level in ((2.5, "P0"), (1.5, "none")):
        runs = int(hours * 6)  # one every 10 minutes
        past = [run(k + 1, 590 - 10 * k, agent_pipeline_failed=True) for k in range(runs)]
        facts = duration_facts(config, current(agent_pipeline_failed=True), past)
        found = escalate(config, (), (), facts, store_answered=True)
        assert found.level == level, found
        assert found.notes == ()  # judged: a store answered
    (fired,) = escalate(
        config,
        (),
        (),
        duration_facts(
            config,
            current(agent_pipeline_failed=True),
            [run(k + 1, 590 - 10 * k, agent_pipeline_failed=True) for k in range(15)],
        ),
        store_answered=True,
    ).fired
    assert fired.rule == "agent pipeline down for hours"
    expected = "agent pipeline failing in every run since 2026-12-01 15:30 UTC (16 runs, 2.5 h)"
    assert fired.because == expected
    assert escalate(config, (), (), {}, store_answered=False).notes  # no store: said, not judged


def test_the_windows_rates_in_one_pass_are_the_rates_one_at_a_time() -> None:
    """``window_rates`` (one pass over the results counted) says what
    ``success_rates`` says per phase and per file and ``phase_trend`` says run by run, for
    runs with phases not run, skipped and not-run results, and results outside the window."""
    window = [run(3, 30, phases_ran=(1, 2)), run(2, 20, phases_ran=(1,)), run(1, 10)]
    outcomes = ["passed", "failed", "error", "skipped", "not_run", "passed"]
    results = [
        PastResult(key, f"t{n}", f"f{n % 2}.py", 1 + (n + key) % 2, outcomes[(n * key) % 6], "", "")
        for key in (1, 2, 3, 4)  # run 4 is outside the window
        for n in range(7)
    ]
    found = window_rates(window, tallies_of(results), [1, 2])
    assert found.phases == success_rates(window, results, lambda r: r.phase)
    assert found.files == success_rates(window, results, lambda r: r.file)
    pairs: dict[str, list[tuple[int, str]]] = {}
    for r in results:
        if r.run in {w.key for w in window}:
            pairs.setdefault(f"r{r.run}", []).append((r.phase, r.outcome))
    assert found.trend == phase_trend(list(reversed(window)), pairs, [1, 2])
