"""What the experiment's re-runs show for each failure (``ci_tools.experiment``), and its plan
on disk."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ci_tools.experiment import Plan, Reruns, compare, comparisons, finding
from ci_tools.records import Failure, TestRecord

NODE = "tests/e2e/test_x.py::test_y"


def record(outcome: str, nodeid: str = NODE, reason: str | None = None) -> TestRecord:
    """A record of ``nodeid`` with ``outcome`` (a failure when it failed)."""
    failure = Failure("AssertionError", "boom") if outcome in ("failed", "error") else None
    return TestRecord(
        nodeid, "tests/e2e/test_x.py", 1, 1, outcome, 0.1, "", "", failure=failure, reason=reason
    )


RAN = Plan("ran", chosen=(NODE,), baseline={"backend": "http://127.0.0.1:1"})


@pytest.mark.parametrize(
    ("again", "baseline", "shown"),
    [
        ("failed", "passed", "regression"),
        ("failed", "failed", "both"),
        ("error", "error", "both"),
        ("passed", "failed", "flaky"),
        ("passed", "passed", "flaky"),
        ("passed", None, "flaky"),
        ("failed", None, "no baseline"),
        (None, "passed", "no baseline"),
        ("failed", "skipped", "no baseline"),
    ],
)
def test_what_the_re_runs_show(again: str | None, baseline: str | None, shown: str) -> None:
    """Fails again on the candidate and passes on the baseline: a regression; fails on both:
    both; passes when run again: flaky, whatever the baseline did; a re-run that did not
    finish or was skipped leaves nothing to compare."""
    found = compare(
        record("failed"),
        RAN,
        record(again) if again else None,
        record(baseline) if baseline else None,
    )
    assert found.shown == shown


def test_a_re_run_cut_by_the_budget_says_so() -> None:
    """A failure whose baseline re-run never ended under a stopped experiment: no baseline,
    because the budget ran out."""
    stopped = Plan("ran", chosen=(NODE,), stopped="the experiment's budget of 60 s ran out")
    found = compare(record("failed"), stopped, record("failed"), None)
    assert (found.shown, found.reason) == ("no baseline", stopped.stopped)


def test_a_failure_not_chosen_has_no_baseline_with_why() -> None:
    """Over the limit: the plan's reason for it; an experiment that did not run: its own."""
    left = Plan("ran", chosen=(), left=((NODE, "over the experiment's limit of 8 re-runs"),))
    assert compare(record("failed"), left, None, None).reason == (
        "over the experiment's limit of 8 re-runs"
    )
    off = Plan("off", "the experiment is off for this run (--no-experiment)")
    assert compare(record("failed"), off, None, None).reason == off.reason


def test_comparisons_of_a_run_without_an_experiment_say_none_was_made() -> None:
    """No plan at all (a run before the experiment existed): every failure has no baseline
    because the run made no experiment."""
    found = comparisons([record("failed")], (), {}, {})
    assert found[NODE].shown == "no baseline"
    assert found[NODE].reason == "the run made no experiment"
    assert Reruns().comparisons([record("failed")])[NODE].shown == "no baseline"


def test_comparisons_read_each_failure_under_the_plan_that_chose_it() -> None:
    """Two plans (two phases): each failure is compared under the one that chose it."""
    other = "tests/e2e/test_z.py::test_w"
    plans = (RAN, Plan("ran", chosen=(other,)))
    found = comparisons(
        [record("failed"), record("failed", other)],
        plans,
        {NODE: record("failed"), other: record("passed", other)},
        {NODE: record("passed"), other: record("passed", other)},
    )
    assert {n: c.shown for n, c in found.items()} == {NODE: "regression", other: "flaky"}


