"""The experiment in the diagnosis: each failure's finding, its group's, and the run's.

The experiment (:mod:`ci_tools.experiment`) outranks the patterns: a failure that passes on
the baseline and fails again on the candidate is the deploy's doing (a *regression*), even when
the rules put it under the suite; one that fails on both is not the deploy's, and its class
says whose it is (the environment's, or a defect already there). A failure not run again
(over the experiment's limit) takes the result of a failure of its group (same signature) that
was run on both, said as inferred; one with none has *no baseline*, and why.

Pure: the run's re-runs (:class:`ci_tools.experiment.Reruns`) and context are passed in.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from ci_tools import defects
from ci_tools.context.model import Context
from ci_tools.diagnose.classify import Classified, regressed
from ci_tools.experiment import (
    FINDINGS,
    Arm,
    Comparison,
    Finding,
    Plan,
    Reruns,
    Shown,
    finding,
)
from ci_tools.records import TestRecord
from ci_tools.rules import INFRASTRUCTURE, RULES, TEST, Rule, failure_text, match
from ci_tools.wording import age

__all__ = [
    "NO_EXPERIMENT",
    "Rerun",
    "Tally",
    "compared",
    "counts",
    "headline",
    "judged",
    "regressions",
    "reruns",
    "tally",
]

NO_EXPERIMENT = "the run made no experiment"  # why, for a run without any plan


@dataclasses.dataclass(frozen=True)
class Rerun:
    """A failure run again on one revision, as its group shows it."""

    arm: Arm
    revision: str  # the revision(s) it ran on, as the plan or the context names them; ""
    outcome: str  # passed, failed, error, skipped, not_run; "" when it left no record
    message: str = ""  # the first line of its failure ("" when it passed)
    trace_url: str = ""  # its trace, from the context's entries of its arm; "" when none

    @property
    def where(self) -> str:
        """``on the baseline backend-00041-abc``, ``on the candidate backend-00042-def``."""
        named = f" {self.revision}" if self.revision else ""
        return f"on the baseline{named}" if self.arm == "baseline" else f"on the candidate{named}"


def _first(items: Iterable[Classified]) -> list[Classified]:
    return sorted(items, key=lambda i: (i.record.phase, i.record.start))


def compared(items: Sequence[Classified], reruns: Reruns) -> list[Classified]:
    """Each failure with its comparison and what its re-runs showed (the suite's defects, never
    run again, left as they are). One not run again takes what the first failure of its group
    run on both showed (``inferred_from``). A regression the rules put under the suite is the
    deployed code's (:func:`ci_tools.diagnose.classify.regressed`)."""
    eligible = [i for i in items if not defects.suite_defect(i.record)]
    found = reruns.comparisons(i.record for i in eligible)
    sources: dict[str, Classified] = {}
    kinds = {n: k for plan in reruns.plans for n, k in plan.kinds.items()}
    by_kind: dict[str, Classified] = {}  # the runner re-ran the first of each kind
    for item in _first(eligible):
        if found[item.record.nodeid].shown != "no baseline":
            sources.setdefault(item.signature, item)
            if item.record.nodeid in kinds:
                by_kind.setdefault(kinds[item.record.nodeid], item)
    done = []
    for item in items:
        comparison = found.get(item.record.nodeid)
        if comparison is None:
            done.append(item)
            continue
        shown: Shown = comparison.shown
        source = sources.get(item.signature) or by_kind.get(kinds.get(item.record.nodeid, ""))
        inferred = ""
        if shown == "no baseline" and source is not None:
            shown, inferred = found[source.record.nodeid].shown, source.record.nodeid
        found_ = dataclasses.replace(
            item, comparison=comparison, shown=shown, inferred_from=inferred
        )
        done.append(
            regressed(found_) if shown == "regression" and found_.failure_class == TEST else found_
        )
    return done


def _plan(nodeid: str, plans: Sequence[Plan]) -> Plan | None:
    return next((p for p in plans if nodeid in p.chosen), None)


def _roles(item: Classified, plan: Plan | None) -> list[str]:
    """The services of the baseline to name: the one the failure got its worst answer from,
    else every one the plan names."""
    if plan is None:
        return []
    worst = item.evidence.worst
    if worst is not None and worst.service in plan.revisions:
        return [worst.service]
    return sorted(plan.revisions)


