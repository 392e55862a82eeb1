"""The whole diagnosis of a run: verdict, gates, criteria, causes, escalation, counts, and
what is at risk (each priority's failing and not-run tests with what it protects)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from ci_tools.config import Config
from ci_tools.context.model import Context
from ci_tools.diagnose import evidence, findings
from ci_tools.diagnose.causes import Cause, FailureGroup, explain, group, headlines, rank
from ci_tools.diagnose.classify import (
    CONTRACT_FIELD,
    SUITE,
    Classified,
    classify,
    field_missing,
    group_signature,
    is_crash,
    missing_field,
    subagents,
)
from ci_tools.diagnose.escalation import Escalation, Fact, escalate, run_facts
from ci_tools.experiment import Reruns
from ci_tools.phases import CriterionResult, GateResult, evaluate_criteria
from ci_tools.records import PRIORITIES, Priority, TestRecord
from ci_tools.rules import INFRASTRUCTURE, RULES, TEST, WRONG_BEHAVIOUR, Rule

# A run's verdict: "incomplete" when a configured phase did not run or records of the run were
# lost (cut, unreadable, missing from its selection), "unknown" without a gate;
# "suite_broken" when the deploy is healthy on every test that exercised it, but tests failed
# for the suite's own defects (a deploy workflow may promote on it: the deploy broke nothing).
Verdict = Literal["healthy", "unhealthy", "incomplete", "unknown", "suite_broken"]


@dataclasses.dataclass(frozen=True)
class AtRisk:
    """A priority with tests failing or not run in this run, counted from its records."""

    priority: Priority
    label: str  # "P1 Core platform — $120K+ MRR"
    title: str
    protects: str  # "" when the priorities table states nothing
    tests: int  # the priority's selected tests in this run
    failing: int  # failed or error
    not_run: int

    @property
    def text(self) -> str:
        """``P1 Core platform — $120K+ MRR: 3 of 25 failing, 10 not run``."""
        if not self.failing:
            return f"{self.label}: {self.not_run} of {self.tests} not run"
        not_run = f", {self.not_run} not run" if self.not_run else ""
        return f"{self.label}: {self.failing} of {self.tests} failing{not_run}"


def at_risk(config: Config, records: Sequence[TestRecord]) -> tuple[AtRisk, ...]:
    """Each priority whose selected tests did not all pass or skip, P1 first; none when
    every test passed. Tests without a priority are not counted here."""
    found = []
    for name in PRIORITIES:
        mine = [r for r in records if r.priority == name]
        failing = sum(r.outcome in ("failed", "error") for r in mine)
        not_run = sum(r.outcome == "not_run" for r in mine)
        if not failing and not not_run:
            continue
        priority = config.priorities[name]
        found.append(
            AtRisk(
                name,
                config.priority_label(name),
                priority.title,
                priority.protects,
                len(mine),
                failing,
                not_run,
            )
        )
    return tuple(found)


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """The report stage's answer."""

    verdict: Verdict
    gates: tuple[GateResult, ...]
    criteria: tuple[CriterionResult, ...]
    groups: tuple[FailureGroup, ...]
    causes: tuple[Cause, ...]
    escalation: Escalation
    counts: dict[str, int]
    first_failed_phase: int | None
    held: tuple[str, ...]  # what worked, for the executive summary
    notes: tuple[str, ...] = ()  # bad input and other things the reader should know
    headlines: tuple[Cause, ...] = ()  # the independent causes the summary leads with
    retried: tuple[str, ...] = ()  # tests that passed only on a retry: flaky, not clean
    at_risk: tuple[AtRisk, ...] = ()  # priorities with tests failing or not run, P1 first
    # The experiment's finding of each failure (node id -> one of ci_tools.experiment.FINDINGS;
    # the suite's own defects, never run again, left out) and their counts; empty when the
    # run made no experiment.
    finding_of: dict[str, str] = dataclasses.field(default_factory=dict)
    findings: dict[str, int] = dataclasses.field(default_factory=dict)
    # Whether the deploy made anything worse: the failures that pass on the baseline and fail
    # again on the candidate (inferred ones counted); 0 when no failure needed comparing
    # (none, or only the suite's own defects); None when failures needed it and none was
    # compared (no experiment, or none could run: ``experiment_reason`` says why).
    regressions: int | None = 0
    not_compared: int = 0  # failures without a baseline to compare with (suite defects aside)
    inferred: int = 0  # failures not run again, judged as a failure of their group that was
    experiment_reason: str = ""  # why failures were not compared, when they share one reason

    @property
    def experiment_headline(self) -> str:
        """Whether this deploy made anything worse, in one sentence ("" when no failure
        needed comparing, or the run made no experiment): what the worklog, the summary and
        the terminal say."""
        return findings.headline(
            self.findings, self.not_compared, self.inferred, self.experiment_reason
        )


