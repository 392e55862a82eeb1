"""The experiment in the diagnosis and the report: each failure's finding (regression,
environment, pre-existing, flaky, no baseline), its group's, the run's headline, the verdict's
outputs. Pure: records, re-runs and context built in memory, no servers."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

from hypothesis import example, given, settings
from rich.console import Console

from ci_tools import config as cfg
from ci_tools.context.model import Context, LogLine, ServiceContext, TestContext
from ci_tools.diagnose import APPLICATION, INFRASTRUCTURE, TEST, Diagnosis, diagnose, findings
from ci_tools.diagnose.classify import Classified, classify, group_signature
from ci_tools.diagnose.findings import headline
from ci_tools.experiment import Plan, Reruns
from ci_tools.phases import evaluate_gate
from ci_tools.records import Failure, PhaseRecords, TestRecord
from ci_tools.report.github import error_annotations
from ci_tools.report.markdown import LADDER, Meta, fit, render
from ci_tools.report.stage import run_verdict
from ci_tools.report.terminal import print_summary
from ci_tools.rundir.verdict import RunVerdict
from tests.fakes.inert import structure
from tests.fakes.payloads import Hostile, to_html, workflow_commands
from tests.fakes.records import make_record

CONFIG = cfg.load(Path(__file__).resolve().parents[2] / "pyproject.toml")
META = Meta("local", "r0", "c0", "reports/r0/worklog.md")
FILE = "tests/e2e/p1.py"
AGAIN_AT = "2026-12-06T05:19:16.100Z"  # both re-runs start at once
WRONG = "assert 'x' == 'y'"  # wrong content: the deployed code's (application)
REDIS = "Error 111 connecting to 127.0.0.1:6379"  # Redis down: the infrastructure's
REFUSED = "create thread: HTTP 422"  # refused as malformed, nothing changed: the suite's
REVISIONS = {"backend": "backend-00041-abc", "auth": "auth-00041-abc"}
LIMIT = "over the experiment's limit of 1 re-runs ([tool.ci_tools.experiment] max_failures)"


def failed(
    name: str, message: str = WRONG, kind: str = "AssertionError", **fields: object
) -> TestRecord:
    """A failure of phase 1 (P1) with ``message``."""
    values: dict[str, object] = {"priority": "P1", "file": FILE, "phase": 1}
    values.update(fields)
    return make_record(name, outcome="failed", failure=Failure(kind, message), **values)


def passed(name: str) -> TestRecord:
    """A passing test of phase 1."""
    return make_record(name, file=FILE, phase=1, priority="P1")


def rerun(first: TestRecord, outcome: str = "failed", message: str | None = None) -> TestRecord:
    """``first`` run again with ``outcome`` (its own failure, unless another ``message``)."""
    failure = None
    if outcome != "passed":
        failure = first.failure if message is None else Failure("ConnectionError", message)
    return dataclasses.replace(first, outcome=outcome, failure=failure, start=AGAIN_AT)


def ran(*chosen: TestRecord, left: tuple[TestRecord, ...] = ()) -> Plan:
    """A plan that re-ran ``chosen`` on both revisions and left ``left`` over the limit."""
    return Plan(
        "ran",
        revisions=dict(REVISIONS),
        chosen=tuple(r.nodeid for r in chosen),
        left=tuple((r.nodeid, LIMIT) for r in left),
    )


def experiment(plan: Plan, again: list[TestRecord], baseline: list[TestRecord]) -> Reruns:
    """The run's re-runs: one plan and each arm's records."""
    return Reruns((plan,), {r.nodeid: r for r in again}, {r.nodeid: r for r in baseline})


def judged(
    records: list[TestRecord], reruns: Reruns | None, context: Context | None = None
) -> Diagnosis:
    """The diagnosis of phase 1 with these records and re-runs (its gate judged from them)."""
    gates = [evaluate_gate(1, CONFIG.phases[1], CONFIG, PhaseRecords(tuple(records), (), 0))]
    return diagnose(CONFIG, gates, records, context, experiment=reruns)


def test_a_failure_passing_on_the_baseline_is_a_regression_of_this_deploy() -> None:
    """Fails again on the candidate, passes on the baseline in the same minute: a regression,
    counted, with the baseline's revision in its reason."""
    first = failed("wrong")
    found = judged(
        [passed("ok"), first],
        experiment(ran(first), [rerun(first)], [rerun(first, "passed")]),
    )
    assert found.finding_of == {first.nodeid: "regression"}
    assert (found.findings, found.regressions, found.not_compared) == ({"regression": 1}, 1, 0)
    group = found.groups[0]
    assert (group.finding, group.findings) == ("regression", {"regression": 1})
    assert group.finding_reason == (
        "passes on the baseline auth-00041-abc, backend-00041-abc in the same minute, fails "
        "again on the candidate"
    )
    assert [(r.arm, r.outcome) for r in group.reruns] == [
        ("candidate", "failed"),
        ("baseline", "passed"),
    ]
    assert found.causes[0].evidence[1] == f"regression: {group.finding_reason}"