def _seconds_apart(one: TestRecord | None, other: TestRecord | None) -> float | None:
    if one is None or other is None:
        return None
    try:
        begun = [datetime.datetime.fromisoformat(r.start) for r in (one, other)]
    except ValueError:
        return None
    return abs((begun[0] - begun[1]).total_seconds())


def _when(comparison: Comparison) -> str:
    """``in the same minute`` (the re-runs start at once), else how far apart they ran."""
    apart = _seconds_apart(comparison.again, comparison.baseline)
    if apart is None:
        return ""
    return " in the same minute" if apart < 60 else f" {age(apart)} apart"


def _environment(comparison: Comparison | None, rules: Sequence[Rule]) -> str:
    """The infrastructure cause the rules name of the baseline re-run's own failure, "" when
    it is not the environment's: a baseline failing for the environment says nothing of
    whether the defect was there before."""
    record = comparison.baseline if comparison else None
    if record is None or record.failure is None:
        return ""
    failure = record.failure
    named = match(
        failure_text(failure.type, failure.message, record.areas, failure.timed_out), rules
    )
    if named is None or named.rule.failure_class != INFRASTRUCTURE:
        return ""
    return named.title


def _reason(item: Classified, found: str, plans: Sequence[Plan]) -> str:
    """Why the failure has its finding, as its group and its cause say it."""
    comparison = item.comparison
    assert comparison is not None
    if found in ("no baseline", "flaky"):
        return comparison.reason if found == "no baseline" else "passed when run again"
    plan = _plan(item.record.nodeid, plans)
    named = ", ".join(plan.revisions[r] for r in _roles(item, plan)) if plan else ""
    baseline = f"the baseline {named}" if named else "the baseline"
    when = _when(comparison)
    if found == "regression":
        return f"passes on {baseline}{when}, fails again on the candidate"
    whose = "it failed before this deploy" if found == "pre-existing" else "the environment's"
    return f"fails on {baseline} too{when}: {whose}" + (
        ", not this deploy's" if found == "environment" else ""
    )


def judged(
    items: Sequence[Classified], plans: Sequence[Plan], rules: Sequence[Rule] = RULES
) -> list[Classified]:
    """Each compared failure with its finding and why: a failure on both is the environment's
    when its class is infrastructure, else a defect already there; unless its own class is
    not the infrastructure's and its baseline re-run failed for the environment (the rules
    read that failure): then the experiment compared nothing of it (*no baseline*). One not
    run again takes the finding of the failure of its group that was (``inferred_from``)."""
    own: dict[str, tuple[Finding, str]] = {}
    for item in items:
        if item.shown is None or item.inferred_from:
            continue
        environmental = item.failure_class == INFRASTRUCTURE
        fault = (
            "" if environmental or item.shown != "both" else _environment(item.comparison, rules)
        )
        if fault:  # the re-runs met the environment's fault, the first run did not
            own[item.record.nodeid] = (
                "no baseline",
                f"the baseline's re-run failed for the environment ({fault}): nothing to "
                "compare it with",
            )
            continue
        found = finding(item.shown, environmental=environmental)
        own[item.record.nodeid] = (found, _reason(item, found, plans))
    done = []
    for item in items:
        source = own.get(item.inferred_from or item.record.nodeid)
        if item.shown is None or source is None:
            done.append(item)
            continue
        found, reason = source
        if item.inferred_from:
            said = f"as {item.inferred_from}, run on both"
            reason = said if found != "no baseline" else f"{said}: {reason}"
        done.append(dataclasses.replace(item, finding=found, finding_reason=reason))
    return done


def counts(items: Iterable[Classified]) -> dict[str, int]:
    """How many failures have each finding, in the vocabulary's order; none without one."""
    found = Counter(i.finding for i in items if i.finding is not None)
    return {name: found[name] for name in FINDINGS if found[name]}


def _trace(context: Context | None, nodeid: str, arm: Arm) -> str:
    for test in context.tests if context else ():
        if test.nodeid == nodeid and test.arm == arm and test.trace_urls:
            return test.trace_urls[0]
    return ""