def _classified(
    records: Sequence[TestRecord],
    context: Context | None,
    *,
    healthy: Mapping[str, str] | None,
    suite_changed: Sequence[str],
    rules: Sequence[Rule] | None,
    reruns: Reruns | None = None,
) -> list[Classified]:
    # The run's own failures' entries: not those of their re-runs on either revision.
    own = {t.nodeid: t.entries for t in context.tests if not t.arm} if context else {}
    crashes = {
        s.role: tuple(sig.signature for sig in s.signatures if is_crash(sig.severity))
        for s in (context.services if context else ())
    }
    changed = evidence.changes(context, healthy)
    classified = []
    for record in records:
        if record.outcome not in ("failed", "error"):
            continue
        logs = own.get(record.nodeid, ())
        # A service that crashed at start-up refuses what it can (503, a 403 handshake).
        refused = {line.service for line in logs if (line.status or 0) >= 400}
        crashed = [sig for role in sorted(refused) for sig in crashes.get(role, ())]
        found_evidence = evidence.gather(record.failure, logs, changed, suite_changed)
        found = classify(record, logs, crashed, evidence=found_evidence, rules=rules)
        classified.append(
            Classified(
                record,
                found.rule,
                found.title,
                group_signature(record, logs, found),
                logs,
                evidence=found_evidence,
            )
        )
    classified = _by_field(_by_subagent(classified))
    if reruns is None or not reruns.plans:
        return explain(classified)
    # The experiment outranks the patterns: before symptoms go under their roots.
    explained = explain(findings.compared(classified, reruns))
    return findings.judged(explained, reruns.plans, rules if rules is not None else RULES)


def _by_field(classified: list[Classified]) -> list[Classified]:
    """A field missing from several endpoints of one service is one contract change: one
    cause naming every endpoint that lacked it."""
    endpoints: dict[tuple[str, str], set[str]] = {}
    for item in classified:
        worst = item.evidence.worst
        if item.rule.name == CONTRACT_FIELD.name and worst is not None and worst.endpoint:
            key = (missing_field(item.record), worst.service)
            endpoints.setdefault(key, set()).add(worst.endpoint)
    if not any(len(found) > 1 for found in endpoints.values()):
        return classified
    merged = []
    for item in classified:
        worst = item.evidence.worst
        if item.rule.name != CONTRACT_FIELD.name or worst is None:
            merged.append(item)
            continue
        key = (missing_field(item.record), worst.service)
        if len(endpoints.get(key, ())) < 2:
            merged.append(item)
            continue
        found = field_missing(*key, sorted(endpoints[key]))
        merged.append(
            dataclasses.replace(item, rule=found.rule, title=found.title, signature=found.title)
        )
    return merged


def _by_subagent(classified: list[Classified]) -> list[Classified]:
    """Wrong content in a test of several sub-agents goes under the one sub-agent other
    failures of the run already name: one defect, one cause."""
    named = {c.rule.part: c for c in classified if c.rule.part.endswith(" sub-agent")}
    moved = []
    for item in classified:
        owner = None
        if named and item.rule.name == WRONG_BEHAVIOUR.name and not item.rule.part:
            owner = next((named[p] for p in subagents(item.record.areas) if p in named), None)
        moved.append(
            item
            if owner is None
            else dataclasses.replace(
                item, rule=owner.rule, title=owner.title, signature=owner.signature
            )
        )
    return moved


def _not_run_by_cause(records: Sequence[TestRecord], titles: Sequence[str]) -> Counter[str]:
    """Tests fail-fast did not run, by the cause their reason names."""
    counts: Counter[str] = Counter()
    for record in records:
        if record.outcome != "not_run" or not record.reason:
            continue
        reason = record.reason.lower()
        title = next((t for t in titles if t.lower() in reason), None)
        if title is not None:
            counts[title] += 1
    return counts


def suite_broke(item: Classified) -> bool:
    """Whether the failure is put under a named defect of the suite (not a setup failure no
    evidence explains, which may still be the platform's)."""
    return item.failure_class == TEST and item.rule.part == SUITE


def _verdict(
    gates: Sequence[GateResult],
    classified: Sequence[Classified],
    criteria: Sequence[CriterionResult],
) -> Verdict:
    """From the gates, except that failures of the suite's own do not make a deploy
    unhealthy: when every failure is a test defect and every criterion measured on the tests
    that exercised the platform is met, the suite is broken, not the deploy."""
    if not gates:
        return "unknown"
    defects = sum(suite_broke(c) for c in classified)
    if any(g.status in ("not_met", "skipped") for g in gates):
        platform = [c for c in classified if not suite_broke(c)]
        hung = any(g.hung or g.budget_exhausted for g in gates)
        missed = any(c.samples and not c.met for c in criteria)
        if defects and not platform and not hung and not missed:
            return "suite_broken"
        return "unhealthy"
    if any(g.status == "not_run" for g in gates):
        return "incomplete"  # never "healthy" while a phase is unaccounted for
    return "suite_broken" if defects else "healthy"


