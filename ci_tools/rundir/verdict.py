"""``verdict.json``: what a workflow acts on (hold traffic, roll back), as a typed dataclass.

The report stage writes it; anything after it (a later job, a script) reads it back with
``rundir.read.verdict`` (``RunVerdict.from_json``). Its first keys are the ``$GITHUB_OUTPUT``
values, as strings, in the same order (but ``causes``, the ranked causes, and ``regressions``
and ``not_compared``, numbers); the rest is the diagnosis as data.

Whether the deploy made anything worse, as the experiment found it (``ci_tools.experiment``):
``regressions``, the failures that pass on the baseline and fail again on the candidate, 0
when no failure needed comparing, null (``""`` in ``$GITHUB_OUTPUT``) when failures did and
none could be compared; ``not_compared``, the failures without a baseline to compare with. A
deploy made nothing worse that the suite saw when both are 0; the verdict and ``not_run``
still say what the suite did not see (a missed gate skips the phases after it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["RunVerdict"]

Json = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class RunVerdict:
    """One run's ``verdict.json``."""

    verdict: str  # healthy, unhealthy, suite_broken, incomplete, unknown (diagnose's Verdict)
    escalation: str  # P0, P1, P2 or "none" (config.EscalationLevel)
    first_failed_phase: int | None
    tests: int
    passed: int
    failed: int  # failed and errors
    skipped: int
    not_run: int
    top_cause: str
    headlines: tuple[str, ...] = ()
    causes: tuple[Json, ...] = ()  # the ranked causes, each as diagnose's Cause is
    escalation_reasons: tuple[str, ...] = ()
    escalation_rules: tuple[Json, ...] = ()
    notes: tuple[str, ...] = ()
    retried: tuple[str, ...] = ()
    at_risk: tuple[Json, ...] = ()
    new_failures: int | None = None  # None: judged without history
    known_failures: int | None = None
    flaky: tuple[str, ...] | None = None
    broken: tuple[str, ...] | None = None
    suite_broken: int = 0  # failures that are the suite's own defects, not the deploy's
    # The experiment (see the module's docstring): None is "not known", never 0.
    regressions: int | None = None
    not_compared: int = 0
    findings: dict[str, int] = dataclasses.field(default_factory=dict)  # finding -> failures

    def outputs(self) -> dict[str, str]:
        """The ``$GITHUB_OUTPUT`` values: every value a string (``causes`` is the headlines,
        joined)."""
        values = {
            "verdict": self.verdict,
            "escalation": self.escalation,
            "first_failed_phase": str(self.first_failed_phase or ""),
            "tests": str(self.tests),
            "passed": str(self.passed),
            "failed": str(self.failed),
            "skipped": str(self.skipped),
            "not_run": str(self.not_run),
            "top_cause": self.top_cause,
            "causes": "; ".join(self.headlines),
            "suite_broken": str(self.suite_broken),
            "regressions": "" if self.regressions is None else str(self.regressions),
            "not_compared": str(self.not_compared),
        }
        if self.new_failures is not None and self.known_failures is not None:
            values["new_failures"] = str(self.new_failures)
            values["known_failures"] = str(self.known_failures)
        return values

    def as_json(self) -> Json:
        """The document as written: the outputs first (``causes`` then holds the ranked
        causes), then the diagnosis."""
        document: Json = {**self.outputs()}
        document["causes"] = list(self.causes)
        document["regressions"] = self.regressions
        document["not_compared"] = self.not_compared
        document |= {
            "headlines": list(self.headlines),
            "escalation_reasons": list(self.escalation_reasons),
            "escalation_rules": list(self.escalation_rules),
            "notes": list(self.notes),
            "retried": list(self.retried),
            "at_risk": list(self.at_risk),
            "findings": dict(self.findings),
        }
        if self.flaky is not None and self.broken is not None:
            document["flaky"] = list(self.flaky)
            document["broken"] = list(self.broken)
        return document

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunVerdict:
        """Reads what ``as_json`` wrote; a missing or mistyped key raises ``KeyError``,
        ``TypeError`` or ``ValueError``."""

        def count(key: str) -> int | None:
            value = data.get(key)
            return None if value is None or value == "" else int(value)

        def texts(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in data.get(key, ()))

        def documents(key: str) -> tuple[Json, ...]:
            return tuple(dict(v) for v in data.get(key, ()))

        return cls(
            verdict=str(data["verdict"]),
            escalation=str(data["escalation"]),
            first_failed_phase=int(data["first_failed_phase"])
            if data["first_failed_phase"]
            else None,
            tests=int(data["tests"]),
            passed=int(data["passed"]),
            failed=int(data["failed"]),
            skipped=int(data["skipped"]),
            not_run=int(data["not_run"]),
            top_cause=str(data["top_cause"]),
            headlines=texts("headlines"),
            causes=documents("causes"),
            escalation_reasons=texts("escalation_reasons"),
            escalation_rules=documents("escalation_rules"),
            notes=texts("notes"),
            retried=texts("retried"),
            at_risk=documents("at_risk"),
            new_failures=count("new_failures"),
            known_failures=count("known_failures"),
            flaky=texts("flaky") if "flaky" in data else None,
            broken=texts("broken") if "broken" in data else None,
            suite_broken=count("suite_broken") or 0,
            # A verdict.json written before the experiment: not known, nothing compared.
            regressions=count("regressions"),
            not_compared=count("not_compared") or 0,
            findings={str(k): int(v) for k, v in dict(data.get("findings", {})).items()},
        )
