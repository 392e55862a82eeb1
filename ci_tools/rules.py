"""The failure rules as data: which cause a failure's text names, its class, the part it hits.

This is the ground floor of the diagnosis: the report stage (``ci_tools.diagnose``) classifies
every failure with these rules, and the plugin applies the same rules *during* a phase to fail
fast (:class:`FailFast`): once ``after`` failures name the same part, the tests still waiting
on that part are not started, and those already waiting are stopped. It imports nothing heavy:
the plugin loads in every pytest run.

A rule's fields:

- ``failure_class``: infrastructure, application or test (the brief's "Infrastructure ≠
  Application");
- ``pattern``: a regular expression over the failure (exception type, message) and the error
  log lines of the test's own requests; a named group ``name`` fills ``{name}`` in the title,
  so a cause's title follows its evidence (``Module 'agent_tools_v2' missing at import``);
- ``part``: the part of the platform it names ("" for a symptom such as a 500, which names no
  part and may be the consequence of one that does);
- ``areas``: the test areas that depend on that part (``*``: every test); a symptom seen in a
  test of those areas is explained by this cause when it is present in the same run;
- ``failfast``: whether repeated failures of this rule stop the waiting tests of its areas;
- ``criteria``: the criteria that measure the part, for evidence and escalation.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Literal

FailureClass = Literal["infrastructure", "application", "test"]
INFRASTRUCTURE: FailureClass = "infrastructure"
APPLICATION: FailureClass = "application"
TEST: FailureClass = "test"
CLASS_ORDER: dict[FailureClass, int] = {INFRASTRUCTURE: 0, APPLICATION: 1, TEST: 2}
EVERY_AREA = "*"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One cause a failure can be put under."""

    name: str
    failure_class: FailureClass
    title: str
    pattern: re.Pattern[str]
    part: str = ""
    areas: tuple[str, ...] = ()
    failfast: bool = False
    criteria: tuple[str, ...] = ()

    @property
    def symptom(self) -> bool:
        """A rule that names no part (a 500, a refused connection, a timeout): it may be the
        consequence of a rule that does."""
        return not self.part

    def explains(self, areas: Iterable[str]) -> bool:
        """Whether this cause, when present, explains a symptom in a test of these areas."""
        return bool(self.part) and (EVERY_AREA in self.areas or bool(set(self.areas) & set(areas)))


@dataclasses.dataclass(frozen=True)
class Match:
    """A rule that matched, with the title its evidence gives."""

    rule: Rule
    title: str


def _rule(  # noqa: PLR0917 - one row of the table, read left to right
    name: str,
    failure_class: FailureClass,
    title: str,
    pattern: str,
    part: str = "",
    areas: tuple[str, ...] = (),
    *,
    failfast: bool = False,
    criteria: tuple[str, ...] = (),
) -> Rule:
    return Rule(
        name,
        failure_class,
        title,
        re.compile(pattern, re.IGNORECASE),
        part,
        areas,
        failfast,
        criteria,
    )


# The agent pipeline's sub-agents: the supervisor routes each request to some of them, and
# a test that needs one declares its area, "agent.<name>" (next to "agent"). A failure names
# the sub-agent it happened in ("data sub-agent stalled", "data sub-agent failed in ..."), so
# one broken sub-agent is diagnosed as that part, and only its own waiting tests are stopped.
SUBAGENTS = ("triage", "data", "optimization", "reporting", "general")


def subagent_area(name: str) -> str:
    """The test area of one sub-agent."""
    return f"agent.{name}"


def _subagent_rules(name: str) -> tuple[Rule, ...]:
    part, areas, title = f"{name} sub-agent", (subagent_area(name),), name.capitalize()
    return (
        _rule(
            f"subagent_hang_{name}",
            INFRASTRUCTURE,
            f"{title} sub-agent hangs",
            rf"\b{name} sub-agent stalled\b",
            part,
            areas,
            failfast=True,
        ),
        # Its tools cannot reach what they read: the sub-agent's dependency, not its code.
        _rule(
            f"subagent_down_{name}",
            INFRASTRUCTURE,
            f"{title} sub-agent fails (its source is unavailable)",
            rf"\b{name} sub-agent failed\b.*\b(?:unavailable|unreachable|refused|timed out)\b",
            part,
            areas,
            failfast=True,
        ),
        # Any other error of its own (a bug in one of its tools): not a reason to stop the
        # rest of its tests, which may take other paths.
        _rule(
            f"subagent_error_{name}",
            APPLICATION,
            f"{title} sub-agent fails",
            rf"\b{name} sub-agent failed\b",
            part,
            areas,
        ),
    )