def test_an_infrastructure_failure_on_both_is_the_environments() -> None:
    """Redis down for both revisions: the environment's, not this deploy's; no regression."""
    first = failed("redis", REDIS, "ConnectionError", areas=("redis",))
    found = judged([first], experiment(ran(first), [rerun(first)], [rerun(first)]))
    assert found.groups[0].failure_class == INFRASTRUCTURE
    assert found.finding_of == {first.nodeid: "environment"}
    assert (found.regressions, found.not_compared) == (0, 0)
    assert found.groups[0].finding_reason.endswith(": the environment's, not this deploy's")


def test_a_code_failure_on_both_was_there_before_the_deploy() -> None:
    """Wrong content from both revisions: pre-existing, its class kept (the application)."""
    first = failed("wrong")
    found = judged([first], experiment(ran(first), [rerun(first)], [rerun(first)]))
    assert found.groups[0].failure_class == APPLICATION
    assert found.finding_of == {first.nodeid: "pre-existing"}
    assert found.regressions == 0
    assert "it failed before this deploy" in found.groups[0].finding_reason


def test_a_failure_passing_when_run_again_is_flaky() -> None:
    """Passed when run again on the candidate: flaky, whatever the baseline did."""
    first = failed("wrong")
    found = judged(
        [first], experiment(ran(first), [rerun(first, "passed")], [rerun(first, "passed")])
    )
    assert found.findings == {"flaky": 1}
    assert found.groups[0].finding_reason == "passed when run again"
    assert (
        found.experiment_headline
        == "No regression of this deploy; 1 flaky (passed when run again)."
    )


def test_with_the_experiment_off_nothing_is_compared_and_the_headline_says_why() -> None:
    """An experiment that was off: every failure has no baseline, the plan's reason; the
    regressions are not known (None), never 0."""
    first = failed("wrong")
    off = Plan("off", "the experiment is off ([tool.ci_tools.experiment] enabled = false)")
    found = judged([first], Reruns((off,)))
    assert found.finding_of == {first.nodeid: "no baseline"}
    assert (found.regressions, found.not_compared) == (None, 1)
    assert found.experiment_headline == (
        "Not known whether this deploy caused the failures: the experiment is off "
        "([tool.ci_tools.experiment] enabled = false)."
    )
    assert found.groups[0].reruns == ()


def test_a_run_without_any_experiment_has_no_findings_and_unknown_regressions() -> None:
    """No plan at all (a run before the experiment, or of pytest alone): no finding and no
    headline; the regressions not known, its failures not compared."""
    found = judged([failed("wrong")], None)
    assert (found.finding_of, found.findings) == ({}, {})
    assert (found.regressions, found.not_compared) == (None, 1)
    assert found.experiment_reason == "the run made no experiment"
    assert (found.experiment_headline, found.groups[0].finding) == ("", "")


