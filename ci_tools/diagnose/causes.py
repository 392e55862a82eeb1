"""Causes: failures grouped by signature, symptoms put under the root they follow from, and
the causes ranked with their evidence.

A *root* is a cause that names a broken part (Redis, the agent pipeline, a missing module).
A *symptom* (a 500, a refused connection, a timeout, a failed fixture) names none; when a root
of the same run explains it (its part serves the areas of the failed test), the symptom is put
under that root: one infrastructure fault is never reported as application failures too.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from ci_tools.context.model import Context, LogLine, ServiceContext
from ci_tools.diagnose.classify import NEUTRAL, Classified, is_crash, is_error
from ci_tools.diagnose.findings import Rerun, counts, reruns
from ci_tools.experiment import Plan
from ci_tools.phases import CriterionResult
from ci_tools.rules import CLASS_ORDER, FailureClass, Rule
from ci_tools.wording import created_before_first_failure, utc

SCORE: dict[FailureClass, float] = {"infrastructure": 3.0, "application": 2.0, "test": 1.0}


@dataclasses.dataclass(frozen=True)
class FailureGroup:
    """Failures sharing one signature."""

    signature: str
    failure_class: FailureClass
    cause: str
    tests: tuple[str, ...]
    phases: tuple[int, ...]
    file: str  # of the first test, for the annotation
    line: int
    message: str  # the first test's failure message
    logs: tuple[LogLine, ...]  # the first test's own log lines
    logs_url: str = ""
    trace_urls: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # the first test's evidence, one fact a line
    # The experiment: how many of its tests have each finding (in the vocabulary's order;
    # empty without an experiment); the finding, why, and the re-runs (on the candidate, then
    # on the baseline) of its first test run on both, else of its first test (``compared``);
    # ``inferred`` when that test was not run again but took a finding of its signature's.
    findings: dict[str, int] = dataclasses.field(default_factory=dict)
    finding: str = ""
    finding_reason: str = ""
    compared: str = ""
    reruns: tuple[Rerun, ...] = ()
    inferred: bool = False


@dataclasses.dataclass(frozen=True)
class Cause:
    """A ranked cause with its evidence."""

    title: str
    failure_class: FailureClass
    score: float
    evidence: tuple[str, ...]
    part: str = ""  # the broken part it names; "" for a symptom nothing explained
    tests: int = 0
    not_run: int = 0  # tests fail-fast did not run because of it

    @property
    def root(self) -> bool:
        """Whether it names a broken part."""
        return bool(self.part)

    def as_json(self) -> dict[str, Any]:
        """The cause as ``verdict.json`` holds it: its class under the key ``klass``, which
        workflows already read."""
        return {
            ("klass" if name == "failure_class" else name): value
            for name, value in dataclasses.asdict(self).items()
        }


def _compatible(item: Classified, root: Rule) -> bool:
    """Whether a symptom's own evidence fits the root: nothing of its own contradicts it (a
    dependency error or a 503, a timeout, no answer), or its own error lines name the root.
    A service that logged a code error of its own under a 500 is not explained by Redis."""
    worst = item.evidence.worst
    if worst is None or not worst.error:
        return worst is None or (worst.status or 0) != 500
    return bool(root.pattern.search(worst.error)) or (worst.status or 0) in (502, 503, 504)


def explain(classified: Sequence[Classified]) -> list[Classified]:
    """Puts each symptom under the root of the run that explains it (the one with the most
    failures, when several do) when its own evidence is compatible with that root."""
    roots = Counter(
        c.title for c in classified if not c.rule.symptom and c.rule.name not in NEUTRAL
    )
    rule_of = {c.title: c.rule for c in classified if c.title in roots}
    explained = []
    for item in classified:
        # A failure that passes on the baseline is not the environment's, which both share.
        movable = (item.rule.symptom or item.rule.name in NEUTRAL) and item.shown != "regression"
        candidates = (
            [
                t
                for t in roots
                if rule_of[t].failure_class == "infrastructure"
                and rule_of[t].explains(item.record.areas)
                and _compatible(item, rule_of[t])
            ]
            if movable
            else []
        )
        if not candidates:
            explained.append(item)
            continue
        root = max(candidates, key=lambda t: (roots[t], t))
        explained.append(
            dataclasses.replace(item, rule=rule_of[root], title=root, consequence_of=item.title)
        )
    return explained


def _experimented(
    group: FailureGroup,
    items: Sequence[Classified],
    context: Context | None,
    plans: Sequence[Plan],
) -> FailureGroup:
    """The group with its findings: those of its tests, and the finding, the reason and the
    re-runs of its first test run on both (else of its first test with a finding)."""
    judged = [i for i in items if i.finding is not None]
    if not judged:
        return group
    first = next(
        (
            i
            for i in judged
            if i.comparison is not None and i.finding != "no baseline" and not i.inferred_from
        ),
        judged[0],
    )
    return dataclasses.replace(
        group,
        findings=counts(judged),
        finding=first.finding or "",
        finding_reason=first.finding_reason,
        compared=first.record.nodeid,
        reruns=reruns(first, context, plans),
        inferred=bool(first.inferred_from),
    )


def group(
    classified: Sequence[Classified], context: Context | None, plans: Sequence[Plan] = ()
) -> tuple[FailureGroup, ...]:
    """Failures grouped by signature, infrastructure first, then by phase and size; each
    with its findings when the run made an experiment (``plans``)."""
    # The run's own failures' entries: not those of their re-runs on either revision.
    trace_urls = {t.nodeid: t.trace_urls for t in context.tests if not t.arm} if context else {}
    logs_urls = {
        f"{s.role}: {sig.signature}": sig.logs_url
        for s in (context.services if context else ())
        for sig in s.signatures
    }
    grouped: dict[str, list[Classified]] = defaultdict(list)
    for item in classified:
        grouped[item.signature].append(item)
    groups = []
    for sig, items in grouped.items():
        ordered = sorted(items, key=lambda i: (i.record.phase, i.record.start))
        first = ordered[0]
        titles = Counter(i.title for i in items)
        failure = first.record.failure
        found = FailureGroup(
            signature=sig,
            failure_class=min((i.failure_class for i in items), key=CLASS_ORDER.__getitem__),
            cause=titles.most_common(1)[0][0],
            tests=tuple(i.record.nodeid for i in items),
            phases=tuple(sorted({i.record.phase for i in items})),
            file=first.record.file,
            line=first.record.line,
            message=failure.message if failure else first.record.outcome,
            logs=first.logs,
            logs_url=logs_urls.get(sig, ""),
            trace_urls=trace_urls.get(first.record.nodeid, ()),
            evidence=first.evidence.lines(),
        )
        groups.append(_experimented(found, ordered, context, plans))
    groups.sort(key=lambda g: (CLASS_ORDER[g.failure_class], min(g.phases), -len(g.tests)))
    return tuple(groups)


def _service_evidence(service: ServiceContext, first_failure: str | None) -> list[str]:
    if service.unavailable:
        return [f"{service.role}: {service.unavailable}"]
    lines = []
    if service.service and service.service.not_ready_finding:
        lines.append(f"{service.role}: {service.service.not_ready_finding}")
    if service.revision is not None:
        created = ""
        if service.revision_age_s is not None and first_failure:
            created = f" was {created_before_first_failure(service.revision_age_s)}"
        lines.append(f"{service.role} revision {service.revision.name}{created}")
    if service.changes is not None:
        lines.append(f"{service.role}: {service.changes.summary}")
    crash = next((sig for sig in service.signatures if is_crash(sig.severity)), None)
    if crash is not None:
        lines.append(
            f"{service.role} logged {crash.severity} `{crash.signature}` "
            f"({crash.count}x, first at {utc(crash.first_seen)})"
        )
    return lines


def _shared(members: Sequence[FailureGroup]) -> str:
    """What the cause's groups share: `` share signature `...` `` or the most frequent of
    several; "" without a group."""
    if not members:
        return ""
    top = max(members, key=lambda g: len(g.tests))
    if len(members) == 1:
        return f" share signature `{top.signature}`"
    return f" in {len(members)} signatures, most often `{top.signature}` ({len(top.tests)})"


def _supporting(item: Classified) -> list[str]:
    """The facts of a failure's evidence that support its class: where it was raised and what
    the service answered, and the changes since the last healthy run that point the same way
    (the deployed code's for an application cause, the suite's for a test cause)."""
    evidence = item.evidence
    if item.failure_class == "infrastructure" or item.consequence_of:
        return []
    worst = evidence.worst
    answered = worst.text if worst is not None and (worst.status or worst.error) else ""
    found = [line for line in (evidence.raised, answered) if line]
    if item.failure_class == "application":
        found += [c.text for c in evidence.changes if c.changed]
    else:
        found += [c.text for c in evidence.changes if not c.changed][:2]
    return found


def _found(items: Sequence[Classified]) -> list[str]:
    """What the experiment found of a cause's failures (nothing when none was run on both):
    the finding and why of the first run on both, when they all have that finding; else
    how many have each."""
    judged = [i for i in items if i.finding is not None and i.finding != "no baseline"]
    if not judged:
        return []
    found = counts(judged)
    if len(found) > 1:
        return ["experiment: " + ", ".join(f"{name} {n}" for name, n in found.items())]
    first = next((i for i in judged if not i.inferred_from), judged[0])
    return [f"{first.finding}: {first.finding_reason}"]


def _evidence(
    items: Sequence[Classified],
    members: Sequence[FailureGroup],
    criteria: Sequence[CriterionResult],
    context: Context | None,
    *,
    not_run: int,
    first_failure: str | None,
) -> tuple[str, ...]:
    """One cause's evidence: its failures and signatures, the symptoms it explains, the tests
    it kept from running, the services its failures logged errors in, its missed criteria."""
    rule = items[0].rule
    where = f"phase {', '.join(map(str, sorted({i.record.phase for i in items})))}"
    evidence = [f"{len(items)} failure(s) in {where}{_shared(members)}"]
    evidence += _found(items)
    evidence += _supporting(items[0])
    symptoms = Counter(i.consequence_of for i in items if i.consequence_of)
    if symptoms:
        evidence.append(
            "also explains "
            + ", ".join(f"{n} × {symptom.lower()}" for symptom, n in symptoms.most_common())
        )
    if not_run:
        evidence.append(f"{not_run} test(s) depending on it not run (fail-fast)")
    services = {line.service for i in items for line in i.logs if is_error(line)}
    for service in context.services if context else ():
        if service.role in services or (
            service.unavailable is None
            and service.service is not None
            and service.service.not_ready_finding
        ):
            evidence += _service_evidence(service, first_failure)
    for criterion in criteria:
        if criterion.name in rule.criteria and not criterion.met and criterion.samples:
            evidence.append(criterion.text)
    return tuple(dict.fromkeys(evidence))


def rank(
    classified: Sequence[Classified],
    groups: Sequence[FailureGroup],
    criteria: Sequence[CriterionResult],
    context: Context | None,
    not_run: Counter[str],
) -> tuple[Cause, ...]:
    """One cause per title, with its evidence, infrastructure first, then by weight (more
    failures, earlier phases)."""
    by_title: dict[str, list[Classified]] = defaultdict(list)
    for item in classified:
        by_title[item.title].append(item)
    first_failure = min((c.record.start for c in classified), default=None)
    causes = []
    for title, items in by_title.items():
        rule = items[0].rule
        members = [g for g in groups if g.cause == title]
        evidence = _evidence(
            items, members, criteria, context, not_run=not_run[title], first_failure=first_failure
        )
        score = SCORE[rule.failure_class] * len(items) / min(i.record.phase for i in items)
        causes.append(
            Cause(
                title,
                rule.failure_class,
                round(score, 3),
                evidence,
                rule.part,
                len(items),
                not_run[title],
            )
        )
    return tuple(sorted(causes, key=lambda c: (CLASS_ORDER[c.failure_class], -c.score)))


def headlines(causes: Sequence[Cause]) -> tuple[Cause, ...]:
    """What the summary leads with: every independent root cause of every class (each
    explains failures the others do not), infrastructure first; without a root, the top
    cause."""
    roots = tuple(c for c in causes if c.root)
    return roots or tuple(causes[:1])