# Most specific first: the first rule whose pattern matches names the cause.
RULES: tuple[Rule, ...] = (
    _rule(
        "test_password",
        TEST,
        "Test users' password not set (CI_TOOLS_E2E_PASSWORD)",
        r"no password for the test users|CI_TOOLS_E2E_PASSWORD",
    ),
    # The test's own process died (os._exit, a segfault, the OOM killer): the harness broke,
    # whatever the deploy did; the plugin records it as WorkerCrashed, never as a hang.
    _rule("worker_crashed", TEST, "Test process crashed", r"^WorkerCrashed:"),
    # The backend was stopped under the run (a restart, a scale-in, a deploy's traffic shift):
    # it drained, refusing new runs and failing those past its grace, with close code 1012.
    _rule(
        "backend_draining",
        INFRASTRUCTURE,
        "Backend shut down during the run (draining)",
        r"server is shutting down|server_shutting_down|received 1012\b",
        "backend",
        ("agent", "websocket"),
    ),
    _rule(
        "module_missing",
        INFRASTRUCTURE,
        "Module '{name}' missing at import",
        r"(?:ModuleNotFoundError|No module named)\W+(?:No module named\W+)?'?(?P<name>[\w.]+)",
        "backend image",
        (EVERY_AREA,),
    ),
    _rule(
        "secret_missing",
        INFRASTRUCTURE,
        "Secret or env var {name} missing",
        # Upper case even though the rules ignore case: KeyError: 'title' is a bug, not a secret.
        r"\b(?P<name>(?-i:[A-Z][A-Z0-9_]{2,})) is not set|missing (?:env|secret) (?P<name2>\w+)|"
        r"KeyError: '(?P<name3>(?-i:[A-Z_]{3,}))'",
        "secrets",
        ("auth", "websocket", "agent", "threads"),
    ),
    _rule(
        "redis_timeout",
        INFRASTRUCTURE,
        "Redis times out",
        r"redis\b.{0,40}(?:no answer within|timed? ?out)",
        "Redis",
        ("redis",),
        failfast=True,
        criteria=("redis_latency_ms",),
    ),
    _rule(
        "redis_down",
        INFRASTRUCTURE,
        "Redis unreachable (connection refused)",
        r"redis\b.*(?:down|refused|connect|unavailable)|ConnectionError.*:63\d\d",
        "Redis",
        ("redis",),
        failfast=True,
        criteria=("redis_latency_ms",),
    ),
    _rule(
        "database_slow",
        INFRASTRUCTURE,
        "Database slow",
        r"postgres\w* (?:is )?slow|database latency|postgres\w*.{0,40}no answer within",
        "PostgreSQL",
        ("database",),
        failfast=True,
        criteria=("database_latency_ms",),
    ),
    _rule(
        "database_down",
        INFRASTRUCTURE,
        "Database unreachable",
        r"postgres\w*.*(?:down|refused|connect)|asyncpg|psycopg|OperationalError",
        "PostgreSQL",
        ("database",),
        failfast=True,
        criteria=("database_latency_ms",),
    ),
    _rule("dns", INFRASTRUCTURE, "DNS failure", r"gaierror|Name or service not known|NXDOMAIN"),
    _rule("tls", INFRASTRUCTURE, "TLS failure", r"SSLError|CERTIFICATE_VERIFY_FAILED|tlsv1 alert"),
    _rule(
        "websocket_dropped",
        INFRASTRUCTURE,
        "WebSocket sessions dropped (1011)",
        r"\b1011\b|dropped mid-stream",
        "WebSocket sessions",
        ("websocket",),
        criteria=("websocket_success_rate",),
    ),
    *(rule for name in SUBAGENTS for rule in _subagent_rules(name)),
    _rule(
        "agent_hang",
        INFRASTRUCTURE,
        "Agent pipeline hangs",
        r"agent pipeline stalled|timed out after .* s.*agent|agent.*timed out|Hung.*agent",
        "agent pipeline",
        ("agent",),
        failfast=True,
        criteria=("agent_pipeline_ms",),
    ),
    _rule(
        "hung",
        INFRASTRUCTURE,
        "Tests hung until the phase budget ran out",
        r"^Hung\b",
    ),
    _rule(
        "timeout",
        INFRASTRUCTURE,
        "Requests time out",
        r"timed out|Timeout|ReadTimeout|ConnectTimeout",
    ),
    _rule(
        "refused",
        INFRASTRUCTURE,
        "Connection refused",
        r"Connection refused|ConnectError|ConnectionRefused|Errno 111",
    ),
    _rule(
        "unavailable",
        INFRASTRUCTURE,
        "Service unavailable (5xx)",
        r"HTTP 50[234]\b|\b50[234] (?:Service|Bad|Gateway)|status(?:_code)? (?:==|=|:) ?50[234]",
    ),
    _rule(
        "server_error",
        APPLICATION,
        "Server errors (500)",
        r"HTTP 500\b|Internal Server Error|Traceback",
    ),
    _rule(
        "contract",
        APPLICATION,
        "Contract broken (4xx)",
        r"HTTP 4\d\d\b|status(?:_code)? (?:==|=|:) ?4\d\d",
    ),
)
SETUP_FAILED = _rule("setup", TEST, "Test setup failed (fixture or collection)", r"$^")
WRONG_BEHAVIOUR = _rule("behaviour", APPLICATION, "Wrong content or behaviour", r"$^")
BY_NAME = {rule.name: rule for rule in (*RULES, SETUP_FAILED, WRONG_BEHAVIOUR)}