def test_a_regression_of_a_kind_that_passed_when_run_again_is_intermittent() -> None:
    """Sessions dropped at random: of two failures of one kind, one passed when run again;
    the other, failing on the candidate and passing on the baseline by chance, is flaky too
    (with why), while a regression of another kind stands."""
    second, third = "t.py::b", "t.py::c"
    plan = Plan(
        "ran",
        chosen=(NODE, second, third),
        kinds={NODE: "ws_1011", second: "ws_1011", third: "handler_500"},
    )
    found = comparisons(
        [record("failed"), record("failed", second), record("failed", third)],
        (plan,),
        {NODE: record("failed"), second: record("passed", second), third: record("failed", third)},
        {NODE: record("passed"), second: record("passed", second), third: record("passed", third)},
    )
    assert {n: c.shown for n, c in found.items()} == {
        NODE: "flaky",
        second: "flaky",
        third: "regression",
    }
    assert found[NODE].reason == (
        "intermittent: 1 other failure(s) of its kind (ws_1011) passed when run again"
    )


def test_fails_on_both_is_the_environment_s_when_its_evidence_is() -> None:
    """Fails on both: environment for an infrastructure failure, pre-existing otherwise; the
    other findings are what the re-runs showed."""
    assert finding("both", environmental=True) == "environment"
    assert finding("both", environmental=False) == "pre-existing"
    assert finding("regression", environmental=True) == "regression"


def test_a_plan_reads_back_as_written() -> None:
    """``experiment.json`` round-trips, left-out failures and all."""
    plan = Plan(
        "ran",
        baseline={"backend": "http://127.0.0.1:5"},
        revisions={"backend": "backend-00001-abc"},
        source="context",
        chosen=(NODE,),
        left=(("a::b", "over the limit"),),
        duration_s=1.5,
        budget_s=60.0,
        kinds={NODE: "websocket_1011", "a::b": "websocket_1011"},
    )
    assert Plan.from_json(json.loads(plan.dumps())) == plan


def test_a_plan_of_an_unknown_status_is_refused() -> None:
    """A status the package does not know is a ValueError naming it (the reader turns it into
    a note)."""
    with pytest.raises(ValueError, match="unknown experiment status 'maybe'"):
        Plan.from_json({"status": "maybe"})


def test_a_re_run_of_a_hang_is_cut_at_three_times_its_last_pass() -> None:
    """A failure that waited 10 s where its last pass took 2 s: its re-runs are cut at 6 s;
    never below 5 s, never when a chosen test has no last pass, nor when none waited, nor
    above the phase's own timeout."""
    from ci_tools.runner.experiment import rerun_timeout  # noqa: PLC0415 - the runner's

    hung = dataclasses.replace(record("failed"), duration_s=10.0)
    quick = dataclasses.replace(record("failed", "t.py::q"), duration_s=0.2)
    assert rerun_timeout([hung], {NODE: 2.0}, 30.0) == 6.0
    assert rerun_timeout([hung], {NODE: 0.1}, 30.0) == 5.0
    assert rerun_timeout([hung, quick], {NODE: 2.0}, 30.0) == 0.0
    assert rerun_timeout([quick], {"t.py::q": 0.1}, 30.0) == 0.0
    assert rerun_timeout([hung], {NODE: 2.0}, 6.0) == 0.0


def test_a_re_run_of_a_hang_the_store_never_saw_pass_is_cut_by_this_runs_passes() -> None:
    """No last pass in the store (a first run): the slowest pass of this run in the hung
    test's own file measures a healthy answer (3 x 2.5 s), else the slowest of its phase;
    a phase with no pass at all keeps its own timeout."""
    from ci_tools.runner.experiment import rerun_timeout  # noqa: PLC0415 - the runner's

    hung = dataclasses.replace(record("failed", "a.py::hung"), duration_s=30.0)
    near = dataclasses.replace(record("passed", "a.py::near"), duration_s=2.5)
    far = dataclasses.replace(record("passed", "b.py::far"), duration_s=4.0)
    failed = dataclasses.replace(record("failed", "b.py::other"), duration_s=9.0)
    assert rerun_timeout([hung], {}, 60.0, [hung, near, far]) == 7.5
    assert rerun_timeout([hung], {}, 60.0, [hung, far, failed]) == 12.0
    assert rerun_timeout([hung], {"a.py::hung": 1.0}, 60.0, [hung, far]) == 5.0
    assert rerun_timeout([hung], {}, 60.0, [hung, failed]) == 0.0
