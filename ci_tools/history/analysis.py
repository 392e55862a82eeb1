"""What a run's history says, as pure functions over the runs the store returns (newest first)
and the run being reported.

- a failing test is *new* (it passed, or did not exist, the last time its phase ran) or
  *known* (failing in every run since a point, named with its revision and commit). The
  experiment's finding of the failure, when it made one, has the last word on "new to this
  deploy": a *regression* (failing on the candidate only) is new whatever the store says,
  and a failure found failing on the baseline too (*environment*, *pre-existing*) that the
  store did not know is *failing before* this deploy, not new;
- a test is *flaky* when it has both outcomes on one commit and revisions, the experiment
  found it flaky (it passed when run again on the candidate), or it flips at least twice
  over its last N results (with at least ``min_results``); *broken* when it has failed in
  every run since a point. Outage runs never count for either;
- a part has been failing for a duration (the brief's "> 2 h", "> 4 h") or a number of runs;
- success rates per phase and per file over the last runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, TypeVar

from ci_tools.history.model import COUNTED, PastResult, PastRun, RunRow, Tally

FAILING = ("failed", "error")
# The experiment's findings that history reads: words of ci_tools.experiment.FINDINGS, a
# module of this floor that history may not import (a test keeps them among its words).
REGRESSION = "regression"  # fails on the candidate only: this deploy's doing
ON_BASELINE_TOO = ("environment", "pre-existing")  # fails on the baseline too: not this deploy's
FLAKY = "flaky"  # passed when run again on the candidate

Status = Literal["new", "known", "failing before", "passing"]


def hours_between(earlier: str, later: str) -> float:
    """Hours from one ISO 8601 UTC time to another."""

    def parse(value: str) -> dt.datetime:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))

    return (parse(later) - parse(earlier)).total_seconds() / 3600


@dataclasses.dataclass(frozen=True)
class Streak:
    """Something true of every run since ``since`` (the current run included)."""

    since: RunRow
    runs: int
    hours: float


def streak(
    current: RunRow, past: Sequence[PastRun], holds: Callable[[RunRow], bool]
) -> Streak | None:
    """How long ``holds`` has been true run after run, back from the current one."""
    if not holds(current):
        return None
    first: RunRow = current
    count = 1
    for run in past:
        if not holds(run):
            break
        first, count = run, count + 1
    return Streak(first, count, hours_between(first.started, current.started))


@dataclasses.dataclass(frozen=True)
class TrackRecord:
    """One test's history as of the current run.

    ``status``: *new* to this deploy (a regression, or else passing or unseen the last time
    its phase ran), *known* (failing in every run since ``since``), *failing before* this
    deploy (found failing on the baseline too, where the store had not seen it failing),
    or *passing*."""

    nodeid: str
    status: Status
    # Failing: the first run of its failing streak, the current one unless the store saw it
    # failing (known; or a regression, new all the same). None: passing.
    since: RunRow | None = None
    failing_runs: int = 0  # runs in that streak, the current one included
    failing_hours: float = 0.0
    results: int = 0  # non-outage results looked at for flaky/broken (the sample size)
    flips: int = 0
    flaky: bool = False
    broken: bool = False
    passed_before: bool = False  # new: it passed the last time its phase ran (else unseen)
    finding: str | None = None  # the experiment's finding of this failure, when it made one
    found_flaky: int = 0  # of the results looked at, those the experiment found flaky

    @property
    def on_baseline_too(self) -> bool:
        """The experiment found it failing on the baseline too: failing before this deploy."""
        return self.finding in ON_BASELINE_TOO


def _ran(run: PastRun, phase: int) -> bool:
    return phase in run.phases_ran


def _failing_since(
    current: RunRow, outcomes: Sequence[tuple[PastRun, PastResult | None]]
) -> tuple[RunRow, int, bool]:
    """A failing test's streak in the store: its first run (the current one when it passed,
    or did not exist, the last time its phase ran), its runs, and whether it passed then."""
    # Back to the last time it passed (or did not exist): a run where it was skipped or not
    # run (fail-fast under the same outage) says nothing and does not end the streak, so one
    # outage has one start for its tests and for its part.
    since, runs, between = current, 1, 0
    for run, result in outcomes:
        if result is None or result.outcome == "passed":
            return since, runs, result is not None
        between += 1
        if result.outcome in FAILING:
            since, runs, between = run, runs + between, 0
    return since, runs, False


def track_record(
    nodeid: str,
    phase: int,
    outcome: str,
    *,
    current: RunRow,
    past: Sequence[PastRun],
    by_run: Mapping[int, Mapping[str, PastResult]],
    last: int = 10,
    min_results: int = 5,
    retried: bool = False,
    finding: str | None = None,
) -> TrackRecord:
    """The test's status (new, known, failing before or passing), and whether it is flaky
    or broken. ``finding``: the experiment's finding of its failure in the current run."""
    ran = [run for run in past if _ran(run, phase)]
    outcomes = [(run, by_run.get(run.key, {}).get(nodeid)) for run in ran]
    status: Status = "passing"
    since: RunRow | None = None
    streak_runs = 0
    passed_before = False
    if outcome in FAILING:
        since, streak_runs, passed_before = _failing_since(current, outcomes)
        status = "known" if since is not current else "new"
        # What the store cannot see: whether the revision serving before the deploy fails too.
        if finding == REGRESSION:
            status = "new"
        elif finding in ON_BASELINE_TOO and status == "new":
            status = "failing before"
    # Flaky and broken read only runs that were not outages, and counted outcomes.
    sample: list[tuple[RunRow, bool]] = []
    found_flaky = 0
    if not current.outage and outcome in COUNTED:
        sample.append((current, outcome == "passed"))
        found_flaky += finding == FLAKY
    for run, result in outcomes:
        if len(sample) >= last:
            break
        if run.outage or result is None or result.outcome not in COUNTED:
            continue
        sample.append((run, result.outcome == "passed"))
        found_flaky += result.finding == FLAKY
    flips = sum(1 for (_, a), (_, b) in itertools.pairwise(sample) if a != b)
    same_build: dict[tuple[str, str], set[bool]] = {}
    for built, passed in sample:
        same_build.setdefault((built.commit, repr(sorted(built.revisions.items()))), set()).add(
            passed
        )
    both_on_one_build = any(len(seen) == 2 for seen in same_build.values())
    passed_on_retry = retried and outcome == "passed"
    # A failure the experiment found flaky passed on the same candidate: both outcomes on
    # one build, as good as seen.
    flaky = (
        passed_on_retry
        or found_flaky > 0
        or both_on_one_build
        or (len(sample) >= min_results and flips >= 2)
    )
    failing_prefix = 0
    for _, passed in sample:
        if passed:
            break
        failing_prefix += 1
    broken = not flaky and failing_prefix >= 2 and sample[0][0] is current
    return TrackRecord(
        nodeid=nodeid,
        status=status,
        since=since,
        failing_runs=streak_runs,
        failing_hours=hours_between(since.started, current.started) if since else 0.0,
        results=len(sample),
        flips=flips,
        flaky=flaky,
        broken=broken,
        passed_before=passed_before,
        finding=finding,
        found_flaky=found_flaky,
    )