def test_a_failure_over_the_limit_with_no_compared_group_has_no_baseline() -> None:
    """Over the limit and alone in its group: no baseline, with the limit as its reason."""
    first = failed("wrong")
    other = failed("redis", REDIS, "ConnectionError", areas=("redis",))
    found = judged(
        [first, other],
        experiment(ran(first, left=(other,)), [rerun(first)], [rerun(first, "passed")]),
    )
    assert found.finding_of == {first.nodeid: "regression", other.nodeid: "no baseline"}
    assert (found.regressions, found.not_compared) == (1, 1)
    redis = next(g for g in found.groups if g.failure_class == INFRASTRUCTURE)
    assert (redis.finding, redis.finding_reason) == ("no baseline", LIMIT)
    assert found.experiment_headline == f"1 regression of this deploy; 1 not compared ({LIMIT})."


def test_a_failure_over_the_limit_takes_the_finding_of_its_group_inferred() -> None:
    """Two failures of one signature, the second over the limit: it takes the first's
    finding, said as inferred from it; the group shows the first's re-runs."""
    one = failed("one", start="2026-12-06T05:19:00Z")
    two = failed("two", start="2026-12-06T05:19:01Z")
    found = judged(
        [one, two],
        experiment(ran(one, left=(two,)), [rerun(one)], [rerun(one, "passed")]),
    )
    assert found.finding_of == {one.nodeid: "regression", two.nodeid: "regression"}
    assert (found.regressions, found.not_compared, found.inferred) == (2, 0, 1)
    [group] = found.groups
    assert (group.compared, group.inferred) == (one.nodeid, False)
    worklog = render(found, None, META)
    assert "2 regressions of this deploy; 1 of these inferred from a failure" in worklog
    classified = found.causes[0]
    assert classified.evidence[1].startswith("regression: passes on the baseline")


def test_an_inferred_reason_names_the_failure_run_on_both() -> None:
    """The failure not run again says whose run it takes: ``as <nodeid>, run on both``."""
    one = failed("one", start="2026-12-06T05:19:00Z")
    two = failed("two", start="2026-12-06T05:19:01Z")
    reruns = experiment(ran(one, left=(two,)), [rerun(one)], [rerun(one)])
    found = judged([one, two], reruns)
    assert found.finding_of[two.nodeid] == "pre-existing"
    # the group's representative is the one run on both; its own reason is the runs'
    assert found.groups[0].finding_reason.startswith("fails on the baseline")
    matched = [(r, classify(r, ())) for r in (one, two)]
    items = [Classified(r, m.rule, m.title, group_signature(r, (), m), ()) for r, m in matched]
    items = findings.judged(findings.compared(items, reruns), reruns.plans)
    inferred = next(i for i in items if i.record.nodeid == two.nodeid)
    assert (inferred.inferred_from, inferred.finding_reason) == (
        one.nodeid,
        f"as {one.nodeid}, run on both",
    )


def test_a_regression_the_rules_put_under_the_suite_is_the_deployed_codes() -> None:
    """A request refused as malformed reads as the suite's (suite broken); passing on the
    baseline, it is the deployed code's: application, the verdict unhealthy, the evidence
    the experiment's."""
    first = failed("refused", REFUSED)
    without = judged([first], None)
    assert (without.verdict, without.groups[0].failure_class) == ("suite_broken", TEST)
    found = judged([first], experiment(ran(first), [rerun(first)], [rerun(first, "passed")]))
    assert found.verdict == "unhealthy"
    assert found.counts["suite_broken"] == 0
    assert [(c.failure_class, c.part) for c in found.causes] == [(APPLICATION, "")]
    assert found.causes[0].title == "Contract broken (4xx)"
    assert found.causes[0].evidence[1].startswith("regression: passes on the baseline")


def test_a_setup_failing_on_this_deploy_only_is_the_applications() -> None:
    """A setup error no evidence explains is the test's; passing on the baseline, it is the
    deployed code's, its title said of this deploy."""
    first = dataclasses.replace(failed("setup", "something odd", "RuntimeError"), outcome="error")
    assert judged([first], None).groups[0].failure_class == TEST
    found = judged([first], experiment(ran(first), [rerun(first)], [rerun(first, "passed")]))
    assert (found.causes[0].title, found.causes[0].failure_class) == (
        "Fails on this deploy only: Test setup failed (fixture or collection)",
        APPLICATION,
    )


