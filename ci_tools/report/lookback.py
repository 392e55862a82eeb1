"""The report's look back over the run store: what this run adds to it, and what the runs
before it say of this one (new vs known failures, flaky vs broken tests, how long a part has
been failing, historical success), shaped for the worklog and the escalation rules. Where the
run made the experiment, its finding of each failure is stored with the failure and has the
last word on what is new to this deploy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ci_tools.config import Config
from ci_tools.context.model import Context
from ci_tools.diagnose import Diagnosis
from ci_tools.diagnose.escalation import Fact, run_facts
from ci_tools.history.analysis import (
    REGRESSION,
    PartState,
    Rate,
    Streak,
    TrackRecord,
    TrendPoint,
    expected_state,
    rates_of,
    streak,
    tallies_of,
    track_record,
    window_rates,
)
from ci_tools.history.model import PastResult, PastRun, ResultRow, RunRow, Tally
from ci_tools.history.store import Store
from ci_tools.phases import GateResult
from ci_tools.records import TestRecord
from ci_tools.rules import INFRASTRUCTURE
from ci_tools.wording import streak as streak_text

__all__ = ["LookbackView", "build_view", "gather"]

LOOK_BACK = 500  # runs read for the duration rules (a part down for hours, run after run)
NAMED_AT_MOST = 500  # tests not passing a report names to the store (more: it reads all)


def run_row(
    config: Config,
    diagnosis: Diagnosis,
    records: Sequence[TestRecord],
    context: Context | None,
    *,
    env: str,
    run_id: str,
    attempt: int,
    commit: str,
) -> RunRow | None:
    """The run as the store keeps it; None when no phase ran (nothing to keep)."""
    ran = [g for g in diagnosis.gates if g.status in ("met", "not_met")]
    started = run_started(diagnosis.gates, records)
    if started is None:
        return None
    phase1 = next((g for g in diagnosis.gates if g.phase == 1), None)
    failures = diagnosis.counts["failed"] + diagnosis.counts["errors"]
    outage = (phase1 is not None and phase1.status == "not_met") or any(
        c.root and c.failure_class == INFRASTRUCTURE and c.tests * 2 > failures
        for c in diagnosis.causes
    )
    redis = next((c for c in diagnosis.criteria if c.name == "redis_latency_ms"), None)
    database = [
        m.value
        for r in records
        for m in r.measurements
        if m.criterion == "database_latency_ms" and m.bound != "unreachable"
    ]
    facts = run_facts(records, None if phase1 is None else phase1.met)
    return RunRow(
        run_id=run_id,
        attempt=attempt,
        env=env,
        commit=commit,
        revisions={
            s.role: s.revision.name for s in (context.services if context else ()) if s.revision
        },
        started=started,
        finished=max(r.end for r in records) if records else started,
        verdict=diagnosis.verdict,
        escalation=diagnosis.escalation.level,
        first_failed_phase=diagnosis.first_failed_phase,
        phases_ran=tuple(g.phase for g in ran),
        outage=outage,
        agent_pipeline_failed="agent_pipeline_failed" in facts,
        redis_down=(redis is not None and redis.bound == "unreachable")
        or any(c.part == "Redis" for c in diagnosis.causes),
        database_min_ms=min(database) if database else None,
    )


def result_rows(diagnosis: Diagnosis, records: Sequence[TestRecord]) -> list[ResultRow]:
    """Every test's result with the signature and cause its group was put under, and the
    experiment's finding of it when the run made one."""
    grouped = {t: g for g in diagnosis.groups for t in g.tests}
    rows = []
    for r in records:
        group = grouped.get(r.nodeid)
        rows.append(
            ResultRow(
                nodeid=r.nodeid,
                file=r.file,
                phase=r.phase,
                priority=r.priority,
                areas=r.areas,
                outcome=r.outcome,
                duration_s=r.duration_s,
                retries=r.retries,
                signature=group.signature if group else "",
                cause=group.cause if group else "",
                failure_class=group.failure_class if group else "",
                finding=diagnosis.finding_of.get(r.nodeid),
            )
        )
    return rows


def measured_criteria(diagnosis: Diagnosis) -> list[dict[str, Any]]:
    """The criteria measured in the run, as the store keeps them."""
    return [
        {
            "name": c.name,
            "measured": c.measured,
            "bound": c.bound,
            "samples": c.samples,
            "met": {"met": True, "missed": False}.get(c.status),  # None: not known
        }
        for c in diagnosis.criteria
        if c.samples
    ]


