"""The fault matrix: each fault of the reference platform, each defect of the suite (and
mixes of them) run through the main job, with what a reviewer expects of its diagnosis.

A case is one run of the real main job, ``nox -s e2e -- --fault X ...`` (in the interpreter
that runs this code, no new virtualenv: ``--no-venv --no-install`` with that interpreter's
``bin`` first on ``PATH``). Its result holds the wall time of that command (seconds to
verdict), the run directory it names (``worklog: reports/<run>/worklog.md``), its
``verdict.json``, and per phase that ran its records, its selection and its gate.

Three classes of fault: the platform's infrastructure faults, its code defects (revision
faults: ``handler_error``, ``subagent_wrong=NAME``, ``contract_change``,
``events_out_of_order``), and the suite's own defects (``suite_defects.py``), for which the
main job runs from a broken copy of the suite, the committed tests untouched. The class each
failure must be put under is the case's ``fault_class``, or for a mix the class its node id
names in ``failure_classes``: the truth the precision and recall are computed against.

The main job always uses the same platform directory (``.stack/e2e``) and stops whatever runs
there first, so runs never overlap: :func:`run_case` holds a file lock for the whole run, whatever
runs it (pytest, xdist workers, the benchmark).

Shared by ``tests/integration/test_fault_matrix.py`` and ``benchmarks/fault_matrix.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from ci_tools import rundir
from ci_tools.config import load
from ci_tools.context.analysis import parse_time
from ci_tools.diagnose import Diagnosis, Escalated, diagnose
from ci_tools.phases import GateResult
from ci_tools.records import Selected, TestRecord, read_records, read_selected
from ci_tools.rules import FailureClass
from ci_tools.rundir import read
from reference_platform import stack
from tests.integration.helpers import service_secrets
from tests.integration.suite_defects import broken_copy

ROOT = Path(__file__).resolve().parents[2]
E2E_STACK_DIR = ROOT / ".stack" / "e2e"  # noxfile.E2E_STACK_DIR: the main job's platform
LOCK = ROOT / ".stack" / "fault-matrix.lock"
NOX_TIMEOUT_S = 600.0
# What the run directory must never hold: a JSON Web Token (the suite logs in and carries
# access tokens), or a URL with its password (the backend's DATABASE_URL).
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@\"']*:(?!\[REDACTED\]@)[^@\s/\"']+@")
_WORKLOG = re.compile(r"worklog: (?:\S*/)?reports/(?P<run>[^/\s]+)/worklog\.md")


@dataclasses.dataclass(frozen=True)
class Headline:
    """A cause a headline must name, whatever its exact wording: one headline holds every
    word (case-insensitive; ``a|b``: either), and its cause is of ``failure_class``."""

    words: tuple[str, ...]
    failure_class: FailureClass

    def named_by(self, headline: str) -> bool:
        """Whether the headline holds every word (one of each word's alternatives)."""
        text = headline.lower()
        return all(any(w.lower() in text for w in word.split("|")) for word in self.words)

    def __str__(self) -> str:
        return " + ".join(self.words)


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the matrix: the faults injected and what their diagnosis must say."""

    name: str  # the test id
    faults: tuple[str, ...]  # as written after --fault
    verdict: Literal["healthy", "unhealthy", "suite_broken"]
    stopped_at: int | None  # the phase whose gate stopped the run (first_failed_phase)
    causes: tuple[str, ...]  # cause titles expected among the headlines
    escalation: Escalated  # what the brief's escalation rules give
    max_seconds: float  # seconds to verdict: the main job's wall time
    why: str  # how the brief's rules give that escalation, for the reviewer
    cause_failure_class: FailureClass = "infrastructure"  # the class of the expected causes
    # The class every failure of the run must be put under: the one the injected fault
    # implies (None: a healthy run has no failure).
    fault_class: FailureClass | None = "infrastructure"
    worklog: tuple[str, ...] = ()  # phrases the worklog must hold (its evidence)
    # A fault of one part that others do not need: every test of the ``spared`` areas that
    # does not also need the ``broken`` area must pass (and at least one must have run).
    spared: tuple[str, ...] = ()
    broken: str = ""
    # The suite's defect (a name of suite_defects.SUITE_DEFECTS): the main job runs from a
    # copy of the suite with it applied. "" runs the committed suite.
    suite_defect: str = ""
    # For a mix of classes: (node id fragment, class) pairs; a failed test whose node id holds
    # the fragment is of that class (the first that fits), any other of fault_class. Each
    # fragment must fit a failure of the run, so a cause that did not show is a miss.
    failure_classes: tuple[tuple[str, FailureClass], ...] = ()
    # Causes the headlines must name by their part, whatever the exact title (the endpoint,
    # the sub-agent, the field, the file of the suite).
    names: tuple[Headline, ...] = ()
    # One defect is one cause, not one per test or endpoint: the most causes the run may show.
    max_causes: int | None = None
    # The experiment's finding every failure must get (``a|b``: either; None: from the faults'
    # scope, see ``expected_finding``), and for a mix (node id fragment, finding) pairs.
    finding: str | None = None
    failure_findings: tuple[tuple[str, str], ...] = ()
    # For a mix whose causes differ in scope: (cause title, finding) pairs; a failure put
    # under that cause must get that finding.
    cause_findings: tuple[tuple[str, str], ...] = ()

    @property
    def nox_args(self) -> tuple[str, ...]:
        """The arguments after ``--`` of ``nox -s e2e``."""
        return tuple(arg for fault in self.faults for arg in ("--fault", fault))

    def expected_class(self, nodeid: str) -> FailureClass | None:
        """The class a failed test of the run must be put under (None: none should fail)."""
        return next(
            (found for fragment, found in self.failure_classes if fragment in nodeid),
            self.fault_class,
        )

    def expected_finding(self, nodeid: str, cause: str = "") -> str | None:
        """The finding(s) the experiment must give a failed test put under ``cause`` (``a|b``:
        either; None: the failure is the suite's own defect, which is not run again)."""
        found = next((f for fragment, f in self.failure_findings if fragment in nodeid), None)
        found = found or next((f for title, f in self.cause_findings if title == cause), None)
        if found is not None:
            return found
        if self.expected_class(nodeid) == "test" and self.suite_defect:
            return None
        return self.finding or scoped_finding(self.faults)

    @property
    def classes(self) -> set[FailureClass]:
        """Every class the case's causes may be of."""
        found: set[FailureClass] = {klass for _, klass in self.failure_classes}
        found |= {headline.failure_class for headline in self.names}
        if self.causes:
            found.add(self.cause_failure_class)
        if self.fault_class is not None:
            found.add(self.fault_class)
        return found

    @property
    def mixed(self) -> bool:
        """Causes of more than one class are expected."""
        return len(self.classes) > 1


# How far a fault reaches when the platform serves a candidate and a baseline, as on Cloud Run:
# a revision's own (its image, its env) breaks the candidate only: its failures are this
# deploy's regressions; the environment's (the data stores, the network, the agent's
# provider) breaks both; ``NAME@baseline`` ships the revision's fault in the baseline too.
CANDIDATE_ONLY = frozenset(
    {
        "missing_secret",
        "missing_module",
        "handler_error",
        "subagent_wrong",
        "contract_change",
        "events_out_of_order",
    }
)


def scoped_finding(faults: tuple[str, ...]) -> str:
    """The finding the faults' scope implies: a regression when every fault is the
    candidate's own; pre-existing when a revision's fault is in the baseline too; else the
    environment's."""
    names = [fault.split("=", 1)[0] for fault in faults]
    if names and all(name in CANDIDATE_ONLY for name in names):
        return "regression"
    if any(name.endswith("@baseline") for name in names):
        return "pre-existing"
    return "environment"


REDIS = "Redis unreachable (connection refused)"
SECRET = "Secret or env var JWT_SECRET missing"
DATABASE = "Database slow"
AGENT = "Agent pipeline hangs"
WEBSOCKET = "WebSocket sessions dropped (1011)"
MODULE = f"Module '{stack.MISSING_MODULE}' missing at import"
DATA_SUBAGENT = "Data sub-agent fails (its source is unavailable)"
OPTIMIZATION_SUBAGENT = "Optimization sub-agent hangs"
# What a headline must name for each code or suite defect (its exact wording is the
# diagnosis's): the endpoint and its status, the sub-agent, the field, the event order, the
# suite's file or name.
HANDLER = Headline(("/api/threads", "500"), "application")
DATA_WRONG = Headline(("data sub-agent",), "application")
CONTRACT = Headline(("content", "field|key|missing|renamed"), "application")
ORDER = Headline(("order|agent_thinking|tool_executing",), "application")
HELPER = Headline(("client.py",), "test")
ASSERTION = Headline(("test_auth_refresh|test_signup_of_a_taken_email_is_refused",), "test")
FIXTURE = Headline(("conftest",), "test")
IMPORT = Headline(("test_agent_pipeline|wait_for_answer",), "test")
CACHE_PROBE = "test_redis_backed_cache_serves_recent_threads"  # phase 1's one thread creator
TAKEN_EMAIL = "test_signup_of_a_taken_email_is_refused"  # the wrong_assertion's test
DATA_SPARED = ("agent.triage", "agent.optimization", "agent.reporting", "agent.general")
NO_SUITE_ESCALATION = "none: a defect of the suite exercised no function of the platform"


def _code_defect(
    fault: str,
    stopped_at: int,
    max_seconds: float,
    why: str,
    part: Headline,
    *,
    worklog: tuple[str, ...] = (),
    spared: tuple[str, ...] = (),
    broken: str = "",
) -> Case:
    """A code defect of the backend alone: unhealthy, no escalation, every failure and its
    one cause application, the headline naming ``part``."""
    return Case(
        fault,
        (fault,),
        "unhealthy",
        stopped_at,
        (),
        "none",
        max_seconds,
        why,
        cause_failure_class="application",
        fault_class="application",
        worklog=worklog,
        spared=spared,
        broken=broken,
        names=(part,),
        max_causes=1,
    )


def _suite_defect(name: str, stopped_at: int | None, max_seconds: float, part: Headline) -> Case:
    """A defect of the suite alone (``suite_defects.SUITE_DEFECTS``), run from a broken copy:
    suite_broken, no escalation, every failure and its one cause test, the headline naming
    ``part``."""
    return Case(
        name,
        (),
        "suite_broken",
        stopped_at,
        (),
        "none",
        max_seconds,
        NO_SUITE_ESCALATION,
        cause_failure_class="test",
        fault_class="test",
        names=(part,),
        suite_defect=name,
        max_causes=1,
    )


CASES: tuple[Case, ...] = (
    Case(
        "healthy",
        (),
        "healthy",
        None,
        (),
        "none",
        60.0,
        "no rule fires: every criterion within its target",
        fault_class=None,
        worklog=("Deploy healthy",),
    ),
    Case(
        "redis_down",
        ("redis_down",),
        "unhealthy",
        1,
        (REDIS,),
        "P0",
        20.0,
        "WebSocket failing: every handshake closes with 1011 (session store unavailable), "
        "success 0% < 50%; P1 tests also < 80%; no rule for phase 1's gate itself",
        worklog=("phases 2–5 not run: gate of phase 1 not met", "Redis latency unreachable"),
    ),
    Case(
        "db_slow=5000",
        ("db_slow=5000",),
        "unhealthy",
        1,
        (DATABASE,),
        "P1",
        30.0,
        "database slow: latency ≈ 5,000 ms > 5 s (P1); not > 10 s, so no P0",
    ),
    Case(
        "db_slow=12000",
        ("db_slow=12000",),
        "unhealthy",
        1,
        (DATABASE,),
        "P0",
        50.0,
        "database slow consistently: every latency sample > 10 s (P0)",
        worklog=("database slow consistently",),
    ),
    Case(
        "missing_secret",
        ("missing_secret",),
        "unhealthy",
        1,
        (SECRET,),
        "P1",
        20.0,
        "P1 tests failing: no token can be issued, the P1 tests of phase 1 pass < 80%",
    ),
    Case(
        "agent_hang",
        ("agent_hang",),
        "unhealthy",
        2,
        (AGENT,),
        "P1",
        45.0,
        "agent pipeline down: every agent test failed or was stopped (P1)",
        worklog=(
            "depending on it not run (fail-fast)",
            "Agent pipeline p50 not measured: no answer within",
        ),
    ),
    Case(
        "ws_drop=0.3",
        ("ws_drop=0.3",),
        "unhealthy",
        2,
        (WEBSOCKET,),
        "none",
        30.0,
        "no rule fires: WebSocket success stays above 50% and the P1 tests above 80%",
        # Sessions dropped at random on both revisions: run again, a test fails on both or
        # passes; never a regression.
        finding="environment|flaky",
    ),
    Case(
        "missing_module",
        ("missing_module",),
        "unhealthy",
        1,
        (MODULE,),
        "P0",
        20.0,
        "WebSocket failing: every backend URL answers 503, handshakes included (0% < 50%)",
        worklog=("was created but is not ready", "ModuleNotFoundError"),
    ),
    Case(
        "subagent_error=data",
        ("subagent_error=data",),
        "unhealthy",
        3,
        (DATA_SUBAGENT,),
        "none",
        30.0,
        "no rule of the brief fires: phase 2 needs no data sub-agent (its P1 tests pass) and "
        "the other sub-agents' tests pass, so the agent pipeline is not down",
        # No fail-fast phrase: phase 3 starts its sub-agent tests 8 at once, so none is left
        # waiting to skip (fail-fast by sub-agent: tests/unit/test_subagent_rules.py).
        worklog=("Data sub-agent fails",),
        spared=("agent.triage", "agent.optimization", "agent.reporting", "agent.general"),
        broken="agent.data",
    ),
    Case(
        "subagent_hang=optimization",
        ("subagent_hang=optimization",),
        "unhealthy",
        3,
        (OPTIMIZATION_SUBAGENT,),
        "none",
        45.0,
        "no rule of the brief fires: the P1 tests pass, the other sub-agents answer, and the "
        "pipeline's p50 is measured on the runs that complete",
        # No fail-fast phrase: phase 3 starts its sub-agent tests 8 at once, so none is left
        # waiting to skip (fail-fast by sub-agent: tests/unit/test_subagent_rules.py).
        worklog=("Optimization sub-agent hangs",),
        spared=("agent.triage", "agent.data", "agent.reporting", "agent.general"),
        broken="agent.optimization",
    ),
    Case(
        "redis_down+missing_secret",
        ("redis_down", "missing_secret"),
        "unhealthy",
        1,
        (REDIS, SECRET),
        "P1",
        20.0,
        "P1 tests failing (two independent causes, both headlines)",
        worklog=("**2 independent causes:**",),
        # The secret is the candidate's own (a regression), Redis everyone's: a test that
        # needs a token and Redis fails on the baseline too, for Redis (the environment).
        cause_findings=((SECRET, "regression|environment"), (REDIS, "environment")),
    ),
    Case(
        "agent_hang+db_slow=5000",
        ("agent_hang", "db_slow=5000"),
        "unhealthy",
        1,
        (DATABASE,),
        "P1",
        45.0,
        "database slow (P1): phase 1 stops on the database before any agent test runs",
    ),
    # Code defects of the backend's revision: application, naming the part.
    _code_defect(
        "handler_error",
        1,
        20.0,
        "no rule fires: only phase 1's thread creator fails, the P1 tests stay above 80% and "
        "every WebSocket session serves",
        HANDLER,
        worklog=("AttributeError",),
    ),
    _code_defect(
        "subagent_wrong=data",
        4,
        45.0,
        "no rule fires: the data sub-agent answers (wrongly) in time, the other sub-agents' "
        "tests and the P1 tests pass (phase 3 has one data test: its 95% gate holds; phase 4's "
        "data cases stop the run)",
        DATA_WRONG,
        spared=DATA_SPARED,
        broken="agent.data",
    ),
    _code_defect(
        "contract_change",
        2,
        30.0,
        "no rule fires: only the tests reading a message's content fail, the P1 tests stay "
        "above 80%, the agent answers",
        CONTRACT,
    ),
    _code_defect(
        "events_out_of_order",
        2,
        30.0,
        "no rule fires: the runs complete in time and only the tests of the event order fail "
        "(the P1 tests stay above 80%)",
        ORDER,
    ),
    # A defect already shipped: the baseline has it too, so it is not this deploy's doing.
    _code_defect(
        "handler_error@baseline",
        1,
        20.0,
        "no rule fires: only phase 1's thread creator fails, as handler_error",
        HANDLER,
        worklog=("AttributeError",),
    ),
    # Defects of the suite, run from a broken copy of it: test, suite_broken, no escalation.
    # The helper's assertion ("read messages: HTTP 404") counts at phase 2's gate.
    _suite_defect("helper_bug", 2, 20.0, HELPER),
    _suite_defect("wrong_assertion", None, 40.0, ASSERTION),
    # Phase 2's gate leaves the errors out; phase 3's first-chunk criterion is unmeasured.
    _suite_defect("fixture_error", 3, 30.0, FIXTURE),
    _suite_defect("import_error", None, 40.0, IMPORT),
    # Mixes of classes: every cause named, each failure under its own.
    Case(
        "handler_error+redis_down",
        ("handler_error", "redis_down"),
        "unhealthy",
        1,
        (REDIS,),
        "P0",
        30.0,
        "WebSocket failing: every handshake closes with 1011 (Redis), success 0% < 50%",
        names=(HANDLER,),
        failure_classes=((CACHE_PROBE, "application"),),
        # The thread creator's 500 is the candidate's, but on the baseline it meets Redis
        # first: the experiment cannot compare it.
        failure_findings=((CACHE_PROBE, "no baseline"),),
        worklog=("**2 independent causes:**",),
        max_causes=2,
    ),
    Case(
        "subagent_wrong=data+wrong_assertion",
        ("subagent_wrong=data",),
        "unhealthy",
        4,
        (),
        "none",
        50.0,
        "no rule fires: the data sub-agent answers wrongly in time, and the suite's wrong "
        "assertion exercised nothing",
        cause_failure_class="application",
        fault_class="application",
        names=(DATA_WRONG, ASSERTION),
        suite_defect="wrong_assertion",
        failure_classes=((TAKEN_EMAIL, "test"),),
        spared=DATA_SPARED,
        broken="agent.data",
        max_causes=2,
    ),
)
BY_NAME = {case.name: case for case in CASES}


@dataclasses.dataclass(frozen=True)
class PhaseRun:
    """What one phase left in the run directory."""

    number: int
    gate: GateResult
    records: tuple[TestRecord, ...]
    selected: tuple[Selected, ...]
    has_selected_file: bool

    @property
    def ran(self) -> bool:
        """Whether its tests ran (its gate was judged, not skipped)."""
        return self.gate.status in ("met", "not_met")


@dataclasses.dataclass(frozen=True)
class CaseResult:
    """One run of the main job for a case."""

    case: Case
    seconds: float  # wall time of the main job: seconds to verdict
    exit_code: int
    output: str  # the main job's stdout and stderr
    run_dir: Path
    verdict: dict[str, Any]  # verdict.json
    phases: tuple[PhaseRun, ...]
    secrets: tuple[str, ...]  # the backend's JWT secret and database password, while it ran
    ended_at: float = 0.0  # when the main job ended (epoch seconds)

    @property
    def causes(self) -> list[dict[str, Any]]:
        """verdict.json's ranked causes."""
        return list(self.verdict["causes"])

    @property
    def ran(self) -> tuple[PhaseRun, ...]:
        """The phases whose tests ran."""
        return tuple(p for p in self.phases if p.ran)

    @functools.cached_property
    def diagnosis(self) -> Diagnosis:
        """The run diagnosed again from its directory (once: the test and the benchmark read
        it)."""
        return diagnosed(self.run_dir)

    @property
    def classes(self) -> dict[str, str]:
        """Each failed test's class, as diagnosed."""
        records = [r for phase in self.phases for r in phase.records]
        return predicted_classes(self.diagnosis, records)

    @property
    def findings(self) -> dict[str, str]:
        """Each failed test's finding of the experiment, as diagnosed (suite defects have
        none: they are not run again)."""
        return dict(self.diagnosis.finding_of)

    @functools.cached_property
    def experiment_s(self) -> float:
        """What the experiment took, its phases' re-runs all at once (0 when none ran)."""
        plans = read.experiment(self.run_dir).plans
        return max((plan.duration_s for plan in plans), default=0.0)

    @property
    def floor_s(self) -> tuple[float, float]:
        """The case's own floor, as issue 24 defines it, in its two parts: (the platform's
        start and one phase start-up: from the main job's start to the first test of its
        first phase; the longest failing test or stall). Earlier phases' tests, the
        experiment and the report are left out: they are on top of it."""
        starts = [
            parse_time(r.start).timestamp()
            for phase in self.ran
            for r in phase.records
            if r.outcome != "not_run"
        ]
        failing = [
            r.duration_s
            for phase in self.ran
            for r in phase.records
            if r.outcome in ("failed", "error")
        ]
        before = min(starts, default=self.ended_at) - (self.ended_at - self.seconds)
        return before, max(failing, default=0.0)

    @property
    def gated_floor_s(self) -> float:
        """What a gated run of the case with its experiment must take at least: the start
        (``floor_s``'s first part), each phase that ran its longest test, and the
        experiment."""
        longest = sum(max((r.duration_s for r in phase.records), default=0.0) for phase in self.ran)
        return self.floor_s[0] + longest + self.experiment_s


def main_job_environ(history_url: str | None = None) -> dict[str, str]:
    """The main job's environment: this interpreter's tools first on PATH, no GitHub
    Actions variables (a matrix run must not write the workflow's summary or outputs), and
    the run store at ``history_url`` (a case is judged alone: in a store of its own)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "CI_TOOLS_", "PYTEST_", "NOX_"))
    }
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["PYTHONPATH"] = ""
    if history_url is not None:
        env["CI_TOOLS_HISTORY_URL"] = history_url
    return env


@contextlib.contextmanager
def main_job_lock() -> Iterator[None]:
    """Held while the main job runs: one main job at a time on this checkout."""
    LOCK.parent.mkdir(exist_ok=True)
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _SecretWatch(threading.Thread):
    """Reads the backend's secrets from its process environment while the main job's platform
    runs (the platform writes them nowhere, and they die with it)."""

    def __init__(self, done: threading.Event) -> None:
        super().__init__(daemon=True)
        self.done = done
        self.found: tuple[str, ...] = ()

    def run(self) -> None:
        while not self.done.is_set() and not self.found:
            with contextlib.suppress(Exception):  # not started yet, or stopping: try again
                state = stack.read_state(E2E_STACK_DIR)
                if state is not None and all(p.alive() for p in state.processes):
                    self.found = tuple(service_secrets(state))
            self.done.wait(0.05)


def main_job_command(*args: str, root: Path = ROOT) -> list[str]:
    """``nox -s e2e -- ARGS`` in this interpreter, with no new virtualenv, from the project
    at ``root`` (nox runs its sessions in the noxfile's folder)."""
    return [
        sys.executable,
        "-m",
        "nox",
        "--no-venv",
        "--no-install",
        "--no-color",
        "-f",
        str(root / "noxfile.py"),
        "-s",
        "e2e",
        "--",
        *args,
    ]


def deploy_healthy_build() -> None:
    """Deploys the healthy platform once in the main job's platform folder (started, then
    stopped), so that the next deploy's revisions follow a healthy build: what changed is then
    the case's faults alone (a code defect's image, a fault's env), whichever case ran before."""
    stack.stop(E2E_STACK_DIR)  # a platform left by a killed run
    try:
        stack.start(stack.Options(state_dir=E2E_STACK_DIR))
    finally:
        stack.stop(E2E_STACK_DIR)


def main_job(
    *args: str, history_url: str | None = None, root: Path = ROOT, after_healthy: bool = False
) -> tuple[float, subprocess.CompletedProcess[str], tuple[str, ...]]:
    """Runs ``nox -s e2e -- ARGS`` in this interpreter from the project at ``root`` (a broken
    copy of the suite's shares this checkout's platform folder), right after a healthy deploy
    with ``after_healthy`` (not timed); (seconds, process, backend secrets)."""
    command = main_job_command(*args, root=root)
    with main_job_lock():
        if after_healthy:
            deploy_healthy_build()
        done = threading.Event()
        watch = _SecretWatch(done)
        watch.start()
        started = time.perf_counter()
        try:
            result = subprocess.run(
                command,
                cwd=root,
                env=main_job_environ(history_url),
                capture_output=True,
                text=True,
                timeout=NOX_TIMEOUT_S,
                check=False,
            )
        finally:
            seconds = time.perf_counter() - started
            done.set()
            watch.join()
    return seconds, result, watch.found


def read_phases(run_dir: Path) -> tuple[PhaseRun, ...]:
    """Every phase that left a gate in the run directory, with its records and selection,
    through the package's own readers."""
    phases = []
    for number in sorted(load(ROOT / "pyproject.toml").phases):
        gate = read.gate(run_dir, number)
        if gate is None:
            continue
        selected = rundir.selected(run_dir, number)
        phases.append(
            PhaseRun(
                number=number,
                gate=gate,
                records=read_records(rundir.records(run_dir, number)).records,
                selected=read_selected(selected),
                has_selected_file=selected.exists(),
            )
        )
    return tuple(phases)


def run_dir_of(output: str, what: str) -> Path:
    """The run directory the main job's output names (its last ``worklog:`` line)."""
    found = _WORKLOG.findall(output)
    if not found:
        raise RuntimeError(f"{what}: the main job named no worklog:\n{output[-4000:]}")
    return ROOT / "reports" / str(found[-1])


def run_case(case: Case, *extra: str, history: Path | None = None) -> CaseResult:
    """Runs the main job with the case's faults (from a broken copy of the suite for its
    suite defect) and ``extra`` arguments of the run (``--no-experiment``), into a run store
    of its own (a copy of ``history``, when given: its runs are the case's past), and reads
    what it wrote."""
    before = (
        {p.name for p in (ROOT / "reports").glob("*")} if (ROOT / "reports").exists() else set()
    )
    with contextlib.ExitStack() as temporary:
        store = temporary.enter_context(tempfile.TemporaryDirectory(prefix="fault-matrix-"))
        url = f"sqlite:///{store}/history.db"
        if history is not None:
            shutil.copyfile(history, Path(store) / "history.db")
        root = ROOT
        if case.suite_defect:
            copy = temporary.enter_context(tempfile.TemporaryDirectory(prefix="broken-suite-"))
            root = broken_copy(case.suite_defect, Path(copy))
        seconds, result, secrets = main_job(
            *case.nox_args, *extra, history_url=url, root=root, after_healthy=True
        )
        ended_at = time.time()
    output = result.stdout + result.stderr
    run_dir = run_dir_of(output, f"{case.name} (exit {result.returncode})")
    if run_dir.name in before:
        raise RuntimeError(f"{case.name}: the main job reused the run directory {run_dir}")
    return CaseResult(
        case=case,
        seconds=seconds,
        exit_code=result.returncode,
        output=output,
        run_dir=run_dir,
        verdict=json.loads((run_dir / "verdict.json").read_text()),
        phases=read_phases(run_dir),
        secrets=secrets,
        ended_at=ended_at,
    )


def unnamed_parts(result: CaseResult) -> list[str]:
    """The case's expected causes that no headline of the run names: an exact title missing,
    or no headline holding a Headline's words."""
    headlines = list(result.verdict["headlines"])
    shown = sorted(headlines)
    misses = [
        f"no headline {title!r}: {shown}" for title in result.case.causes if title not in headlines
    ]
    misses += [
        f"no headline names {wanted}: {shown}"
        for wanted in result.case.names
        if not any(wanted.named_by(headline) for headline in headlines)
    ]
    return misses


def expected_parts(case: Case) -> int:
    """How many causes the case's headlines must name."""
    return len(case.causes) + len(case.names)


def leaks(run_dir: Path, secrets: tuple[str, ...] = ()) -> list[str]:
    """Every file of the run directory holding a JWT, a URL password or one of the secrets,
    with what it holds (masked)."""
    found = []
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for name, hit in (
            ("JWT", JWT.search(text)),
            ("URL password", URL_PASSWORD.search(text)),
            ("secret", next((s for s in secrets if s and s in text), None)),
        ):
            if hit:
                found.append(f"{path.name}: {name}")
    return found


def diagnosed(run_dir: Path) -> Diagnosis:
    """The run's diagnosis from its directory, its experiment included (without the run
    store's facts: the classes and findings do not depend on them)."""
    config = load(ROOT / "pyproject.toml")
    run = read.load(config, run_dir)
    return diagnose(
        config, run.gates, run.records, run.context, run.notes, experiment=run.experiment
    )


def predicted_classes(diagnosis: Diagnosis, records: list[TestRecord]) -> dict[str, str]:
    """Each failed or errored test of the run (of ``records``), by node id, with the class
    of the cause its failure group was put under (``unclassified`` when no group holds it)."""
    class_of = {cause.title: cause.failure_class for cause in diagnosis.causes}
    grouped = {test: class_of[group.cause] for group in diagnosis.groups for test in group.tests}
    return {
        record.nodeid: grouped.get(record.nodeid, "unclassified")
        for record in records
        if record.outcome in ("failed", "error")
    }


def accounting_misses(phase: PhaseRun) -> list[str]:
    """How a phase that ran fails to account for every selected test: a selected test with
    no record, a record of a test not selected, a not-run test without its reason, or gate
    counts that do not add up to the selection."""
    misses = []
    selected = {t.nodeid for t in phase.selected}
    # A module that could not be collected is recorded under its path: it has no test to
    # select, and its record is counted beside the selection.
    uncollected = {
        r.nodeid for r in phase.records if r.failure is not None and r.failure.frame == "collection"
    }
    recorded = {r.nodeid for r in phase.records} - uncollected
    if not phase.has_selected_file:
        misses.append(f"phase {phase.number}: no selection file")
    if selected - recorded:
        misses.append(f"phase {phase.number}: {len(selected - recorded)} selected, no record")
    if recorded - selected:
        misses.append(f"phase {phase.number}: {len(recorded - selected)} recorded, not selected")
    reasonless = [r for r in phase.records if r.outcome == "not_run" and not r.reason]
    if reasonless:
        misses.append(f"phase {phase.number}: {len(reasonless)} not run without a reason")
    gate = phase.gate
    counted = gate.passed + gate.failed + gate.errors + gate.skipped + gate.not_run
    if counted != len(selected) + len(uncollected):
        misses.append(
            f"phase {phase.number}: gate counts {counted}, selection {len(selected)}"
            + (f" and {len(uncollected)} uncollected module(s)" if uncollected else "")
        )
    return misses


def spared_misses(result: CaseResult) -> list[str]:
    """The tests of the case's spared areas (not needing its broken one) that did not pass;
    one line when none of them ran, so the check cannot pass empty."""
    case = result.case
    if not case.spared:
        return []
    spared = [
        record
        for phase in result.ran
        for record in phase.records
        if set(record.areas) & set(case.spared) and case.broken not in record.areas
    ]
    if not spared:
        return [f"no test of {', '.join(case.spared)} without {case.broken} ran"]
    return [
        f"{record.nodeid} ({', '.join(record.areas)}) {record.outcome} under {case.broken}'s fault"
        for record in spared
        if record.outcome != "passed"
    ]


def cause_misses(result: CaseResult) -> list[str]:
    """What the run's causes say that the case does not expect: a cause not named, named under
    another class, more causes than the defects, a cause of a class the case has no fault of."""
    case = result.case
    misses = unnamed_parts(result)
    class_of = {c["title"]: c["klass"] for c in result.causes}  # verdict.json's key
    misses += [
        f"cause {title!r} classed {class_of[title]}, expected {case.cause_failure_class}"
        for title in case.causes
        if title in class_of and class_of[title] != case.cause_failure_class
    ]
    for wanted in case.names:
        naming = [title for title in class_of if wanted.named_by(title)]
        if naming and all(class_of[title] != wanted.failure_class for title in naming):
            misses.append(
                f"the cause naming {wanted} ({naming[0]!r}) classed {class_of[naming[0]]}, "
                f"expected {wanted.failure_class}"
            )
    if case.max_causes is not None and len(class_of) > case.max_causes:
        misses.append(
            f"{len(class_of)} causes, expected at most {case.max_causes}: {list(class_of)}"
        )
    if case.fault_class is not None:
        others = [f"{t} ({k})" for t, k in class_of.items() if k not in case.classes]
        if others:
            misses.append(
                f"causes of another class than {'/'.join(sorted(case.classes))}: {others}"
            )
    return misses


def class_misses(result: CaseResult) -> list[str]:
    """Each failed test put under another class than its own (the case's, or the one its node
    id names in a mix), and each class of a mix that no failure showed."""
    case = result.case
    if case.fault_class is None:
        return []
    misses = [
        f"{test} classed {found}, expected {case.expected_class(test)}"
        for test, found in result.classes.items()
        if found != case.expected_class(test)
    ]
    misses += [
        f"no failed test holds {fragment!r}: the {klass} cause did not show"
        for fragment, klass in case.failure_classes
        if not any(fragment in test for test in result.classes)
    ]
    return misses


def finding_misses(result: CaseResult) -> list[str]:
    """Each failed test whose finding of the experiment is not the one the case's faults
    imply (a suite defect's failures are not run again: not checked)."""
    case = result.case
    misses = []
    cause_of = {test: g.cause for g in result.diagnosis.groups for test in g.tests}
    for test in result.classes:
        wanted = case.expected_finding(test, cause_of.get(test, ""))
        if wanted is None:
            continue
        found = result.findings.get(test, "none")
        if found not in wanted.split("|"):
            misses.append(f"{test}: experiment found {found}, expected {wanted}")
    return misses


def expectation_misses(result: CaseResult) -> list[str]:
    """Everything the run says that the case does not expect, one line each (none: it
    passed): verdict, the stopping phase, the causes and their class, escalation, seconds to
    verdict, the exit code, every selected test accounted for, and no secret written."""
    case, verdict = result.case, result.verdict
    misses = []
    if verdict["verdict"] != case.verdict:
        misses.append(f"verdict {verdict['verdict']}, expected {case.verdict}")
    stopped = int(verdict["first_failed_phase"]) if verdict.get("first_failed_phase") else None
    if stopped != case.stopped_at:
        misses.append(f"stopped at phase {stopped}, expected {case.stopped_at}")
    misses += cause_misses(result)
    if verdict["escalation"] != case.escalation:
        misses.append(
            f"escalation {verdict['escalation']} ({verdict['escalation_reasons']}), "
            f"expected {case.escalation}: {case.why}"
        )
    if result.seconds > case.max_seconds:
        misses.append(f"{result.seconds:.1f} s to verdict, goal <= {case.max_seconds:g} s")
    worklog = (result.run_dir / "worklog.md").read_text()
    misses += [f"worklog lacks {phrase!r}" for phrase in case.worklog if phrase not in worklog]
    misses += class_misses(result)
    misses += finding_misses(result)
    # A broken suite's exit follows its gates, which the verdict does not: not checked.
    if case.verdict != "suite_broken" and (result.exit_code == 0) != (case.verdict == "healthy"):
        misses.append(f"main job exit {result.exit_code} for a {case.verdict} run")
    for phase in result.ran:
        misses += accounting_misses(phase)
    misses += spared_misses(result)
    misses += [f"leak: {leak}" for leak in leaks(result.run_dir, result.secrets)]
    if not result.secrets:
        misses.append(
            "the backend's secrets could not be read: the leak check had nothing to look for"
        )
    return misses