def test_the_suites_own_defects_have_no_finding() -> None:
    """A NameError in the suite's code is never run again: no finding, nothing to compare,
    regressions 0 when it is the only failure."""
    defect = failed("defect", "name 'x' is not defined", "NameError")
    defect = dataclasses.replace(
        defect, failure=dataclasses.replace(defect.failure or Failure("", ""), frame="test")
    )
    found = judged([defect], experiment(Plan("nothing to re-run"), [], []))
    assert (found.finding_of, found.regressions, found.not_compared) == ({}, 0, 0)
    assert found.experiment_headline == ""


def test_re_runs_failing_for_the_environment_compare_nothing_of_a_code_failure() -> None:
    """Wrong content first, then both re-runs refused by a dead Redis: the experiment saw the
    environment, not the code; no baseline, not pre-existing."""
    first = failed("wrong")
    reruns = experiment(ran(first), [rerun(first, message=REDIS)], [rerun(first, message=REDIS)])
    found = judged([first], reruns)
    assert found.finding_of == {first.nodeid: "no baseline"}
    assert (found.regressions, found.not_compared) == (None, 1)
    assert found.groups[0].finding_reason.startswith(
        "the baseline's re-run failed for the environment"
    )


def test_a_baseline_failing_for_the_environment_says_nothing_of_a_code_defect() -> None:
    """A 500 on the candidate again, a refused Redis on the baseline: not pre-existing (the
    baseline never got as far as the code), no baseline to compare with."""
    first = failed("wrong")
    reruns = experiment(ran(first), [rerun(first)], [rerun(first, message=REDIS)])
    found = judged([first], reruns)
    assert found.finding_of == {first.nodeid: "no baseline"}


def test_the_verdict_outputs_say_regressions_and_what_was_not_compared() -> None:
    """``regressions`` and ``not_compared`` in ``$GITHUB_OUTPUT`` (strings, "" for not
    known); in ``verdict.json`` a number (or null) and the findings; read back as written."""
    first = failed("wrong")
    other = failed("redis", REDIS, "ConnectionError", areas=("redis",))
    found = judged(
        [first, other],
        experiment(ran(first, left=(other,)), [rerun(first)], [rerun(first, "passed")]),
    )
    document = run_verdict(found, None)
    outputs = document.outputs()
    assert (outputs["regressions"], outputs["not_compared"]) == ("1", "1")
    written = document.as_json()
    assert (written["regressions"], written["not_compared"]) == (1, 1)
    assert written["findings"] == {"regression": 1, "no baseline": 1}
    assert RunVerdict.from_json(written) == document
    unknown = run_verdict(judged([first], None), None)
    assert (unknown.outputs()["regressions"], unknown.as_json()["regressions"]) == ("", None)
    assert RunVerdict.from_json(unknown.as_json()) == unknown


def test_a_healthy_run_made_nothing_worse() -> None:
    """No failure, nothing to compare: regressions 0, not_compared 0, no headline."""
    found = judged([passed("ok")], None)
    assert run_verdict(found, None).outputs()["regressions"] == "0"
    assert run_verdict(found, None).outputs()["not_compared"] == "0"
    assert found.experiment_headline == ""
    assert "regression" not in render(found, None, META)


def test_a_verdict_json_written_before_the_experiment_still_loads() -> None:
    """An old verdict.json (no regressions, not_compared, findings) reads as not known."""
    old = {
        "verdict": "unhealthy",
        "escalation": "none",
        "first_failed_phase": "1",
        "tests": "2",
        "passed": "1",
        "failed": "1",
        "skipped": "0",
        "not_run": "0",
        "top_cause": "x",
        "causes": [],
        "suite_broken": "0",
    }
    read = RunVerdict.from_json(old)
    assert (read.regressions, read.not_compared, read.findings) == (None, 0, {})
    assert read.outputs()["regressions"] == ""