@dataclasses.dataclass(frozen=True)
class LookbackView:
    """What the earlier runs say of the current run, for the worklog and the outputs.

    ``new_failures`` + ``known_failures`` are the failing tests. New: new to this deploy, a
    regression the experiment found (failing on the candidate only) whatever the store
    says, else a test that passed (or never ran) the last time its phase ran. Known: the
    rest, failing in earlier runs of the store or failing before this deploy;
    ``failing_before`` counts the known ones the experiment found failing on the baseline
    revision too (environment, pre-existing), whether the store had seen them fail or not.
    Without the experiment, new and known are the store's alone, as before it."""

    runs: int  # earlier runs of this environment in the store
    window: int  # of those, the runs behind the rates and the expected state
    # signature -> "new (...)", "failing before this deploy (...)" or "known: failing in
    # every run since ..."
    groups: dict[str, str]
    new_failures: int
    known_failures: int
    flaky: tuple[TrackRecord, ...]
    broken: tuple[TrackRecord, ...]
    phase_rates: dict[int, Rate]
    expected: tuple[str, ...]
    facts: dict[str, Fact]
    failing_before: int = 0  # of the known failures, those failing on the baseline too
    summary: str = ""  # the worklog's one line near the top
    trend: tuple[TrendPoint, ...] = ()  # pass rate per phase, oldest run first, this one last
    files: tuple[tuple[str, Rate, Rate | None], ...] = ()  # file, today, over the window
    last_healthy: PastRun | None = None  # the newest earlier healthy run of this environment


def since_text(found: Streak) -> str:
    """A streak as every line of the worklog says it (the summary, a failure group, the
    expected state, an escalation rule): ``in every run since 2026-12-01 08:00 UTC (7 runs,
    6 h)``."""
    return streak_text(found.since.started, found.runs, found.hours)


def _known(test: TrackRecord) -> str:
    since = test.since
    if since is None:
        return "new"
    revisions = ", ".join(sorted(since.revisions.values())) or "no revision recorded"
    failing = streak_text(since.started, test.failing_runs, test.failing_hours)
    return f"known: failing {failing}, which began at {revisions}, commit {since.commit or '?'}"


def _part_line(state: PartState) -> str:
    line = f"{state.part}: failed in {state.failed} of the last {state.runs} runs"
    if state.streak is not None and state.streak.runs > 1:
        line += f"; failing {since_text(state.streak)}"
    return line


# The parts whose streaks the escalation's duration rules read, by the fact they give.
DURATION_PARTS = {"agent_pipeline_failing_h": "agent pipeline", "redis_down_h": "Redis"}


def part_streaks(config: Config, current: RunRow, past: Sequence[PastRun]) -> dict[str, Streak]:
    """How long each part has failed run after run, back through every stored run: the one
    start of each part's outage, which the expected state and the escalation rules both say."""
    checks = _part_checks(config.history.slow_database_ms)
    found = {part: streak(current, past, failed) for part, failed in checks.items()}
    return {part: s for part, s in found.items() if s is not None}


def duration_facts(config: Config, current: RunRow, past: Sequence[PastRun]) -> dict[str, Fact]:
    """The facts the duration rules of escalation read."""
    streaks = part_streaks(config, current, past)
    facts: dict[str, Fact] = {}
    for fact, part in DURATION_PARTS.items():
        if (found := streaks.get(part)) is not None:
            facts[fact] = Fact(found.hours, f"{part} failing {since_text(found)}")
    if (found := streaks.get("database")) is not None:
        facts["database_slow_runs"] = Fact(
            float(found.runs),
            f"database above {config.history.slow_database_ms:,.0f} ms in every sample, "
            f"{since_text(found)}",
        )
    return facts


def _track_records(
    config: Config,
    current: RunRow,
    records: Sequence[TestRecord],
    past: Sequence[PastRun],
    past_results: Sequence[PastResult],
    *,
    with_results: set[int],
    finding_of: Mapping[str, str],
) -> dict[str, TrackRecord]:
    """Each test of the current run with its track record over the earlier runs, and the
    experiment's finding of its failure."""
    by_run: dict[int, dict[str, PastResult]] = {}
    for result in past_results:
        by_run.setdefault(result.run, {})[result.nodeid] = result
    # The runs with results in the store, of those read (the window): a test's outcome in
    # any run before them is unknown, as if it had not existed, so its track record reads
    # these alone. A test passing in every one of them may have no rows read: it passed.
    read = [run for run in past if run.key in with_results]
    return {
        r.nodeid: track_record(
            r.nodeid,
            r.phase,
            r.outcome,
            current=current,
            past=read,
            by_run=by_run,
            last=config.history.last,
            min_results=config.history.min_results,
            retried=r.retries > 0,
            finding=finding_of.get(r.nodeid),
        )
        for r in records
    }


