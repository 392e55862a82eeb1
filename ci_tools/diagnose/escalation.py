"""Escalation: the rules of ``[tool.ci_tools.escalation]`` applied to the run's criteria and
facts. Pure: history facts (how many hours a part has been failing) are passed in as data;
until the run store gives them, a rule that needs one says so in a note."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Literal

from ci_tools.config import Config, EscalationLevel, EscalationRule
from ci_tools.phases import CriterionResult, evaluate_criterion, format_value
from ci_tools.records import TestRecord

# What a run is escalated to: the worst level of the rules that fired, "none" when none did.
Escalated = EscalationLevel | Literal["none"]
LEVEL_ORDER: dict[Escalated, int] = {"P0": 0, "P1": 1, "P2": 2, "none": 3}
# The facts only the run store gives (how long a part has been failing, run after run).
DURATION_FACTS = {"agent_pipeline_failing_h", "redis_down_h", "database_slow_runs"}


@dataclasses.dataclass(frozen=True)
class Fired:
    """A rule that fired, with the numbers that made it fire."""

    rule: str
    level: EscalationLevel
    because: str  # "database latency ≥ 10,012 ms (every sample) > 10,000 ms"

    def __str__(self) -> str:
        return f"{self.rule}: {self.because}"


@dataclasses.dataclass(frozen=True)
class Escalation:
    """The escalation level and the rules behind it."""

    level: Escalated
    fired: tuple[Fired, ...]
    notes: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        """Each fired rule as one phrase, worst first."""
        return tuple(str(f) for f in self.fired)


@dataclasses.dataclass(frozen=True)
class Fact:
    """A fact of the run (or of its history): a value and how to say it."""

    value: float
    text: str


def run_facts(records: Sequence[TestRecord], phase1_met: bool | None) -> dict[str, Fact]:
    """The facts the rules may name, from this run alone (the records of the tests that
    exercised the platform). The agent pipeline failed when no agent test passed and at
    least one failed: tests that never ran (pytest stopped, a cancel) are no agent outage."""
    agent = [r for r in records if "agent" in r.areas and r.outcome not in ("skipped",)]
    failed = [r for r in agent if r.outcome != "passed"]
    facts: dict[str, Fact] = {}
    if agent and len(failed) == len(agent) and any(r.outcome != "not_run" for r in failed):
        facts["agent_pipeline_failed"] = Fact(
            1.0, f"{len(failed)} of {len(agent)} agent tests failed or were stopped"
        )
    if phase1_met is False:
        facts["phase1_not_met"] = Fact(1.0, "the gate of phase 1 was not met")
    return facts


def _figure(
    rule: EscalationRule,
    config: Config,
    criteria: Mapping[str, CriterionResult],
    records: Sequence[TestRecord],
) -> CriterionResult | None:
    known = criteria.get(rule.criterion or "")
    criterion = config.criteria.get(rule.criterion or "")
    if criterion is None or rule.criterion is None:
        return None  # a default rule on a criterion this project does not define
    if rule.aggregate is None or rule.aggregate == criterion.aggregate:
        return known
    changed = criterion.model_copy(update={"aggregate": rule.aggregate})
    return evaluate_criterion(rule.criterion, changed, records)


def _crosses(rule: EscalationRule, value: float | None, bound: str) -> bool:
    if bound == "unreachable":  # never answered: beyond any latency, below any rate
        return True
    if value is None:
        return False
    if rule.above is not None:
        return value > rule.above
    if rule.below is not None:
        return value < rule.below and bound != "at_least"  # a lower bound proves no "below"
    return True


def escalate(
    config: Config,
    criteria: Sequence[CriterionResult],
    records: Sequence[TestRecord],
    facts: Mapping[str, Fact],
    *,
    store_answered: bool = False,
) -> Escalation:
    """The level the rules give, every fired rule with its numbers, and notes on rules that
    could not be judged (those of the run store's facts, when no store answered)."""
    by_name = {c.name: c for c in criteria}
    fired: list[Fired] = []
    waiting: list[str] = []
    for rule in config.escalation.rules:
        if not rule.enabled:
            continue
        if rule.criterion is not None:
            result = _figure(rule, config, by_name, records)
            if result is None or not result.samples:
                continue
            if _crosses(rule, result.measured, result.bound):
                # A lower bound fires a rule only past its threshold: "≥ 61,000 ms" is true.
                figure = format_value(result.measured, result.unit, result.bound)
                how = {"min": " (every sample)", "mean": " on average"}.get(
                    rule.aggregate or "", ""
                )
                limit = rule.above if rule.above is not None else rule.below
                sign = ">" if rule.above is not None else "<"
                bound = f" {sign} {format_value(limit, result.unit)}" if limit is not None else ""
                fired.append(Fired(rule.name, rule.level, f"{result.title} {figure}{how}{bound}"))
            continue
        fact = facts.get(rule.fact or "")
        if fact is None:
            if rule.fact in DURATION_FACTS and not store_answered:
                waiting.append(rule.name)
            continue
        if _crosses(rule, fact.value, ""):
            fired.append(Fired(rule.name, rule.level, fact.text))
    fired.sort(key=lambda f: LEVEL_ORDER[f.level])
    level: Escalated = fired[0].level if fired else "none"
    notes = (
        (f"not judged without run history: {', '.join(waiting)} (no run store answered)",)
        if waiting
        else ()
    )
    return Escalation(level, tuple(fired), notes)