def diagnose(
    config: Config,
    gates: Sequence[GateResult],
    records: Sequence[TestRecord],
    context: Context | None,
    notes: Sequence[str] = (),
    *,
    duration_facts: Mapping[str, Fact] | None = None,
    healthy_revisions: Mapping[str, str] | None = None,
    suite_changed: Sequence[str] = (),
    incomplete: Sequence[str] = (),
    experiment: Reruns | None = None,
    facts_of: Callable[[Diagnosis], Mapping[str, Fact]] | None = None,
) -> Diagnosis:
    """The run's diagnosis from its gates, records, (optional) deployment context and (optional)
    facts of the run store (None: no store answered): the revisions of the last healthy run,
    and the suite's files changed in git since it. Criteria, escalation and what is at risk
    count only the tests that exercised the platform: a test defect is not an outage.
    ``incomplete``: what the run lost ("phase 2: 36 of 72 records unreadable"): the verdict
    is "incomplete" and each loss leads the causes, whatever the records left say.
    ``experiment``: the run's re-runs on the baseline and the candidate, which outrank the
    patterns (see :mod:`ci_tools.diagnose.findings`). ``facts_of``: the run store's duration
    facts as they follow from the diagnosis itself (how long the parts its causes name have
    failed); its escalation is read again with them, the failures classified only once."""
    classified = _classified(
        records,
        context,
        healthy=healthy_revisions,
        suite_changed=suite_changed,
        rules=config.rules_table,
        reruns=experiment,
    )
    defects = {c.record.nodeid for c in classified if suite_broke(c)}
    exercised = [r for r in records if r.nodeid not in defects] if defects else list(records)
    plans = experiment.plans if experiment is not None else ()
    groups = group(classified, context, plans)
    criteria = evaluate_criteria(
        config,
        config.criteria,
        records,
        quarantined={t for g in gates for t in g.quarantined},
        defects=defects,
    )
    titles = sorted({c.title for c in classified}, key=len, reverse=True)
    causes = rank(classified, groups, criteria, context, _not_run_by_cause(records, titles))
    if not causes:  # no failing test, but a criterion may still have missed its target
        causes = tuple(
            Cause(
                f"{c.title} {'misses its target' if c.status == 'missed' else 'not measured'}",
                INFRASTRUCTURE,
                1.0,
                (c.text,),
            )
            for c in criteria
            if c.samples and not c.met
        )
    lost = tuple(
        Cause(
            line,
            INFRASTRUCTURE,
            1.0,
            (
                "the run's files are cut or missing: report its complete directory (the "
                "artifact) again, or run the phase again",
            ),
            part="the run's records",
        )
        for line in incomplete
    )
    causes = (*lost, *causes)
    phase1 = next((g for g in gates if g.phase == 1), None)
    facts = {
        **run_facts(exercised, None if phase1 is None else phase1.met),
        **(duration_facts or {}),
    }
    answered = duration_facts is not None or facts_of is not None
    counts = Counter(r.outcome for r in records)
    tally = findings.tally(classified, made=bool(plans))
    diagnosis = Diagnosis(
        verdict="incomplete" if incomplete else _verdict(gates, classified, criteria),
        gates=tuple(gates),
        criteria=criteria,
        groups=groups,
        causes=causes,
        escalation=escalate(config, criteria, exercised, facts, store_answered=answered),
        counts={
            "tests": len(records),
            "passed": counts["passed"],
            "failed": counts["failed"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
            "not_run": counts["not_run"],
            "suite_broken": len(defects),
        },
        first_failed_phase=next((g.phase for g in gates if g.status == "not_met"), None),
        held=tuple(f"phase {g.phase} {g.title}" for g in gates if g.met),
        notes=tuple(notes),
        headlines=headlines(causes),
        retried=tuple(r.nodeid for r in records if r.retries and r.outcome == "passed"),
        at_risk=at_risk(config, exercised),
        finding_of=tally.finding_of,
        findings=tally.findings,
        regressions=tally.regressions,
        not_compared=tally.not_compared,
        inferred=tally.inferred,
        experiment_reason=tally.reason,
    )
    if facts_of is None:
        return diagnosis
    facts = {**facts, **facts_of(diagnosis)}
    escalation = escalate(config, criteria, exercised, facts, store_answered=True)
    return dataclasses.replace(diagnosis, escalation=escalation)
