"""The phase plan and its gates, shared by the noxfile, the runner and the report stage.

A gate is met when the phase's pass rate reaches its minimum and every criterion it names
holds on the values its tests measured. Evaluation is a pure function of the phase's records;
the result is written beside them as ``phaseN.gate.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Literal

from ci_tools.config import Config, CriterionConfig, PhaseConfig
from ci_tools.defects import suite_defect
from ci_tools.quarantine import NONE as NO_QUARANTINE
from ci_tools.quarantine import Quarantine
from ci_tools.records import Failure, Measurement, PhaseRecords, TestRecord
from ci_tools.rules import Match, failure_text, match
from ci_tools.wording import percent, seconds

EXECUTED = ("passed", "failed", "error")
# A gate's status: "not_run" only in the report, for a configured phase with no records and
# no gate file (a job that died or was cancelled before pytest ran).
GateStatus = Literal["met", "not_met", "skipped", "not_run"]


# Whether a criterion held: "unknown" when nothing was measured, or when the figure is only a
# lower bound short of the target (a wait cut short before the limit proves neither).
CriterionStatus = Literal["met", "missed", "unknown"]


@dataclasses.dataclass(frozen=True)
class PassRate:
    """Passed of the tests that ran (passed, failed or error): skipped and not-run tests say
    nothing of the platform. The one definition of a pass rate, for gates and criteria."""

    passed: int
    ran: int

    @property
    def value(self) -> float | None:
        """The share passed; None when no test ran."""
        return self.passed / self.ran if self.ran else None

    @property
    def text(self) -> str:
        """``96.2% (50/52)``; ``no test ran``."""
        return "no test ran" if self.value is None else f"{percent(self.value)} ({self})"

    def __str__(self) -> str:
        return f"{self.passed}/{self.ran}"


def pass_rate(records: Iterable[TestRecord], priority: str | None = None) -> PassRate:
    """The pass rate of ``records`` (of one priority, when given). Callers leave out the
    tests that do not count (quarantined, the suite's own defects) before."""
    ran = [r for r in records if r.outcome in EXECUTED and priority in (None, r.priority)]
    return PassRate(sum(r.outcome == "passed" for r in ran), len(ran))


@dataclasses.dataclass(frozen=True)
class CriterionResult:
    """A criterion's measured figure beside its target."""

    name: str
    title: str
    unit: str
    target: str  # e.g. "< 3000 ms"
    measured: float | None  # None: nothing was measured (or only "unreachable")
    samples: int
    met: bool
    # "": measured; "at_least": a lower bound (a wait was cut short); "unreachable": the part
    # never answered (a latency's limit missed). Either way the criterion was measured.
    bound: str = ""
    # False: the figure is a lower bound short of the target (an answer not given within a
    # wait shorter than the limit): neither met nor missed, and the gate is not met on it.
    decided: bool = True

    @property
    def status(self) -> CriterionStatus:
        """Met, missed, or unknown (not measured, or a lower bound short of the target)."""
        if self.met:
            return "met"
        return "missed" if self.samples and self.decided else "unknown"

    @property
    def figure(self) -> str:
        """What was measured, as every line of the worklog says it: ``5,012 ms``,
        ``≥ 31,000 ms`` (a lower bound past the target), ``no answer within 10.1 s`` (a lower
        bound short of it), ``unreachable``, ``not measured``."""
        if self.bound == "at_least" and not self.decided and self.measured is not None:
            return cut_short(self.measured, self.unit)
        return format_value(self.measured, self.unit, self.bound)

    @property
    def text(self) -> str:
        """The criterion in one phrase, for evidence and causes: ``Database latency
        5,012 ms, target < 3,000 ms``; ``Agent pipeline p50 not measured: no answer within
        10.1 s, target < 30,000 ms``."""
        return self.phrase()

    def phrase(self, where: str = "") -> str:
        """:attr:`text`, with the tests it was measured over named when they are not the
        whole run's (``in phase 2``): a gate judges its own phase, the criteria table the
        run, and the two figures differ."""
        scope = f" {where}" if where else ""
        if not self.samples:
            return f"{self.title} not measured{scope}"
        if self.bound == "at_least" and not self.decided:
            return f"{self.title} not measured{scope}: {self.figure}, target {self.target}"
        return f"{self.title} {self.figure}{scope}, target {self.target}"


@dataclasses.dataclass(frozen=True)
class GateResult:
    """One phase's verdict with the numbers behind it."""

    phase: int
    title: str
    status: GateStatus
    reason: str
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    not_run: int = 0  # selected but never finished: fail-fast, budget, cancel
    pass_rate: float | None = None
    min_pass_rate: float = 1.0
    criteria: tuple[CriterionResult, ...] = ()
    hung: tuple[str, ...] = ()
    started_at: str = ""  # ISO 8601 UTC, when the phase began (the runner's go)
    launched_at: str = ""  # when its pytest was launched: earlier, to start up ahead
    duration_s: float = 0.0
    budget_s: float = 0.0
    budget_exhausted: bool = False
    stopped: str = ""  # why the phase stopped before its end ("budget of 120 s ran out")
    bad_lines: int = 0
    quarantined: tuple[str, ...] = ()  # tests whose result did not count (in quarantine)
    # Failures that are the suite's own defects (ci_tools.defects): they exercised nothing of
    # the platform, so they do not count either; the report says the suite is broken.
    suite_defects: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        """Whether the next phase may run."""
        return self.status == "met"

    def as_json(self) -> dict[str, Any]:
        """The result as written to ``phaseN.gate.json``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        """Reads what ``as_json`` wrote."""
        fields = dict(data)
        fields["criteria"] = tuple(CriterionResult(**c) for c in data.get("criteria", ()))
        fields["hung"] = tuple(data.get("hung", ()))
        fields["quarantined"] = tuple(data.get("quarantined", ()))
        fields["suite_defects"] = tuple(data.get("suite_defects", ()))
        return cls(**fields)


def aggregate(values: Sequence[float], how: str) -> float:
    """One figure from a phase's measured values."""
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    if how == "mean":
        return statistics.fmean(values)
    if len(values) == 1:
        return values[0]
    quantiles = statistics.quantiles(values, n=100, method="inclusive")
    return quantiles[49] if how == "p50" else quantiles[94]


def format_value(value: float | None, unit: str, bound: str = "") -> str:
    """A figure as the worklog prints it: ``5,012 ms``, ``97.5%``, ``≥ 30,000 ms``,
    ``unreachable``."""
    if bound == "unreachable" or value is None:
        return "unreachable" if bound == "unreachable" else "not measured"
    if bound == "at_least":
        return f"≥ {format_value(value, unit)}"
    if unit == "%":
        return percent(value)
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def cut_short(value: float, unit: str) -> str:
    """What a lower bound short of its target says happened: ``no answer within 10.1 s``
    for a wait (``no answer within 250 ms`` under a second), else ``cut short at 12 rows``."""
    if unit == "ms" and value < 1000:
        return f"no answer within {format_value(value, unit)}"
    if unit in ("ms", "s"):
        return f"no answer within {seconds(value / 1000 if unit == 'ms' else value)}"
    return f"cut short at {format_value(value, unit)}"


def target_text(criterion: CriterionConfig) -> str:
    """``< 3,000 ms`` or ``>= 95.0%``, from the criterion's bounds."""
    parts = []
    if criterion.max is not None:
        parts.append(f"< {format_value(criterion.max, criterion.unit)}")
    if criterion.min is not None:
        parts.append(f">= {format_value(criterion.min, criterion.unit)}")
    return " and ".join(parts) or "recorded"


def inferred(name: str, record: TestRecord) -> Measurement | None:
    """What a failed test that never recorded ``name`` says of it: a failure that names the
    part the criterion measures is "unreachable" when it was refused, a lower bound (the test's
    wait) when it timed out or stalled."""
    failure = record.failure
    if failure is None or any(m.criterion == name for m in record.measurements):
        return None
    found = _named(failure, record.areas)
    if found is None or name not in found.rule.criteria:
        return None
    if failure.timed_out or found.rule.name in ("agent_hang", "database_slow", "redis_timeout"):
        return Measurement(name, round(record.duration_s * 1000, 1), "at_least")
    return Measurement(name, 0.0, "unreachable")


@functools.lru_cache(maxsize=4096)
def _named(failure: Failure, areas: tuple[str, ...]) -> Match | None:
    """The built-in rule naming a failure, read once however many criteria ask."""
    return match(failure_text(failure.type, failure.message, areas, failure.timed_out))


def evaluate_criterion(
    name: str, criterion: CriterionConfig, records: Sequence[TestRecord]
) -> CriterionResult:
    """The criterion's figure over the phase's records, and whether it holds. Censored values
    count: a refused part makes a latency "unreachable", a timeout gives a lower bound, which
    misses a limit it reaches, meets a minimum it reaches, and decides nothing short of
    either. A pass rate is :func:`pass_rate` of the records given."""
    target = target_text(criterion)

    def result(figure: float | None, samples: int, met: bool, **more: Any) -> CriterionResult:
        return CriterionResult(
            name, criterion.title, criterion.unit, target, figure, samples, met, **more
        )

    def holds(figure: float) -> bool:
        return (criterion.max is None or figure < criterion.max) and (
            criterion.min is None or figure >= criterion.min
        )

    if criterion.source == "pass_rate":
        rate = pass_rate(records, criterion.priority)
        if rate.value is None:
            return result(None, 0, False)
        return result(rate.value, rate.ran, holds(rate.value))
    samples = [m for r in records for m in r.measurements if m.criterion == name]
    if criterion.max is not None:  # a latency: failures of its part are censored samples
        samples += [
            m for r in records if r.failure is not None and (m := inferred(name, r)) is not None
        ]
    if not samples:
        return result(None, 0, False)
    if criterion.max is not None and any(m.bound == "unreachable" for m in samples):
        return result(None, len(samples), False, bound="unreachable")
    figure = aggregate([m.value for m in samples], criterion.aggregate)
    if not _lower_bound(samples, figure, criterion.aggregate):
        return result(figure, len(samples), holds(figure))
    # The figure rests on a cut-short wait: the true one is at least this.
    missed = criterion.max is not None and figure >= criterion.max
    met = criterion.max is None and criterion.min is not None and figure >= criterion.min
    return result(figure, len(samples), met, bound="at_least", decided=missed or met)


def evaluate_criteria(
    config: Config,
    names: Iterable[str],
    records: Sequence[TestRecord],
    *,
    quarantined: Collection[str] = (),
    defects: Collection[str] = (),
) -> tuple[CriterionResult, ...]:
    """The named criteria over the tests that count for each, as gates and the report both
    judge them: the suite's own defects (``defects``, node ids) never count, they exercised
    nothing; quarantined tests count for a measurement (they measure the platform), not for
    a pass rate (their results do not count)."""
    exercised = [r for r in records if r.nodeid not in defects] if defects else records
    counted = [r for r in exercised if r.nodeid not in quarantined] if quarantined else exercised
    return tuple(
        evaluate_criterion(
            name,
            config.criteria[name],
            counted if config.criteria[name].source == "pass_rate" else exercised,
        )
        for name in names
    )


def _lower_bound(samples: Sequence[Measurement], figure: float, how: str) -> bool:
    """Whether ``figure`` is only a lower bound: some cut-short sample, were its true value
    larger, would move it (any for a max or a mean; one at or below a median, not one above)."""
    if not any(m.bound == "at_least" for m in samples):
        return False
    larger = 2 * max(abs(m.value) for m in samples) + 1e9
    raised = [larger if m.bound == "at_least" else m.value for m in samples]
    return aggregate(raised, how) != figure


def _failing_areas(records: Sequence[TestRecord]) -> str:
    executed = [r for r in records if r.outcome in EXECUTED]
    totals = Counter(area for r in executed for area in r.areas)
    failing = Counter(area for r in executed if r.outcome != "passed" for area in r.areas)
    return ", ".join(f"{area} {count}/{totals[area]}" for area, count in failing.most_common(3))


def _problems(
    number: int,
    phase: PhaseConfig,
    found: PhaseRecords,
    counted: Sequence[TestRecord],
    criteria: Sequence[CriterionResult],
    *,
    budget_exhausted: bool,
) -> list[str]:
    """Every unmet part of a gate with its numbers; none when the gate is met."""
    rate = pass_rate(counted)
    problems = []
    if rate.value is None:
        problems.append("no test ran")
    elif rate.value < phase.min_pass_rate:
        problems.append(f"pass rate {rate.text}, needs {percent(phase.min_pass_rate)}")
        if areas := _failing_areas(counted):
            problems.append(f"failing areas: {areas}")
    problems += [c.phrase(f"in phase {number}") for c in criteria if not c.met]
    if budget_exhausted:
        problems.append(
            f"budget of {phase.budget_s:g} s ran out with "
            f"{len(found.started_not_finished)} test(s) hung"
        )
    if not_run := sum(r.outcome == "not_run" for r in counted):
        problems.append(f"{not_run} test(s) not run")
    return problems


def evaluate_gate(
    number: int,
    phase: PhaseConfig,
    config: Config,
    found: PhaseRecords,
    *,
    started_at: str = "",
    launched_at: str = "",
    duration_s: float = 0.0,
    budget_exhausted: bool = False,
    stopped: str = "",
    quarantine: Quarantine = NO_QUARANTINE,
) -> GateResult:
    """Phase N's gate over its records; the reason names every unmet part with its numbers.
    A phase with tests not run never meets its gate: it did not see them. The results of
    quarantined tests do not count (their measurements still do: they measure the platform),
    nor do the suite's own defects (they measured nothing); a pass-rate criterion counts the
    results the phase's own pass rate counts."""
    records = found.records
    held = tuple(r.nodeid for r in records if quarantine.entry_for(r.nodeid) is not None)
    broken = tuple(r.nodeid for r in records if suite_defect(r) and r.nodeid not in held)
    ignored = {*held, *broken}
    counted = [r for r in records if r.nodeid not in ignored] if ignored else records
    counts = Counter(r.outcome for r in records)  # every test, so the counts add up
    criteria = evaluate_criteria(
        config, phase.criteria, records, quarantined=set(held), defects=set(broken)
    )
    problems = _problems(number, phase, found, counted, criteria, budget_exhausted=budget_exhausted)
    reason = "; ".join(problems) if problems else "gate met"
    if broken:
        reason += f" ({len(broken)} suite defect(s) not counted)"
    return GateResult(
        phase=number,
        title=phase.title,
        status="not_met" if problems else "met",
        reason=reason,
        total=len(records),
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        not_run=counts["not_run"],
        pass_rate=pass_rate(counted).value,
        min_pass_rate=phase.min_pass_rate,
        criteria=criteria,
        hung=found.started_not_finished,
        started_at=started_at,
        launched_at=launched_at,
        duration_s=round(duration_s, 3),
        budget_s=phase.budget_s,
        budget_exhausted=budget_exhausted,
        stopped=stopped,
        bad_lines=found.bad_lines,
        quarantined=held,
        suite_defects=broken,
    )


def skipped_gate(number: int, phase: PhaseConfig, blocker: GateResult) -> GateResult:
    """The result of a phase not run because an earlier gate was not met; a skipped blocker
    passes on the reason of the gate that first failed."""
    reason = (
        blocker.reason
        if blocker.status == "skipped"
        else f"gate of phase {blocker.phase} not met: {blocker.reason}"
    )
    return GateResult(
        phase=number,
        title=phase.title,
        status="skipped",
        reason=reason,
        min_pass_rate=phase.min_pass_rate,
        budget_s=phase.budget_s,
    )