def test_the_headline_counts_each_finding() -> None:
    """One sentence: regressions, those failing on the baseline too by kind, flaky, those not
    compared."""
    said = headline(
        {"regression": 2, "environment": 1, "pre-existing": 3, "flaky": 1, "no baseline": 2},
        2,
        0,
        "",
    )
    assert said == (
        "2 regressions of this deploy; 4 failing on the baseline too, not this deploy's "
        "(environment 1, pre-existing 3); 1 flaky (passed when run again); 2 not compared."
    )


def context_with_arms(first: TestRecord) -> Context:
    """The run's own entries of ``first`` (a 500 logged), and its re-runs' on each revision
    (an answer of Redis that the run's own failure must never read)."""
    own = (LogLine("2026-12-06T05:19:00Z", "ERROR", "backend", "POST /api/threads 500", "t", 500),)
    redis = (LogLine("2026-12-06T05:19:16Z", "ERROR", "backend", f"ConnectionError: {REDIS}", "a"),)
    service = ServiceContext("backend", "backend")
    return Context(
        "2026-12-06T05:20:00Z", "local", "local", "", "", None, None, 1, {}, (service,),
        (
            TestContext(first.nodeid, 1, ("t",), ("https://logs.example/own?trace=t",), own),
            TestContext(
                first.nodeid, 1, ("a",), ("https://logs.example/c?trace=a",), redis, "candidate"
            ),
            TestContext(
                first.nodeid, 1, ("b",), ("https://logs.example/b?trace=b",), redis, "baseline"
            ),
        ),
    )  # fmt: skip


def test_the_runs_own_failure_reads_only_its_own_entries() -> None:
    """The re-runs' log lines (arm candidate, baseline) never classify the run's failure nor
    give its group's trace; each re-run shows its own arm's trace."""
    first = failed("wrong")
    context = context_with_arms(first)
    found = judged(
        [first],
        experiment(ran(first), [rerun(first)], [rerun(first, "passed")]),
        context,
    )
    group = found.groups[0]
    assert group.failure_class == APPLICATION
    assert [line.message for line in group.logs] == ["POST /api/threads 500"]
    assert group.trace_urls == ("https://logs.example/own?trace=t",)
    assert [r.trace_url for r in group.reruns] == [
        "https://logs.example/c?trace=a",
        "https://logs.example/b?trace=b",
    ]


def test_the_worklog_shows_the_headline_and_each_groups_outcomes_with_trace_links() -> None:
    """The summary opens with the headline; the group says its finding and both outcomes,
    each a link to its trace; the title says the regressions. Collapsed rungs keep the
    outcomes but drop their links."""
    first = failed("wrong")
    found = judged(
        [first],
        experiment(ran(first), [rerun(first)], [rerun(first, "passed")]),
        context_with_arms(first),
    )
    worklog = render(found, None, META)
    assert "Deploy unhealthy — local · 1 regression of this deploy" in worklog.splitlines()[0]
    assert "**Compared with the baseline:** 1 regression of this deploy." in worklog
    assert "<b>application</b> · regression · 1 test(s)" in worklog
    assert (
        "- finding: **regression**: passes on the baseline backend-00041-abc in the same "
        "minute, fails again on the candidate"
    ) in worklog
    assert (
        "- on the candidate, run again: **failed** `AssertionError: assert 'x' == 'y'` · "
        "trace [trace](https://logs.example/c?trace=a)"
    ) in worklog
    assert (
        "- on the baseline backend-00041-abc: **passed** · trace [trace](https://logs.example/b?trace=b)"
        in worklog
    )
    collapsed = render(found, None, META, LADDER[1])
    assert "- on the baseline backend-00041-abc: **passed**\n" in collapsed
    assert "logs.example/b" not in collapsed
    summary, rung = fit(found, None, META, limit=len(collapsed.encode()))
    assert (summary, rung) == (collapsed, 1)


