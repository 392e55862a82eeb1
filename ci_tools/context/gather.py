"""The context stage: for a run's failures, gather each service's deployment context.

Services are gathered in parallel, each within the stage's budget; whatever a source cannot
answer becomes "context unavailable: <reason>" for that service, never an exception, so the
run's verdict and exit code do not depend on this stage.

The experiment's re-runs of the failures (on the baseline and on the candidate) get their own
log lines and trace links too, passed or failed: a re-run that passed on the baseline is
evidence as much as one that failed. They widen the window; they are not failures of the run.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Sequence

from ci_tools.context import analysis
from ci_tools.context.model import Context, LogLine, ServiceContext, TestContext
from ci_tools.context.sources import LogQuery, LogSource, RevisionSource, SourceError
from ci_tools.experiment import Arm
from ci_tools.records import TestRecord, now

FAILED = ("failed", "error")
ENTRIES_PER_TEST = 50


@dataclasses.dataclass(frozen=True)
class Window:
    """The failure window: first failure minus ``before`` to last failure plus ``after``."""

    start: dt.datetime
    end: dt.datetime
    first_failure: dt.datetime


def failure_window(
    failures: Sequence[TestRecord],
    before_s: float,
    after_s: float,
    reruns: Sequence[TestRecord] = (),
) -> Window | None:
    """The window around the failures, widened to the ``reruns`` (the experiment's, after
    the gates), or None when nothing failed; the first failure is the run's own."""
    if not failures:
        return None
    starts = [analysis.parse_time(r.start) for r in failures]
    both = [*failures, *reruns]
    return Window(
        min(analysis.parse_time(r.start) for r in both) - dt.timedelta(seconds=before_s),
        max(analysis.parse_time(r.end) for r in both) + dt.timedelta(seconds=after_s),
        min(starts),
    )


@dataclasses.dataclass(frozen=True)
class Rerun:
    """One record of the experiment's re-runs: of a failure, on the ``arm``'s revision."""

    arm: Arm
    record: TestRecord


@dataclasses.dataclass(frozen=True)
class ContextRequest:
    """What to gather: the environment's services (role -> service name) and the records."""

    env: str
    services: dict[str, str]
    records: tuple[TestRecord, ...]
    before_s: float = 60.0
    after_s: float = 30.0
    budget_s: float = 30.0
    # The URLs the run used: a tag's URL among them names the candidate revision.
    urls: tuple[str, ...] = ()
    # The experiment's re-runs of the failures, on either revision, whatever their outcome.
    reruns: tuple[Rerun, ...] = ()


KEPT_REVISIONS = (
    50  # one page of the list; enough to reach the last healthy run's revision after a bad streak
)


def _service_context(
    role: str,
    name: str,
    revisions: RevisionSource,
    logs: LogSource,
    *,
    window: Window | None,
    trace_ids: tuple[str, ...],
    urls: tuple[str, ...] = (),
) -> tuple[ServiceContext, list[LogLine]]:
    context = ServiceContext(role=role, name=name, revision_url=revisions.revision_url(name))
    try:
        service = analysis.parse_service(revisions.service(name))
        by_creation = sorted(
            (analysis.parse_revision(r) for r in revisions.revisions(name)),
            key=lambda r: (
                analysis.parse_time(r.create_time)
                if r.create_time
                else dt.datetime.min.replace(tzinfo=dt.UTC)
            ),
        )
    except SourceError as exc:
        return dataclasses.replace(context, unavailable=f"context unavailable: {exc}"), []
    candidate_name = analysis.candidate_revision(service, urls)
    candidate = next((r for r in by_creation if r.name == candidate_name), None)
    found = analysis.baseline_revision(service, candidate_name)
    listed = next((r for r in by_creation if found and r.name == found[0]), None)
    # A baseline past the page of revisions read is still named, with its URL.
    baseline = listed or (analysis.unlisted_revision(found[0]) if found else None)
    # What changed: since the baseline when one serves (an earlier candidate never promoted
    # is not what the users get), else since the revision created before the candidate.
    previous = listed
    if previous is None and candidate is not None:
        earlier = [r for r in by_creation if r.create_time < candidate.create_time]
        previous = earlier[-1] if earlier else None
    age = None
    if candidate is not None and window is not None and candidate.create_time:
        age = (window.first_failure - analysis.parse_time(candidate.create_time)).total_seconds()
    context = dataclasses.replace(
        context,
        service=service,
        revision=candidate,
        revision_age_s=age,
        baseline=baseline,
        baseline_url=found[1] if found else "",
        baseline_percent=found[2] if found else 0,
        changes=analysis.diff(previous, candidate) if previous and candidate else None,
        deployed=tuple(analysis.deployed(r) for r in by_creation[-KEPT_REVISIONS:]),
    )
    if window is None:
        return context, []
    lines: list[LogLine] = []
    try:
        if trace_ids:
            traced = logs.entries(LogQuery(name, window.start, window.end, trace_ids))
            lines = [analysis.log_line(e, role) for e in traced]
        error_query = LogQuery(name, window.start, window.end, min_severity="ERROR")
        errors = analysis.from_current_revisions(logs.entries(error_query), by_creation, candidate)
        start, end = analysis.rfc3339(window.start), analysis.rfc3339(window.end)
        base = logs.filter_text(error_query)

        def link(sig: str) -> str:
            words = [w for w in sig.split() if "<" not in w and '"' not in w][:6]
            query = base + (f' AND "{" ".join(words)}"' if words else "")
            return logs.logs_url(query, start, end)

        context = dataclasses.replace(context, signatures=analysis.group_signatures(errors, link))
    except SourceError as exc:
        context = dataclasses.replace(context, logs_unavailable=f"logs unavailable: {exc}")
    return context, lines