def match(evidence: str, rules: Sequence[Rule] = RULES) -> Match | None:
    """The first rule whose pattern occurs in the evidence, with its title filled in."""
    for rule in rules:
        found = rule.pattern.search(evidence)
        if found is None:
            continue
        named = next((v for k, v in found.groupdict().items() if k.startswith("name") and v), "")
        title = rule.title.format(name=named) if "{name}" in rule.title else rule.title
        return Match(rule, title.replace("  ", " ").replace("''", "").strip())
    return None


def failure_text(kind: str, message: str, areas: Iterable[str], timed_out: bool) -> str:
    """What the rules read of a failure: its type and message, plus the area of a timeout
    (a test of the agent that timed out names the agent even when its message does not)."""
    text = f"{kind}: {message}"
    if timed_out and "agent" in areas:
        text += " agent timed out"
    return text


@dataclasses.dataclass(frozen=True)
class Trip:
    """A part declared broken during a phase: the tests of its areas are not run."""

    rule: str
    title: str
    areas: tuple[str, ...]
    failures: int
    example: str  # the first failure's message

    @property
    def reason(self) -> str:
        """What a test not run because of it says."""
        return f"not run: {self.title.lower()} — {self.failures} tests failed ({self.example})"

    def stops(self, areas: Iterable[str]) -> bool:
        """Whether a test of these areas depends on the broken part."""
        return EVERY_AREA in self.areas or bool(set(self.areas) & set(areas))


class FailFast:
    """Counts failures by rule during a phase; the ``after``-th failure of a fail-fast rule
    trips it. Pure: the plugin feeds it failures and shares its trips with the workers."""

    def __init__(self, after: int = 2) -> None:
        self.after = after
        self._seen: dict[str, list[str]] = {}
        self.trips: list[Trip] = []

    def observe(self, text: str, message: str) -> Trip | None:
        """Notes one failure; returns the trip it causes, if this one tips a part over."""
        found = match(text)
        if found is None or not found.rule.failfast:
            return None
        rule = found.rule
        if any(trip.rule == rule.name for trip in self.trips):
            return None
        seen = self._seen.setdefault(rule.name, [])
        seen.append(message)
        if len(seen) < self.after:
            return None
        trip = Trip(rule.name, found.title, rule.areas, len(seen), seen[0][:120])
        self.trips.append(trip)
        return trip
