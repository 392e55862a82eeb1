"""What the run store holds, as frozen dataclasses: a run and its results as written
(:class:`RunRow`, :class:`ResultRow`), and as read back for the analysis (:class:`PastRun`,
:class:`PastResult`, and :class:`Tally`: a window's results counted)."""

from __future__ import annotations

import dataclasses

COUNTED = ("passed", "failed", "error")  # skipped and not run say nothing of health


@dataclasses.dataclass(frozen=True)
class RunRow:
    """One run (one attempt of it) as the report stage records it."""

    run_id: str
    attempt: int
    env: str
    commit: str
    revisions: dict[str, str]  # role -> serving revision
    started: str  # ISO 8601 UTC
    finished: str
    verdict: str
    escalation: str
    first_failed_phase: int | None
    phases_ran: tuple[int, ...]
    outage: bool  # its failures say nothing of a test's own health
    agent_pipeline_failed: bool  # every agent test failed or was stopped
    redis_down: bool  # Redis refused or never answered
    database_min_ms: float | None  # the lowest database latency sample ("consistently")


@dataclasses.dataclass(frozen=True)
class ResultRow:
    """One test's result in a run, with the cause the diagnosis put it under."""

    nodeid: str
    file: str
    phase: int
    priority: str | None
    areas: tuple[str, ...]
    outcome: str  # passed, failed, error, skipped, not_run
    duration_s: float
    retries: int = 0  # failed attempts retried before the last (schema 0002)
    signature: str = ""
    cause: str = ""
    failure_class: str = ""  # the cause's; stored in the column ``cause_class``
    # The experiment's finding of this failure (one of ci_tools.experiment.FINDINGS); None
    # when none was made (a pass, no experiment). Schema 0003.
    finding: str | None = None


@dataclasses.dataclass(frozen=True)
class PastRun(RunRow):
    """A stored run, with its key."""

    key: int = 0


@dataclasses.dataclass(frozen=True)
class PastResult:
    """A stored result, reduced to what the analysis reads."""

    run: int  # the run's key
    nodeid: str
    file: str
    phase: int
    outcome: str
    cause: str
    failure_class: str
    duration_s: float = 0.0
    finding: str | None = None  # the experiment's, when it made one (schema 0003)


@dataclasses.dataclass(frozen=True)
class Tally:
    """The results of one file of one phase in one run, counted: those passed of those
    counted (passed, failed, error; 0 when all were skipped or not run). The window's
    success rates are read from these, counted where the results are."""

    run: int  # the run's key
    phase: int
    file: str
    passed: int
    counted: int
