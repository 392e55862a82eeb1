"""The experiment that settles "did this deploy cause it?": a run's failures run again on the
baseline revision (the one serving traffic before the deploy) and, at the same moment, once
more on the candidate (the revision under test), on the same data stores and network.

What the runner did is a :class:`Plan` (``experiment.json``, written by the runner, read by
the report); each failure's finding comes from its three records: its first run on the
candidate, its run again on the candidate, its run on the baseline.

    regression    fails again on the candidate, passes on the baseline: this deploy's doing
    environment   fails on both, and its evidence is the environment's (a data store, the
                  network, a credential): not this deploy's
    pre-existing  fails on both, its evidence a defect (of the code or of the suite) that the
                  baseline already has: not this deploy's
    flaky         passes on the candidate when run again
    no baseline   nothing to compare it with: no baseline serves, the baseline cannot be
                  reached, the failure was over the limit or the budget ran out, or the
                  experiment is off

The split of "fails on both" into environment and pre-existing is the diagnosis's (by the
failure's class); this module says only what the runs showed (:data:`Shown`).

PYTEST_DONT_REWRITE: a data module with no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, get_args

from ci_tools.records import TestRecord

__all__ = [
    "ARMS",
    "FAILED",
    "FINDINGS",
    "Arm",
    "Comparison",
    "Finding",
    "Plan",
    "Reruns",
    "Shown",
    "compare",
    "comparisons",
    "finding",
]

Arm = Literal["baseline", "candidate"]
ARMS: tuple[Arm, ...] = ("baseline", "candidate")
Finding = Literal["regression", "environment", "pre-existing", "flaky", "no baseline"]
FINDINGS: tuple[Finding, ...] = (
    "regression",
    "environment",
    "pre-existing",
    "flaky",
    "no baseline",
)
# What the re-runs showed, before the diagnosis splits "both" by the failure's class.
Shown = Literal["regression", "both", "flaky", "no baseline"]
FAILED = frozenset({"failed", "error"})
Status = Literal["ran", "off", "no baseline", "unreachable", "nothing to re-run"]


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the runner did for the experiment of one run (or of one shard of it).

    ``status``: ``ran``; ``off`` (switched off); ``no baseline`` (none serves, none named);
    ``unreachable`` (the baseline answered nothing); ``nothing to re-run`` (every failure a
    suite defect, or none at all). ``reason`` says why in a sentence when it did not run.
    ``chosen``: the failures run again on both revisions; ``left``: those not, each with why
    (over the limit). ``stopped``: why the re-runs were stopped before their end ("" when
    they ended by themselves)."""

    status: Status
    reason: str = ""
    baseline: dict[str, str] = dataclasses.field(default_factory=dict)  # role -> URL, masked
    revisions: dict[str, str] = dataclasses.field(default_factory=dict)  # role -> revision
    source: str = ""  # "config" or "context": where the baseline's URLs came from
    chosen: tuple[str, ...] = ()
    left: tuple[tuple[str, str], ...] = ()
    started_at: str = ""
    duration_s: float = 0.0
    budget_s: float = 0.0
    stopped: str = ""
    # The re-runs' per-test timeout when shortened from the phase's (0: the phase's): a test
    # that waited out its first run would wait as long again on each revision.
    timeout_s: float = 0.0
    # Each failure's kind (node id -> the rule naming it, else its exception type): failures
    # of one kind are one defect, so an intermittent one shows in all of them.
    kinds: dict[str, str] = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The plan as one JSON object."""
        data = dataclasses.asdict(self)
        data["chosen"] = list(self.chosen)
        data["left"] = [list(pair) for pair in self.left]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """Reads what ``as_json`` wrote; raises KeyError/TypeError/ValueError on bad data."""
        status = data["status"]
        if status not in get_args(Status):
            raise ValueError(f"unknown experiment status {status!r}")
        return cls(
            status=status,
            reason=str(data.get("reason", "")),
            baseline={str(k): str(v) for k, v in dict(data.get("baseline", {})).items()},
            revisions={str(k): str(v) for k, v in dict(data.get("revisions", {})).items()},
            source=str(data.get("source", "")),
            chosen=tuple(str(n) for n in data.get("chosen", ())),
            left=tuple((str(n), str(why)) for n, why in data.get("left", ())),
            started_at=str(data.get("started_at", "")),
            duration_s=float(data.get("duration_s", 0.0)),
            budget_s=float(data.get("budget_s", 0.0)),
            stopped=str(data.get("stopped", "")),
            timeout_s=float(data.get("timeout_s", 0.0)),
            kinds={str(k): str(v) for k, v in dict(data.get("kinds", {})).items()},
        )

    def dumps(self) -> str:
        """The plan as the text of ``experiment.json``."""
        return json.dumps(self.as_json(), indent=2, sort_keys=True) + "\n"


@dataclasses.dataclass(frozen=True)
class Reruns:
    """What a run's directory holds of its experiments: the plans (one per phase, or per
    phase's shard) and the re-runs' records on each arm, by node id; ``notes`` say what could
    not be read."""

    plans: tuple[Plan, ...] = ()
    again: dict[str, TestRecord] = dataclasses.field(default_factory=dict)
    baseline: dict[str, TestRecord] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def comparisons(self, failures: Iterable[TestRecord]) -> dict[str, Comparison]:
        """Each failure's comparison, by node id (see :func:`comparisons`)."""
        return comparisons(failures, self.plans, self.again, self.baseline)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One failure's experiment: what the re-runs showed, why (for ``no baseline``), and the
    records of its re-runs on the candidate and on the baseline (None when not run)."""

    nodeid: str
    shown: Shown
    reason: str = ""
    again: TestRecord | None = None
    baseline: TestRecord | None = None


def compare(
    first: TestRecord, plan: Plan, again: TestRecord | None, baseline: TestRecord | None
) -> Comparison:
    """What the re-runs of the failure ``first`` showed: run again on the candidate
    (``again``) and on the baseline (``baseline``), under ``plan``."""
    nodeid = first.nodeid
    if plan.status != "ran" or nodeid not in plan.chosen:
        why = plan.reason or plan.status
        if plan.status == "ran":
            why = dict(plan.left).get(nodeid, "not run again")
        return Comparison(nodeid, "no baseline", why)
    if again is not None and again.outcome == "passed":
        return Comparison(nodeid, "flaky", "passed when run again", again, baseline)
    unfinished = plan.stopped or "it did not finish in the experiment"
    if again is None or again.outcome not in FAILED:
        return Comparison(nodeid, "no baseline", _why(again, unfinished), again, baseline)
    if baseline is None or baseline.outcome not in FAILED | {"passed"}:
        return Comparison(nodeid, "no baseline", _why(baseline, unfinished), again, baseline)
    if baseline.outcome == "passed":
        return Comparison(nodeid, "regression", "passes on the baseline", again, baseline)
    return Comparison(nodeid, "both", "fails on the baseline too", again, baseline)


def _why(record: TestRecord | None, unfinished: str) -> str:
    if record is None or record.outcome == "not_run":
        return unfinished if record is None else (record.reason or unfinished)
    return f"{record.outcome} in the experiment" + (f": {record.reason}" if record.reason else "")


def comparisons(
    failures: Iterable[TestRecord],
    plans: Sequence[Plan],
    again: Mapping[str, TestRecord],
    baseline: Mapping[str, TestRecord],
) -> dict[str, Comparison]:
    """Each failure's comparison (by node id), from the run's plans (one per shard, or one)
    and the re-runs' records on each arm (by node id). A failure no plan chose takes the
    reason of the plan that says why nothing ran; with no plan at all, the run had none."""
    chosen = {n: plan for plan in plans for n in plan.chosen}
    fallback = next((p for p in plans if p.status != "ran"), None) or (
        plans[0] if plans else Plan("off", "the run made no experiment")
    )
    found: dict[str, Comparison] = {}
    for record in failures:
        plan = chosen.get(record.nodeid)
        if plan is None:
            plan = next((p for p in plans if record.nodeid in dict(p.left)), fallback)
        found[record.nodeid] = compare(
            record, plan, again.get(record.nodeid), baseline.get(record.nodeid)
        )
    return _intermittent(found, {n: k for plan in plans for n, k in plan.kinds.items()})


def _intermittent(found: dict[str, Comparison], kinds: Mapping[str, str]) -> dict[str, Comparison]:
    """A regression whose kind also passed when run again is intermittent, not this deploy's:
    one run of a test that fails at random (a session dropped one time in three) fails on the
    candidate and passes on the baseline by chance; its kind's other failures show it."""
    passed_again: dict[str, int] = {}
    for nodeid, comparison in found.items():
        if comparison.shown == "flaky" and nodeid in kinds:
            passed_again[kinds[nodeid]] = passed_again.get(kinds[nodeid], 0) + 1
    for nodeid, comparison in found.items():
        kind = kinds.get(nodeid)
        if comparison.shown == "regression" and kind in passed_again:
            found[nodeid] = dataclasses.replace(
                comparison,
                shown="flaky",
                reason=f"intermittent: {passed_again[kind]} other failure(s) of its kind "
                f"({kind}) passed when run again",
            )
    return found


def finding(shown: Shown, environmental: bool) -> Finding:
    """The experiment's finding: ``both`` is the environment's when the failure's evidence is
    (``environmental``: its class is infrastructure), else a defect already there."""
    if shown == "both":
        return "environment" if environmental else "pre-existing"
    return shown
