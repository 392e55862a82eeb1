"""The experiment's re-runs in the deployment context: each re-run record, on the baseline or
on the candidate, gets its own trace links and log lines, marked with its arm; the run's own
failures stay what ``failures`` counts. Read by the local source from a state folder the
reference platform's documents and a hand-written service log fill."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from ci_tools.context import ContextRequest, Rerun, gather
from ci_tools.context.gather import failure_window
from ci_tools.context.local import LocalSource
from ci_tools.context.model import Context
from ci_tools.context.sources import LogQuery
from ci_tools.context.stage import summary
from ci_tools.records import TestRecord
from reference_platform import revisions
from tests.fakes.records import make_record

BASELINE, CANDIDATE = "backend-00001-aaa", "backend-00002-bbb"
FIRST, BASE, AGAIN, LATE = "a" * 32, "b" * 32, "c" * 32, "d" * 32


def at(second: int) -> str:
    """A moment of the run, ``second`` seconds after 10:00:00."""
    return f"2026-12-06T10:00:{second:02d}.000Z"


def line(second: int, revision: str, trace: str, status: int) -> str:
    """A request line of the backend as the platform logs it (the revision in its
    serviceContext, as Cloud Run's agent labels it)."""
    return json.dumps(
        {
            "severity": "ERROR" if status >= 500 else "INFO",
            "message": f"POST /api/threads {status}",
            "timestamp": at(second),
            "logging.googleapis.com/trace": f"projects/local/traces/{trace}",
            "httpRequest": {"requestMethod": "POST", "status": status},
            "serviceContext": {"service": "backend", "version": revision},
        },
        separators=(",", ":"),  # compact, as the platform writes it
    )


def platform(state_dir: Path, *lines: str) -> LocalSource:
    """A backend of two revisions, the baseline and the candidate, logging ``lines`` to the
    one service log both revisions write."""
    for name in (BASELINE, CANDIDATE):
        revisions.create_revision(state_dir, "backend", name, [], 1)
        revisions.settle_revision(state_dir, "backend", name, "http://127.0.0.1:1", ready=True)
    (state_dir / "logs").mkdir()
    (state_dir / "logs" / "backend.jsonl").write_text("".join(f"{x}\n" for x in lines))
    return LocalSource(state_dir)


def record(outcome: str, trace: str, start: int, end: int) -> TestRecord:
    """A record of the one test, with one trace, between two moments."""
    trace_ids = (trace,) if trace else ()
    return make_record(
        "test_thread", outcome=outcome, trace_ids=trace_ids, start=at(start), end=at(end)
    )


def context(state_dir: Path, *reruns: Rerun) -> Context:
    """The context of the test's failure at 10:00:01 and the given re-runs, gathered within
    10 s before and 5 s after."""
    source = platform(
        state_dir,
        line(1, CANDIDATE, FIRST, 500),
        line(11, BASELINE, BASE, 201),
        line(11, CANDIDATE, AGAIN, 500),
        line(40, BASELINE, LATE, 201),
    )
    request = ContextRequest(
        env="local",
        services={"backend": "backend"},
        records=(record("failed", FIRST, 1, 2),),
        before_s=10,
        after_s=5,
        reruns=reruns,
    )
    return gather(request, source, source)


def test_each_rerun_has_its_arm_its_trace_links_and_its_own_log_lines(tmp_path: Path) -> None:
    """The failure first (arm ""), then its re-run on the baseline and on the candidate: each
    with its trace URL and the lines of its own trace, the baseline's written by the baseline
    revision (a 201), the candidate's by the candidate (a 500); one failure counted."""
    found = context(
        tmp_path,
        Rerun("baseline", record("passed", BASE, 10, 12)),
        Rerun("candidate", record("failed", AGAIN, 10, 12)),
    )
    assert found.failures == 1
    assert [(t.arm, t.trace_ids) for t in found.tests] == [
        ("", (FIRST,)),
        ("baseline", (BASE,)),
        ("candidate", (AGAIN,)),
    ]
    own, baseline, again = found.tests
    assert baseline.trace_urls == (LocalSource(tmp_path).trace_url(BASE),)
    assert [(e.revision, e.status) for e in own.entries] == [(CANDIDATE, 500)]
    assert [(e.revision, e.status) for e in baseline.entries] == [(BASELINE, 201)]
    assert [(e.revision, e.status) for e in again.entries] == [(CANDIDATE, 500)]


def test_the_reruns_widen_the_window_but_not_the_first_failure() -> None:
    """Re-runs after the gates stretch the window's end to theirs; its start and the first
    failure (what a revision's age is measured to) stay the run's own."""
    failure = record("failed", FIRST, 1, 2)
    window = failure_window([failure], 10, 5, [record("passed", BASE, 10, 30)])
    assert window is not None
    moment = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)
    assert window.first_failure == moment + dt.timedelta(seconds=1)
    assert (window.start, window.end) == (
        moment - dt.timedelta(seconds=9),
        moment + dt.timedelta(seconds=35),
    )
    assert failure_window([], 10, 5, [record("passed", BASE, 10, 30)]) is None


