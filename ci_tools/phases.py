"""The phase plan and its gates, shared by the noxfile, the runner and the report stage.

A gate is met when the phase's pass rate reaches its minimum and every criterion it names
holds on the values its tests measured. Evaluation is a pure function of the phase's records;
the result is written beside them as ``phaseN.gate.json``.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ci_tools._exceptions import GateFileError
from ci_tools.config import Config, CriterionConfig, PhaseConfig
from ci_tools.records import PhaseRecords, TestRecord

EXECUTED = ("passed", "failed", "error")


@dataclasses.dataclass(frozen=True)
class CriterionResult:
    """A criterion's measured figure beside its target."""

    name: str
    title: str
    unit: str
    target: str  # e.g. "< 3000 ms"
    measured: float | None  # None: nothing was measured
    samples: int
    met: bool


@dataclasses.dataclass(frozen=True)
class GateResult:
    """One phase's verdict with the numbers behind it."""

    phase: int
    title: str
    status: str  # "met", "not_met", "skipped", or (in the report only) "not_run"
    reason: str
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    pass_rate: float | None = None
    min_pass_rate: float = 1.0
    criteria: tuple[CriterionResult, ...] = ()
    hung: tuple[str, ...] = ()
    started_at: str = ""  # ISO 8601 UTC, when the phase's pytest process was launched
    duration_s: float = 0.0
    budget_s: float = 0.0
    budget_exhausted: bool = False
    bad_lines: int = 0

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
        return cls(**fields)


def gate_path(results_dir: Path, phase: int) -> Path:
    """Where phase N's gate result lives."""
    return results_dir / f"phase{phase}.gate.json"


def write_gate(results_dir: Path, gate: GateResult) -> Path:
    """Writes a gate result beside the phase's records."""
    path = gate_path(results_dir, gate.phase)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gate.as_json(), indent=2) + "\n")
    return path


def read_gate(results_dir: Path, phase: int) -> GateResult | None:
    """Phase N's gate result, or None when the phase has not been judged in this run."""
    path = gate_path(results_dir, phase)
    try:
        return GateResult.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:  # e.g. a truncated artifact
        raise GateFileError(str(path), type(exc).__name__, phase) from None


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


def format_value(value: float, unit: str) -> str:
    """A figure as the worklog prints it: ``5,012 ms``, ``97.5%``."""
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


def evaluate_criterion(
    name: str, criterion: CriterionConfig, records: Sequence[TestRecord]
) -> CriterionResult:
    """The criterion's figure over the phase's records, and whether it holds."""
    if criterion.source == "pass_rate":
        chosen = [
            r
            for r in records
            if r.outcome in EXECUTED
            and (criterion.priority is None or r.priority == criterion.priority)
        ]
        values = [1.0 if r.outcome == "passed" else 0.0 for r in chosen]
        how = "mean"
    else:
        values = [m.value for r in records for m in r.measurements if m.criterion == name]
        how = criterion.aggregate
    if not values:
        return CriterionResult(
            name, criterion.title, criterion.unit, target_text(criterion), None, 0, met=False
        )
    figure = aggregate(values, how)
    met = (criterion.max is None or figure < criterion.max) and (
        criterion.min is None or figure >= criterion.min
    )
    return CriterionResult(
        name, criterion.title, criterion.unit, target_text(criterion), figure, len(values), met
    )


def _failing_areas(records: Sequence[TestRecord]) -> str:
    executed = [r for r in records if r.outcome in EXECUTED]
    totals = Counter(area for r in executed for area in r.areas)
    failing = Counter(area for r in executed if r.outcome != "passed" for area in r.areas)
    return ", ".join(f"{area} {count}/{totals[area]}" for area, count in failing.most_common(3))


def evaluate_gate(
    number: int,
    phase: PhaseConfig,
    config: Config,
    found: PhaseRecords,
    *,
    started_at: str = "",
    duration_s: float = 0.0,
    budget_exhausted: bool = False,
) -> GateResult:
    """Phase N's gate over its records; the reason names every unmet part with its numbers."""
    records = found.records
    counts = Counter(r.outcome for r in records)
    executed = sum(counts[o] for o in EXECUTED)
    pass_rate = counts["passed"] / executed if executed else None
    criteria = tuple(
        evaluate_criterion(name, config.criteria[name], records) for name in phase.criteria
    )
    problems = []
    if pass_rate is None:
        problems.append("no test ran")
    elif pass_rate < phase.min_pass_rate:
        problems.append(
            f"pass rate {pass_rate:.0%} ({counts['passed']}/{executed}), "
            f"needs {phase.min_pass_rate:.0%}"
        )
        if areas := _failing_areas(records):
            problems.append(f"failing areas: {areas}")
    for result in criteria:
        if result.measured is None:
            problems.append(f"{result.title} not measured")
        elif not result.met:
            problems.append(
                f"{result.title} {format_value(result.measured, result.unit)}, "
                f"target {result.target}"
            )
    if budget_exhausted:
        problems.append(
            f"budget of {phase.budget_s:g} s ran out with "
            f"{len(found.started_not_finished)} test(s) hung"
        )
    met = not problems
    return GateResult(
        phase=number,
        title=phase.title,
        status="met" if met else "not_met",
        reason="; ".join(problems) if problems else "gate met",
        total=len(records),
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        pass_rate=pass_rate,
        min_pass_rate=phase.min_pass_rate,
        criteria=criteria,
        hung=found.started_not_finished,
        started_at=started_at,
        duration_s=round(duration_s, 3),
        budget_s=phase.budget_s,
        budget_exhausted=budget_exhausted,
        bad_lines=found.bad_lines,
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