def _group_lines(
    diagnosis: Diagnosis, tests: Mapping[str, TrackRecord]
) -> tuple[dict[str, str], int, int, int]:
    """Each failure group's line (new, failing before this deploy, or known since when) by
    signature, and how many of the failing tests are new, known, and (of the known)
    failing on the baseline too."""
    groups = {}
    new = known = before = 0
    for group in diagnosis.groups:
        members = [tests[t] for t in group.tests if t in tests]
        fresh = [t for t in members if t.status == "new"]
        new += len(fresh)
        known += len(members) - len(fresh)
        before += sum(1 for t in members if t.on_baseline_too)
        groups[group.signature] = _group_line(members, fresh)
    return groups, new, known, before


def _group_line(members: Sequence[TrackRecord], fresh: Sequence[TrackRecord]) -> str:
    """A failure group's history line: new when any of its tests is, else known since its
    youngest streak in the store, else failing before this deploy."""
    if fresh:
        return _new(fresh, len(members))
    if not members:
        return "new"
    stored = [t for t in members if t.status == "known"]
    before = sum(1 for t in members if t.on_baseline_too)
    if not stored:
        return _before(members, before)
    line = _known(min(stored, key=lambda t: t.failing_runs))
    if before:
        line += f"; {before} of {len(members)} tests fail on the baseline revision too"
    return line


def _before(members: Sequence[TrackRecord], before: int) -> str:
    """``failing before this deploy (2 of 2 tests fail on the baseline revision too:
    environment; not failing the last time their phase ran in this store)``."""
    kinds = ", ".join(sorted({t.finding for t in members if t.finding and t.on_baseline_too}))
    return (
        f"failing before this deploy ({before} of {len(members)} tests fail on the baseline "
        f"revision too: {kinds}; not failing the last time their phase ran in this store)"
    )


def _new(fresh: Sequence[TrackRecord], members: int) -> str:
    """``new (3 of 4 tests passed the last time their phase ran)``; a test the store has
    never seen run is new too, and said so, not as having passed. A regression the
    experiment found is said as one, with the streak the store saw it failing in, if any."""
    regressions = [t for t in fresh if t.finding == REGRESSION]
    rest = [t for t in fresh if t.finding != REGRESSION]
    passed = sum(1 for t in rest if t.passed_before)
    unseen = len(rest) - passed
    said = []
    if regressions:
        said.append(
            f"{len(regressions)} of {members} tests fail on the candidate only, "
            "not on the baseline revision"
        )
        seen = [t for t in regressions if t.failing_runs > 1]
        if seen:
            oldest = max(seen, key=lambda t: t.failing_runs)
            said.append(f"known to the store: {_known(oldest).removeprefix('known: ')}")
    if passed:
        said.append(f"{passed} of {members} tests passed the last time their phase ran")
    if unseen:
        said.append(f"{unseen} of {members} never ran before in this store")
    return f"new ({'; '.join(said)})"


def _summary(
    diagnosis: Diagnosis, tests: Mapping[str, TrackRecord], new: int, known: int, before: int
) -> str:
    """The worklog's one line near the top: how many failing tests are new, how many known
    (and of those, failing before this deploy), and since when the oldest has failed."""
    failing = new + known
    if not failing:
        return ""
    failing_tests = [tests[t] for g in diagnosis.groups for t in g.tests if t in tests]
    if not known:
        regressions = sum(1 for t in failing_tests if t.finding == REGRESSION)
        if regressions == failing:
            return (
                f"all {failing} failing test(s) new: they fail on the candidate only, "
                "not on the baseline revision"
            )
        rest = [t for t in failing_tests if t.finding != REGRESSION]
        if rest and not any(t.passed_before for t in rest):
            summary = f"all {failing} failing test(s) new: no earlier run of them in this store"
        else:
            summary = (
                f"all {failing} failing test(s) new: they passed the last time their phase ran"
            )
        if regressions:
            summary += f"; {regressions} fail on the candidate only"
        return summary
    summary = f"{new} of {failing} failing test(s) new; "
    stored = [t for t in failing_tests if t.status == "known"]
    if before == known:  # every known failure fails on the baseline too
        summary += f"{known} failing before this deploy (they fail on the baseline revision too)"
    else:
        summary += f"{known} known"
        if before:
            summary += f" ({before} failing before this deploy, on the baseline revision too)"
    oldest = max(stored, key=lambda t: t.failing_runs, default=None)
    if oldest is not None:
        summary += f", the oldest {_known(oldest).removeprefix('known: ')}"
    return summary