def test_a_re_run_without_a_trace_shows_its_outcome_without_a_link() -> None:
    """No context entry of an arm: its outcome is shown, no link."""
    first = failed("wrong")
    found = judged([first], experiment(ran(first), [rerun(first)], [rerun(first, "passed")]))
    worklog = render(found, None, META)
    assert "- on the baseline auth-00041-abc, backend-00041-abc: **passed**\n" in worklog


def test_the_terminal_and_the_annotations_say_the_finding() -> None:
    """The terminal says the headline in one line; the annotation's title the finding."""
    first = failed("wrong")
    found = judged([first], experiment(ran(first), [rerun(first)], [rerun(first, "passed")]))
    out = io.StringIO()
    print_summary(found, "worklog.md", Console(file=out, width=200))
    assert "  experiment: 1 regression of this deploy.\n" in out.getvalue()
    assert "(application%2C regression)::" in error_annotations(found)[0]


def hostile_run(hostile: Hostile) -> tuple[Diagnosis, Context]:
    """A run whose failure's id, messages (first and re-runs), baseline revision, plan reason
    and trace URLs are hostile."""
    one = failed(f"t[{hostile.test_id}]", hostile.message, file=hostile.file)
    two = failed(
        f"u[{hostile.title}]", hostile.message, file=hostile.file, start="2026-01-01T00:00:09Z"
    )
    three = failed("v", hostile.log, file=hostile.file)
    plan = Plan(
        "ran",
        revisions={hostile.service: hostile.title, "backend": hostile.evidence},
        chosen=(one.nodeid,),
        left=((two.nodeid, hostile.evidence), (three.nodeid, hostile.message)),
    )
    reruns = experiment(plan, [rerun(one, message=hostile.log)], [rerun(one, "passed")])
    tests = tuple(
        TestContext(one.nodeid, 1, ("t",), (hostile.url,), (), arm)
        for arm in ("", "candidate", "baseline")
    )
    context = Context(
        "2026-12-06T05:20:00Z", "local", "local", "", "", None, None, 1, {},
        (ServiceContext(hostile.service, hostile.service),), tests,
    )  # fmt: skip
    return judged([one, two, three], reruns, context), context


@settings(max_examples=40)
@given(Hostile.strategy())
@example(
    Hostile(
        message="x ::add-mask::secret </details>",
        test_id="<details><summary>`x`</summary>\n# Deploy healthy",
        log="GET /##[stop-commands]tok answered 500",
        title="title\r# Deploy healthy",
        evidence="``` </details>\r\r## Summary",
        url="javascript:alert(1)",
    )
)
def test_hostile_text_in_the_experiment_stays_inert(hostile: Hostile) -> None:
    """Every rung keeps the blocks and headings it built, whatever the experiment quotes;
    the terminal prints no workflow command."""
    found, context = hostile_run(hostile)
    for rung in LADDER:
        worklog = render(found, context, META, rung)
        opened, closed, headings = structure(worklog)
        groups = len(found.groups[: rung.max_groups])
        assert (opened, closed) == (groups, groups)
        assert [level for level, _ in headings].count("1") == 1
        assert {level for level, _ in headings} <= {"1", "2"}
        assert not re.search(r"href=\"javascript:", to_html(worklog))
    out = io.StringIO()
    print_summary(found, "worklog.md", Console(file=out, width=80))
    assert workflow_commands(out.getvalue()) == []


def test_a_failure_over_the_limit_takes_the_finding_of_the_first_of_its_kind() -> None:
    """Two failures of one kind (the runner re-ran the first) with different messages, so
    different signatures: the second takes the first's regression, said as inferred."""
    first, second = failed("one", "HTTP 503 on /a"), failed("two", "create thread: HTTP 503")
    plan = dataclasses.replace(
        ran(first, left=(second,)),
        kinds={first.nodeid: "unavailable", second.nodeid: "unavailable"},
    )
    found = judged([first, second], experiment(plan, [rerun(first)], [rerun(first, "passed")]))
    assert found.finding_of == {first.nodeid: "regression", second.nodeid: "regression"}
    assert found.inferred == 1