@dataclasses.dataclass(frozen=True)
class Rate:
    """Passed of counted results over some runs."""

    passed: int
    total: int
    runs: int

    @property
    def value(self) -> float | None:
        """The share passed; None with nothing counted."""
        return self.passed / self.total if self.total else None

    @staticmethod
    def text(rate: Rate | None) -> str:
        """The rate with its sample, as the worklog and the index say it: ``95% (19 runs)``;
        ``-`` for none."""
        if rate is None or rate.value is None:
            return "-"
        return f"{rate.value:.0%} ({rate.runs} runs)"


K = TypeVar("K")


def rates_of(outcomes: Iterable[tuple[K, str, object]]) -> dict[K, Rate]:
    """Success rate per key from (key, outcome, run) triples: passed of the counted
    outcomes (skipped and not run say nothing of health), over the distinct runs seen."""
    counted: dict[K, list[int]] = {}
    runs: dict[K, set[object]] = {}
    for key, outcome, run in outcomes:
        if outcome not in COUNTED:
            continue
        tally = counted.setdefault(key, [0, 0])
        tally[0] += outcome == "passed"
        tally[1] += 1
        runs.setdefault(key, set()).add(run)
    return {k: Rate(p, t, len(runs[k])) for k, (p, t) in counted.items()}


def success_rates(
    past: Sequence[PastRun],
    results: Iterable[PastResult],
    key: Callable[[PastResult], str | int],
) -> dict[str | int, Rate]:
    """Success rate per key (a phase, a file) over the given runs."""
    keys = {run.key for run in past}
    return rates_of((key(r), r.outcome, r.run) for r in results if r.run in keys)


@dataclasses.dataclass(frozen=True)
class WindowRates:
    """The success rates over a window of runs that a report shows, read in one pass of its
    results counted (a big team's window holds 100,000 results)."""

    phases: dict[int, Rate]
    files: dict[str, Rate]
    trend: list[TrendPoint]  # each run's pass rate per phase, oldest first


