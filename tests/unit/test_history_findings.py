"""History reads the experiment's finding of each failure, pure: a regression is new to this
deploy whatever the store says, a failure on the baseline too is failing before this deploy,
a finding of flaky counts toward flakiness; the view's counts and lines say so."""

from __future__ import annotations

import dataclasses

from ci_tools.config import parse
from ci_tools.diagnose import Diagnosis, diagnose
from ci_tools.experiment import FINDINGS
from ci_tools.history.analysis import FLAKY, ON_BASELINE_TOO, REGRESSION, track_record
from ci_tools.history.model import PastResult, PastRun
from ci_tools.records import Failure, TestRecord
from ci_tools.report.lookback import LookbackView, build_view, result_rows
from tests.fakes.records import make_record
from tests.unit.test_history import NODE, current, past_runs, run

CONFIG = parse({})
ENV = "t.py::env"  # fails on Redis
CODE = "t.py::code"  # fails an assertion


def failed(nodeid: str, outcome: str = "failed") -> PastResult:
    """A stored result of ``nodeid`` (its run key 0: the caller replaces it)."""
    return PastResult(0, nodeid, "t.py", 1, outcome, "", "")


def with_finding(
    by_run: dict[int, dict[str, PastResult]], key: int, finding: str
) -> dict[int, dict[str, PastResult]]:
    """``by_run`` with NODE's result in run ``key`` given the experiment's ``finding``."""
    changed = dict(by_run)
    changed[key] = {NODE: dataclasses.replace(by_run[key][NODE], finding=finding)}
    return changed


def test_history_reads_the_experiments_own_words() -> None:
    """The findings history reads are words of ci_tools.experiment.FINDINGS (history may not
    import that module: same floor)."""
    assert {REGRESSION, FLAKY, *ON_BASELINE_TOO} <= set(FINDINGS)


def test_a_regression_is_new_even_when_the_store_knows_it_failing() -> None:
    """Failing in the last two runs too, but the experiment found it failing on the candidate
    only: new to this deploy, the store's streak kept for the line."""
    past, by_run = past_runs(["failed", "failed", "passed"])
    found = track_record(
        NODE, 1, "failed", current=current(), past=past, by_run=by_run, finding="regression"
    )
    assert (found.status, found.failing_runs, found.finding) == ("new", 3, "regression")
    assert found.since is not None
    assert found.since.run_id == "r2"


def test_a_failure_on_the_baseline_too_that_the_store_never_saw_fail_is_failing_before() -> None:
    """A first run, or a test that passed the last time its phase ran: found failing on the
    baseline too (environment, pre-existing), it is failing before this deploy, not new."""
    for outcomes, passed in (([], False), (["passed", "failed"], True)):
        past, by_run = past_runs(outcomes)
        for finding in ON_BASELINE_TOO:
            found = track_record(
                NODE, 1, "failed", current=current(), past=past, by_run=by_run, finding=finding
            )
            assert (found.status, found.passed_before) == ("failing before", passed)
            assert found.on_baseline_too


def test_a_failure_on_the_baseline_too_that_the_store_knows_stays_known() -> None:
    """Known to the store and failing on the baseline too: known, with its streak."""
    past, by_run = past_runs(["failed", "passed"])
    found = track_record(
        NODE, 1, "failed", current=current(), past=past, by_run=by_run, finding="environment"
    )
    assert (found.status, found.failing_runs, found.on_baseline_too) == ("known", 2, True)


def test_no_baseline_and_flaky_findings_leave_new_and_known_to_the_store() -> None:
    """A finding that compared nothing (no baseline) or found it flaky: the store decides."""
    past, by_run = past_runs(["passed"])
    for finding in ("no baseline", "flaky", None):
        found = track_record(
            NODE, 1, "failed", current=current(), past=past, by_run=by_run, finding=finding
        )
        assert found.status == "new"


def test_a_past_finding_of_flaky_makes_the_test_flaky_not_broken() -> None:
    """Failing in every run since a point is broken, unless the experiment found one of those
    failures flaky (it passed on the same candidate): then flaky."""
    past, by_run = past_runs(["failed", "failed", "passed"])
    plain = track_record(NODE, 1, "failed", current=current(), past=past, by_run=by_run)
    assert (plain.broken, plain.flaky) == (True, False)
    found = track_record(
        NODE, 1, "failed", current=current(), past=past, by_run=with_finding(by_run, 2, "flaky")
    )
    assert (found.broken, found.flaky, found.found_flaky, found.flips) == (False, True, 1, 1)


def test_a_finding_of_flaky_now_is_flaky_at_once() -> None:
    """No history needed: the current failure found flaky makes the test flaky."""
    found = track_record(NODE, 1, "failed", current=current(), past=[], by_run={}, finding="flaky")
    assert (found.flaky, found.found_flaky) == (True, 1)


def test_flaky_findings_in_outages_or_past_the_last_results_do_not_count() -> None:
    """Outage runs are left out of flaky vs broken, findings included; so are results older
    than the last N looked at."""
    past, by_run = past_runs(["failed", "failed"])
    past = [past[0], dataclasses.replace(past[1], outage=True)]
    found = track_record(
        NODE, 1, "failed", current=current(), past=past, by_run=with_finding(by_run, 2, "flaky")
    )
    assert (found.flaky, found.found_flaky) == (False, 0)
    past, by_run = past_runs(["failed", "failed", "failed"])
    found = track_record(
        NODE,
        1,
        "failed",
        current=current(),
        past=past,
        by_run=with_finding(by_run, 3, "flaky"),
        last=3,
    )
    assert (found.flaky, found.broken) == (False, True)