def _rerun(arm: Arm, revision: str, record: TestRecord | None, trace: str) -> Rerun:
    if record is None:
        return Rerun(arm, revision, "", trace_url=trace)
    failure = record.failure
    said = failure.message.splitlines()[0] if failure and failure.message else ""
    message = f"{failure.type}: {said}" if failure and record.outcome != "passed" else ""
    return Rerun(arm, revision, record.outcome, message.rstrip(": "), trace)


def reruns(item: Classified, context: Context | None, plans: Sequence[Plan]) -> tuple[Rerun, ...]:
    """The failure's re-runs, on the candidate then on the baseline, each with its outcome
    and its trace; none when it was not run again."""
    comparison = item.comparison
    nodeid = item.record.nodeid
    plan = _plan(nodeid, plans)
    if comparison is None or plan is None:
        return ()
    roles = _roles(item, plan)
    services = {s.role: s for s in context.services} if context else {}
    candidate = ", ".join(
        revision.name
        for role in roles
        if (revision := getattr(services.get(role), "revision", None)) is not None
    )
    return (
        _rerun("candidate", candidate, comparison.again, _trace(context, nodeid, "candidate")),
        _rerun(
            "baseline",
            ", ".join(plan.revisions[r] for r in roles),
            comparison.baseline,
            _trace(context, nodeid, "baseline"),
        ),
    )


def regressions(count: int) -> str:
    """``2 regressions of this deploy``, ``no regression of this deploy``."""
    if not count:
        return "no regression of this deploy"
    return f"{count} regression{'' if count == 1 else 's'} of this deploy"


def headline(findings: Mapping[str, int], not_compared: int, inferred: int, reason: str) -> str:
    """Whether the deploy made anything worse, in one sentence: ``2 regressions of this
    deploy; 4 failing on the baseline too, not this deploy's (environment 1, pre-existing
    3); 1 flaky``; or why it is not known. "" without a finding: no failure needed
    comparing, or the run made no experiment (a run before it, or of pytest alone)."""
    if not findings:
        return ""
    compared_ = sum(n for name, n in findings.items() if name != "no baseline")
    if not compared_:
        why = f": {reason}" if reason else ""
        return f"Not known whether this deploy caused the failures{why}."
    parts = [regressions(findings.get("regression", 0))]
    both = {name: findings.get(name, 0) for name in ("environment", "pre-existing")}
    if sum(both.values()):
        split = ", ".join(f"{name} {n}" for name, n in both.items() if n)
        parts.append(
            f"{sum(both.values())} failing on the baseline too, not this deploy's ({split})"
        )
    if findings.get("flaky"):
        parts.append(f"{findings['flaky']} flaky (passed when run again)")
    if not_compared:
        why = f" ({reason})" if reason else ""
        parts.append(f"{not_compared} not compared{why}")
    if inferred:
        parts.append(
            f"{inferred} of these inferred from a failure of the same signature run on both"
        )
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


@dataclasses.dataclass(frozen=True)
class Tally:
    """What the experiment found of the run's failures (see ``Diagnosis``)."""

    finding_of: dict[str, str] = dataclasses.field(default_factory=dict)
    findings: dict[str, int] = dataclasses.field(default_factory=dict)
    regressions: int | None = 0
    not_compared: int = 0
    inferred: int = 0
    reason: str = ""  # why failures were not compared, when they share one reason


def tally(classified: Sequence[Classified], *, made: bool) -> Tally:
    """The findings of the run's failures, counted (``made``: the run made an experiment: a
    plan says what was done, or why nothing was). Regressions are 0 when no failure needed
    comparing (the suite's own defects never do), None when failures did and none was."""
    needed = [c for c in classified if not defects.suite_defect(c.record)]
    if not needed:
        return Tally()
    if not made:
        return Tally(regressions=None, not_compared=len(needed), reason=NO_EXPERIMENT)
    found = counts(classified)
    compared_ = any(name != "no baseline" for name in found)
    reasons = {c.finding_reason for c in classified if c.finding == "no baseline"}
    return Tally(
        finding_of={c.record.nodeid: c.finding for c in classified if c.finding is not None},
        findings=found,
        regressions=found.get("regression", 0) if compared_ else None,
        not_compared=found.get("no baseline", 0),
        inferred=sum(bool(c.inferred_from) and c.finding != "no baseline" for c in classified),
        reason=reasons.pop() if len(reasons) == 1 else "",
    )
