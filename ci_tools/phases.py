"""The phase plan and its gates, shared by the noxfile, the runner and the report stage.

A gate is met when the phase's pass rate reaches its minimum and every criterion it names
holds on the values its tests measured. Evaluation is a pure function of the phase's records;
the result is written beside them as ``phaseN.gate.json``.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from ci_tools.config import Config, CriterionConfig, PhaseConfig
from ci_tools.defects import suite_defect
from ci_tools.quarantine import NONE as NO_QUARANTINE
from ci_tools.quarantine import Quarantine
from ci_tools.records import Measurement, PhaseRecords, TestRecord
from ci_tools.rules import failure_text, match

EXECUTED = ("passed", "failed", "error")
# A gate's status: "not_run" only in the report, for a configured phase with no records and
# no gate file (a job that died or was cancelled before pytest ran).
GateStatus = Literal["met", "not_met", "skipped", "not_run"]


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
    # never answered. Either way the criterion was measured, and it is not met.
    bound: str = ""


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
        return f"{value * 100:.1f}%"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


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
    found = match(failure_text(failure.type, failure.message, record.areas, failure.timed_out))
    if found is None or name not in found.rule.criteria:
        return None
    if failure.timed_out or found.rule.name in ("agent_hang", "database_slow", "redis_timeout"):
        return Measurement(name, round(record.duration_s * 1000, 1), "at_least")
    return Measurement(name, 0.0, "unreachable")


def evaluate_criterion(
    name: str, criterion: CriterionConfig, records: Sequence[TestRecord]
) -> CriterionResult:
    """The criterion's figure over the phase's records, and whether it holds. Censored values
    count: a refused part makes a latency "unreachable", a timeout gives a lower bound."""
    target = target_text(criterion)
    if criterion.source == "pass_rate":
        chosen = [
            r
            for r in records
            if r.outcome in EXECUTED
            and (criterion.priority is None or r.priority == criterion.priority)
        ]
        samples = [Measurement(name, 1.0 if r.outcome == "passed" else 0.0) for r in chosen]
        how = "mean"
    else:
        samples = [m for r in records for m in r.measurements if m.criterion == name]
        if criterion.max is not None:  # a latency: failures of its part are censored samples
            samples += [m for r in records if (m := inferred(name, r)) is not None]
        how = criterion.aggregate
    if not samples:
        return CriterionResult(name, criterion.title, criterion.unit, target, None, 0, met=False)
    if criterion.max is not None and any(m.bound == "unreachable" for m in samples):
        return CriterionResult(
            name, criterion.title, criterion.unit, target, None, len(samples), False, "unreachable"
        )
    figure = aggregate([m.value for m in samples], how)
    if any(m.bound == "at_least" and m.value >= figure for m in samples):
        # The figure rests on a cut-short wait: a lower bound, and not a met target.
        return CriterionResult(
            name, criterion.title, criterion.unit, target, figure, len(samples), False, "at_least"
        )
    met = (criterion.max is None or figure < criterion.max) and (
        criterion.min is None or figure >= criterion.min
    )
    return CriterionResult(name, criterion.title, criterion.unit, target, figure, len(samples), met)


def _failing_areas(records: Sequence[TestRecord]) -> str:
    executed = [r for r in records if r.outcome in EXECUTED]
    totals = Counter(area for r in executed for area in r.areas)
    failing = Counter(area for r in executed if r.outcome != "passed" for area in r.areas)
    return ", ".join(f"{area} {count}/{totals[area]}" for area, count in failing.most_common(3))


def _pass_rate(judged: Counter[str]) -> tuple[float | None, int]:
    """The pass rate of the tests that ran (None when none did), and how many ran."""
    executed = sum(judged[o] for o in EXECUTED)
    return (judged["passed"] / executed if executed else None), executed


def _problems(
    phase: PhaseConfig,
    found: PhaseRecords,
    counted: Sequence[TestRecord],
    judged: Counter[str],
    criteria: Sequence[CriterionResult],
    *,
    budget_exhausted: bool,
) -> list[str]:
    """Every unmet part of a gate with its numbers; none when the gate is met."""
    pass_rate, executed = _pass_rate(judged)
    problems = []
    if pass_rate is None:
        problems.append("no test ran")
    elif pass_rate < phase.min_pass_rate:
        problems.append(
            f"pass rate {pass_rate:.0%} ({judged['passed']}/{executed}), "
            f"needs {phase.min_pass_rate:.0%}"
        )
        if areas := _failing_areas(counted):
            problems.append(f"failing areas: {areas}")
    for result in criteria:
        if result.measured is None and not result.bound:
            problems.append(f"{result.title} not measured")
        elif not result.met:
            problems.append(
                f"{result.title} {format_value(result.measured, result.unit, result.bound)}, "
                f"target {result.target}"
            )
    if budget_exhausted:
        problems.append(
            f"budget of {phase.budget_s:g} s ran out with "
            f"{len(found.started_not_finished)} test(s) hung"
        )
    if judged["not_run"]:
        problems.append(f"{judged['not_run']} test(s) not run")
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
    nor do the suite's own defects (they measured nothing)."""
    records = found.records
    held = tuple(r.nodeid for r in records if quarantine.entry_for(r.nodeid) is not None)
    broken = tuple(r.nodeid for r in records if suite_defect(r) and r.nodeid not in held)
    ignored = {*held, *broken}
    counted = [r for r in records if r.nodeid not in ignored] if ignored else records
    counts = Counter(r.outcome for r in records)  # every test, so the counts add up
    judged = Counter(r.outcome for r in counted) if ignored else counts
    exercised = [r for r in records if r.nodeid not in broken] if broken else records
    criteria = tuple(
        evaluate_criterion(name, config.criteria[name], exercised) for name in phase.criteria
    )
    problems = _problems(phase, found, counted, judged, criteria, budget_exhausted=budget_exhausted)
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
        pass_rate=_pass_rate(judged)[0],
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