def records() -> list[TestRecord]:
    """The current run: ENV fails on Redis, CODE on an assertion, one test passes."""
    return [
        make_record("env", outcome="failed", failure=Failure("ConnectionError", "redis down")),
        make_record("code", outcome="failed", failure=Failure("AssertionError", "1 == 2")),
        make_record("ok"),
    ]


def view(
    finding_of: dict[str, str], past: list[PastRun], past_results: list[PastResult]
) -> tuple[LookbackView, Diagnosis]:
    """The view of the current run (``records``) with the experiment's findings, and the
    diagnosis it read."""
    diagnosis = diagnose(CONFIG, [], records(), None)
    diagnosis = dataclasses.replace(diagnosis, finding_of=finding_of)
    found = build_view(
        CONFIG,
        current=current(),
        records=records(),
        diagnosis=diagnosis,
        past=past,
        past_results=past_results,
    )
    return found, diagnosis


def line(found: LookbackView, diagnosis: Diagnosis, nodeid: str) -> str:
    """The history line of the failure group holding ``nodeid``."""
    (group,) = [g for g in diagnosis.groups if nodeid in g.tests]
    return found.groups[group.signature]


def test_a_first_run_tells_failing_before_from_new() -> None:
    """No earlier run: the failure on the baseline too is failing before this deploy (known,
    counted in failing_before), the regression new; the summary and lines say which."""
    found, diagnosis = view({ENV: "environment", CODE: "regression"}, [], [])
    assert (found.new_failures, found.known_failures, found.failing_before) == (1, 1, 1)
    assert line(found, diagnosis, ENV) == (
        "failing before this deploy (1 of 1 tests fail on the baseline revision too: "
        "environment; not failing the last time their phase ran in this store)"
    )
    assert line(found, diagnosis, CODE) == (
        "new (1 of 1 tests fail on the candidate only, not on the baseline revision)"
    )
    assert found.summary == (
        "1 of 2 failing test(s) new; 1 failing before this deploy (they fail on the baseline "
        "revision too)"
    )


def test_regressions_alone_are_all_new_and_said_so() -> None:
    """Every failure failing on the candidate only: all new, the summary says why."""
    found, _ = view({ENV: "regression", CODE: "regression"}, [], [])
    assert (found.new_failures, found.known_failures, found.failing_before) == (2, 0, 0)
    assert found.summary == (
        "all 2 failing test(s) new: they fail on the candidate only, not on the baseline revision"
    )


def test_without_the_experiment_new_and_known_are_the_stores() -> None:
    """No findings: both failures new to a first run, nothing failing before."""
    found, _ = view({}, [], [])
    assert (found.new_failures, found.known_failures, found.failing_before) == (2, 0, 0)
    assert found.summary == "all 2 failing test(s) new: no earlier run of them in this store"


def stored_failing(nodeids: list[str], runs: int) -> tuple[list[PastRun], list[PastResult]]:
    """``runs`` earlier runs, newest first, each with ``nodeids`` failing, and a healthy
    run before them."""
    past = [run(k + 1, 590 - 10 * k) for k in range(runs + 1)]
    results = [
        dataclasses.replace(failed(n, "failed" if r.key <= runs else "passed"), run=r.key)
        for r in past
        for n in nodeids
    ]
    return past, results


def test_a_regression_the_store_knew_is_new_with_the_streak_it_saw() -> None:
    """CODE failing in the two runs before, found failing on the candidate only: new (not
    known), its line says the streak the store saw; ENV, failing since too, stays known."""
    past, results = stored_failing([CODE, ENV], 2)
    found, diagnosis = view({CODE: "regression"}, past, results)
    assert (found.new_failures, found.known_failures, found.failing_before) == (1, 1, 0)
    assert line(found, diagnosis, CODE).startswith(
        "new (1 of 1 tests fail on the candidate only, not on the baseline revision; "
        "known to the store: failing in every run since 2026-12-01 17:40 UTC (3 runs, 20 min)"
    )
    assert line(found, diagnosis, ENV).startswith("known: failing in every run since")
    assert found.summary.startswith("1 of 2 failing test(s) new; 1 known, the oldest failing")


def test_a_known_failure_on_the_baseline_too_says_both() -> None:
    """ENV failing in the run before and on the baseline too: known since then, its line
    adds the baseline; counted in failing_before; CODE, unseen before, new."""
    past, results = stored_failing([ENV], 1)
    found, diagnosis = view({ENV: "environment"}, past, results)
    assert (found.new_failures, found.known_failures, found.failing_before) == (1, 1, 1)
    assert line(found, diagnosis, ENV).startswith("known: failing in every run since")
    assert line(found, diagnosis, ENV).endswith("; 1 of 1 tests fail on the baseline revision too")
    assert found.summary.startswith(
        "1 of 2 failing test(s) new; 1 failing before this deploy (they fail on the baseline "
        "revision too), the oldest failing in every run since"
    )


def test_results_keep_each_failures_finding() -> None:
    """result_rows fills each failure's finding from the diagnosis; a pass has none."""
    diagnosis = dataclasses.replace(
        diagnose(CONFIG, [], records(), None), finding_of={ENV: "pre-existing"}
    )
    rows = {row.nodeid: row.finding for row in result_rows(diagnosis, records())}
    assert rows == {ENV: "pre-existing", CODE: None, "t.py::ok": None}