def tallies_of(results: Iterable[PastResult]) -> list[Tally]:
    """The results per run, phase and file, counted (``Store.tallies`` counts them in the
    store instead of reading every result); a file whose results were all skipped or not
    run is there with nothing counted."""
    table: dict[tuple[int, int, str], list[int]] = {}
    for result in results:
        key = (result.run, result.phase, result.file)
        counts = table.get(key)
        if counts is None:
            counts = table[key] = [0, 0]
        if result.outcome in COUNTED:
            counts[0] += result.outcome == "passed"
            counts[1] += 1
    return [Tally(run, phase, file, p, t) for (run, phase, file), (p, t) in table.items()]


def window_rates(
    window: Sequence[PastRun], tallies: Iterable[Tally], phases: Sequence[int]
) -> WindowRates:
    """Success rates per phase and per file over the ``window`` (newest first), and each of
    its runs' pass rate per phase (``phases``; None where a phase did not run or nothing
    counted), as ``success_rates`` and ``phase_trend`` say them, from the results counted
    per run, phase and file (``tallies_of``, or the store's)."""
    keys = {run.key for run in window}
    by_phase: dict[int, list[int]] = {}
    by_file: dict[str, list[int]] = {}
    by_run: dict[tuple[int, int], list[int]] = {}
    phase_runs: dict[int, set[int]] = {}
    file_runs: dict[str, set[int]] = {}
    for tally in tallies:
        if tally.run not in keys or not tally.counted:
            continue
        _add(by_phase, tally.phase, tally)
        _add(by_file, tally.file, tally)
        _add(by_run, (tally.run, tally.phase), tally)
        phase_runs.setdefault(tally.phase, set()).add(tally.run)
        file_runs.setdefault(tally.file, set()).add(tally.run)
    trend = []
    for run in reversed(window):
        counts = {n: by_run.get((run.key, n)) for n in phases}
        trend.append(
            TrendPoint(
                run.run_id,
                run.started,
                {n: c[0] / c[1] if c else None for n, c in counts.items()},
            )
        )
    return WindowRates(
        phases={k: Rate(p, t, len(phase_runs[k])) for k, (p, t) in by_phase.items()},
        files={k: Rate(p, t, len(file_runs[k])) for k, (p, t) in by_file.items()},
        trend=trend,
    )


def _add(table: dict[K, list[int]], key: K, tally: Tally) -> None:
    counts = table.get(key)
    if counts is None:
        counts = table[key] = [0, 0]
    counts[0] += tally.passed
    counts[1] += tally.counted


@dataclasses.dataclass(frozen=True)
class PartState:
    """How often a part failed over the last runs: the brief's "expected state", measured."""

    part: str
    failed: int
    runs: int
    streak: Streak | None


def expected_state(
    current: RunRow,
    past: Sequence[PastRun],
    checks: Mapping[str, Callable[[RunRow], bool]],
    streaks: Mapping[str, Streak | None] | None = None,
) -> list[PartState]:
    """Each part that failed at least once over the current and past runs. ``streaks``: each
    part's streak as found over every stored run (the one the escalation rules read), when
    the window is shorter than the streak; else it is found over ``past``."""
    window: list[RunRow] = [current, *past]
    states = []
    for part, failed in checks.items():
        count = sum(1 for run in window if failed(run))
        if count:
            found = streaks.get(part) if streaks is not None else streak(current, past, failed)
            states.append(PartState(part, count, len(window), found))
    return states


@dataclasses.dataclass(frozen=True)
class TrendPoint:
    """One run's pass rate per phase (None: the phase did not run, or nothing counted)."""

    run_id: str
    started: str
    rates: dict[int, float | None]


def phase_trend(
    runs: Sequence[RunRow],
    results: Mapping[str, Iterable[tuple[int, str]]],
    phases: Sequence[int],
) -> list[TrendPoint]:
    """Pass rate per phase, run by run, in the order given (oldest first); ``results``
    holds each run's (phase, outcome) pairs by run id."""
    points = []
    for run in runs:
        found = rates_of(
            (phase, outcome, run.run_id) for phase, outcome in results.get(run.run_id, ())
        )
        by_phase = {n: found[n].value if n in found else None for n in phases}
        points.append(TrendPoint(run.run_id, run.started, by_phase))
    return points


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """Rates from 0 to 1 as block characters, ``·`` where a phase did not run."""
    return "".join(
        "·" if v is None else SPARKS[min(int(v * (len(SPARKS) - 1) + 0.5), len(SPARKS) - 1)]
        for v in values
    )