def test_a_rerun_outside_the_failures_window_still_finds_its_lines(tmp_path: Path) -> None:
    """A re-run 40 s after the failure (past its window) has its log lines all the same: the
    window is widened to it."""
    found = context(tmp_path, Rerun("baseline", record("passed", LATE, 39, 41)))
    assert found.window_end == at(46)
    late = found.tests[-1]
    assert (late.arm, [e.revision for e in late.entries]) == ("baseline", [BASELINE])


def test_a_rerun_that_never_ran_has_no_entry(tmp_path: Path) -> None:
    """A re-run stopped before it started (not run, no time, no trace) adds nothing."""
    stopped = dataclasses.replace(record("not_run", "", 0, 0), start="", end="")
    found = context(tmp_path, Rerun("candidate", stopped))
    assert [t.arm for t in found.tests] == [""]


def test_the_summary_counts_the_reruns_by_arm(tmp_path: Path) -> None:
    """One line says how many re-runs were looked up, on which revision, and how many had log
    lines; none without re-runs."""
    found = context(
        tmp_path,
        Rerun("baseline", record("passed", BASE, 10, 12)),
        Rerun("candidate", record("failed", "e" * 32, 10, 12)),
    )
    assert (
        "  experiment: 2 re-run(s) looked up by trace id (1 on the baseline, 1 on the "
        "candidate), 1 with log lines"
    ) in summary(found)
    alone = dataclasses.replace(found, tests=found.tests[:1])
    assert not any("experiment" in text for text in summary(alone))


def test_a_context_json_written_before_arms_still_loads(tmp_path: Path) -> None:
    """A context.json without ``arm`` on its tests or ``revision`` on their lines reads as
    the run's own failures, their lines of no named revision."""
    written = json.loads(json.dumps(context(tmp_path).as_json()))
    for test in written["tests"]:
        del test["arm"]
        for entry in test["entries"]:
            del entry["revision"]
    old = Context.from_json(written)
    assert [t.arm for t in old.tests] == [""]
    assert [e.revision for e in old.tests[0].entries] == [""]


def test_the_local_log_is_read_from_the_window_a_query_asks_and_again_for_an_earlier_one(
    tmp_path: Path,
) -> None:
    """The platform's log holds every kept run's lines; it is parsed once from the first
    query's start, and again only for a query from earlier, which then finds the older lines
    (wherever they are in the file: its writers append out of time order). A line in another
    JSON layout is parsed as it comes."""
    source = platform(
        tmp_path,
        line(1, BASELINE, FIRST, 500),  # 10:00:01
        line(59, CANDIDATE, BASE, 500),  # 10:00:59
        json.dumps({"timestamp": "2026-12-06T11:00:50.000Z", "severity": "ERROR"}),  # spaced
        line(40, CANDIDATE, AGAIN, 500),  # 10:00:40, appended late
    )
    end = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)

    def errors(hour: int, minute: int, second: int) -> list[str]:
        since = dt.datetime(2026, 12, 6, hour, minute, second, tzinfo=dt.UTC)
        query = LogQuery("backend", since, end, min_severity="ERROR")
        return [e["timestamp"] for e in source.entries(query)]

    assert errors(11, 0, 0) == ["2026-12-06T11:00:50.000Z"]
    assert errors(11, 0, 30) == ["2026-12-06T11:00:50.000Z"]
    assert source.requests.snapshot()["local_files"] == 1  # read once for both
    assert errors(10, 0, 40) == [at(59), "2026-12-06T11:00:50.000Z", at(40)]
    assert errors(10, 0, 0) == [at(1), at(59), "2026-12-06T11:00:50.000Z", at(40)]
    assert source.requests.snapshot()["local_files"] == 3