def _part_checks(slow_database_ms: float) -> dict[str, Callable[[RunRow], bool]]:
    """How to tell, from a stored run, that each part failed in it."""
    return {
        "Redis": lambda r: r.redis_down,
        "agent pipeline": lambda r: r.agent_pipeline_failed,
        "database": lambda r: (
            r.database_min_ms is not None and r.database_min_ms > slow_database_ms
        ),
    }


def build_view(
    config: Config,
    *,
    current: RunRow,
    records: Sequence[TestRecord],
    diagnosis: Diagnosis,
    past: Sequence[PastRun],
    past_results: Sequence[PastResult],
    tallies: Sequence[Tally] | None = None,
) -> LookbackView:
    """The earlier runs' view of the current run (pure). ``past_results``: at least those
    of the tests that did anything but pass in the window, and of the tests not passing now
    (``gather``); ``tallies``: the results of the runs read counted, the window's rates
    (None: counted from ``past_results``, which must then hold every result read)."""
    counted = tallies_of(past_results) if tallies is None else tallies
    tests = _track_records(
        config,
        current,
        records,
        past,
        past_results,
        with_results={t.run for t in counted},
        finding_of=diagnosis.finding_of,
    )
    groups, new, known, before = _group_lines(diagnosis, tests)
    window = list(past[: config.history.window])
    rates = window_rates(window, counted, sorted(config.phases))
    checks = _part_checks(config.history.slow_database_ms)
    return LookbackView(
        runs=len(past),
        window=len(window),
        groups=groups,
        new_failures=new,
        known_failures=known,
        flaky=tuple(t for t in tests.values() if t.flaky),
        broken=tuple(t for t in tests.values() if t.broken),
        phase_rates=rates.phases,
        expected=tuple(
            _part_line(s)
            for s in expected_state(current, window, checks, part_streaks(config, current, past))
        ),
        facts=duration_facts(config, current, past),
        failing_before=before,
        summary=_summary(diagnosis, tests, new, known, before),
        trend=(*rates.trend, _now(config, current, diagnosis)),
        last_healthy=next((run for run in past if run.verdict == "healthy"), None),
        files=_files(records, rates.files),
    )


def _files(
    records: Sequence[TestRecord], rates: Mapping[str, Rate]
) -> tuple[tuple[str, Rate, Rate | None], ...]:
    """Each file not passing in full today or over the window: today's rate beside its
    history (the brief's Historical Success column), worst today first."""
    rows = []
    for file, now in rates_of((r.file, r.outcome, 0) for r in records).items():
        before = rates.get(file)
        if now.passed < now.total or (before is not None and before.passed < before.total):
            rows.append((file, now, before))
    return tuple(sorted(rows, key=lambda row: (row[1].value or 0.0, row[0])))


def _now(config: Config, current: RunRow, diagnosis: Diagnosis) -> TrendPoint:
    """The current run's point of the trend: each gate's pass rate, the figure its row of
    the phase table says (None: it did not run)."""
    ran = {g.phase: g.pass_rate for g in diagnosis.gates if g.status in ("met", "not_met")}
    return TrendPoint(
        current.run_id, current.started, {n: ran.get(n) for n in sorted(config.phases)}
    )


def run_started(gates: Sequence[GateResult], records: Sequence[TestRecord]) -> str | None:
    """When the run started: its first phase's start (None: no phase ran). A gate judged
    again from its records (its file was lost) has no start: the first record's stands in."""
    ran = [g for g in gates if g.status in ("met", "not_met")]
    starts = [g.started_at for g in ran if g.started_at] or [r.start for r in records if r.start]
    return min(starts) if ran and starts else None


def gather(
    store: Store, config: Config, env: str, started: str, records: Sequence[TestRecord]
) -> tuple[list[PastRun], list[PastResult], list[Tally]]:
    """The runs of ``env`` before the one ``started`` then (newest first); the results the
    track records of ``records`` need over the last window (those of the tests that did
    anything but pass in it, and of the tests not passing now or passing on a retry); and
    the window's results counted per run, phase and file, for its rates. A run with more
    such tests than ``NAMED_AT_MOST`` reads every result of the window instead."""
    past = store.runs(env, limit=LOOK_BACK, before=started)
    keys = [run.key for run in past[: max(config.history.window, config.history.last)]]
    unsteady = {r.nodeid for r in records if r.outcome != "passed" or r.retries}
    found = store.results(keys, eventful_and=unsteady if len(unsteady) <= NAMED_AT_MOST else None)
    return past, found, store.tallies(keys)