def gather(request: ContextRequest, revisions: RevisionSource, logs: LogSource) -> Context:
    """The run's deployment context; never raises for a source's failure."""
    deadline = time.monotonic() + request.budget_s
    failures = [r for r in request.records if r.outcome in FAILED]
    # A re-run stopped before it ran has no trace and no log line (and maybe no time).
    reruns = [
        r
        for r in request.reruns
        if r.record.outcome != "not_run" and r.record.start and r.record.end
    ]
    window = failure_window(failures, request.before_s, request.after_s, [r.record for r in reruns])
    tests = [("", r) for r in failures] + [(r.arm, r.record) for r in reruns]
    trace_ids = tuple(dict.fromkeys(t for _, r in tests for t in r.trace_ids))
    services: dict[str, ServiceContext] = {}
    lines: list[LogLine] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(len(request.services), 1))
    futures = {
        pool.submit(
            _service_context,
            role,
            name,
            revisions,
            logs,
            window=window,
            trace_ids=trace_ids,
            urls=request.urls,
        ): role
        for role, name in request.services.items()
    }
    done, _ = concurrent.futures.wait(futures, timeout=max(deadline - time.monotonic(), 0))
    for future, role in futures.items():
        reason = f"the context budget of {request.budget_s:g} s ran out"
        if future in done:
            try:
                context, found = future.result()
            except Exception as exc:  # noqa: BLE001 - this stage never fails the run
                reason = f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            else:
                services[role] = context
                lines += found
                continue
        services[role] = ServiceContext(
            role=role, name=request.services[role], unavailable=f"context unavailable: {reason}"
        )
    pool.shutdown(wait=False, cancel_futures=True)  # a call stuck past its timeout is left
    requests: Counter[str] = Counter()
    requests.update(revisions.requests.snapshot())
    if id(logs) != id(revisions):  # the local source is both
        requests.update(logs.requests.snapshot())
    return Context(
        generated_at=now(),
        env=request.env,
        source=getattr(revisions, "kind", "cloud"),
        project=revisions.project,
        region=revisions.region,
        window_start=analysis.rfc3339(window.start) if window else None,
        window_end=analysis.rfc3339(window.end) if window else None,
        failures=len(failures),
        requests=dict(requests),
        services=tuple(services[role] for role in request.services),
        tests=_tests(tests, lines, logs),
    )


def _tests(
    tests: Sequence[tuple[str, TestRecord]], lines: Sequence[LogLine], logs: LogSource
) -> tuple[TestContext, ...]:
    """Each record's own log lines (by its trace ids) and trace links, with its arm ("" for
    the run's own failure)."""
    by_trace: dict[str, list[LogLine]] = {}
    for line in lines:
        if line.trace:
            by_trace.setdefault(line.trace.rsplit("/", 1)[-1], []).append(line)
    result = []
    for arm, record in tests:
        own = sorted(
            (line for t in record.trace_ids for line in by_trace.get(t, [])),
            key=lambda line: line.timestamp,
        )
        result.append(
            TestContext(
                nodeid=record.nodeid,
                phase=record.phase,
                trace_ids=record.trace_ids,
                trace_urls=tuple(logs.trace_url(t) for t in record.trace_ids),
                entries=tuple(own[:ENTRIES_PER_TEST]),
                arm=arm,
            )
        )
    return tuple(result)
