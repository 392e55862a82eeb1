"""Reads and validates ``[tool.ci_tools]`` from pyproject.toml; every error names its key.

The table holds the environments (URLs, Cloud Run services, GCP project/region), the criteria
(named thresholds on measured values), the phases (selection, gate, budget, workers), the
escalation rules and the business priorities (each one's title and what it protects). Defaults
are the product brief's numbers.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ci_tools._exceptions import ConfigError
from ci_tools.records import PRIORITIES, Priority
from ci_tools.rules import RULES, FailureClass, Rule, RuleSpec
from ci_tools.rules import table as rule_table


class _Model(BaseModel):
    # nan or inf in a timeout or budget would turn it off (nothing is greater than nan)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# What each URL of an environment may be, and an example that is (the fix in its error).
URL_SCHEMES = {"backend": "http(s)", "websocket": "ws(s)", "auth": "http(s)", "frontend": "http(s)"}
URL_EXAMPLES = {
    "backend": "https://api.example.com",
    "websocket": "wss://api.example.com/ws",
    "auth": "https://auth.example.com",
    "frontend": "https://app.example.com",
}


def url_problem(name: str, url: str) -> str | None:
    """Why ``url`` cannot be an environment's ``name`` URL (backend, websocket, auth,
    frontend), ending with an example that can; None when it can. A URL without a scheme or a
    host (``localhost:8080``) would otherwise be read as a deploy that does not answer."""
    kind = URL_SCHEMES[name]
    schemes = ("http", "https") if kind == "http(s)" else ("ws", "wss")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError: a port that is no number, or past 65535
        good = parts.scheme in schemes and bool(parts.hostname) and port != 0
    except ValueError:
        good = False
    if good and not any(char.isspace() for char in url):
        return None
    article = "an" if kind == "http(s)" else "a"
    return f"{url!r} is not {article} {kind} URL with a host; write e.g. {URL_EXAMPLES[name]}"


class GcpConfig(_Model):
    """Where the environment's Cloud Run services live."""

    project: str
    region: str = "us-central1"
    services: dict[str, str] = Field(default_factory=dict)  # role (backend, auth...) -> name


class _Urls(_Model):
    """URLs of an environment, each checked by ``url_problem``."""

    backend_url: str | None = None
    websocket_url: str | None = None
    auth_url: str | None = None
    frontend_url: str | None = None

    @field_validator("backend_url", "websocket_url", "auth_url", "frontend_url")
    @classmethod
    def _a_url_with_a_host(cls, url: str | None, info: ValidationInfo) -> str | None:
        name = str(info.field_name).removesuffix("_url")
        problem = None if url is None else url_problem(name, url)
        if problem is not None:
            raise ValueError(problem)
        return url


class BaselineConfig(_Urls):
    """``[tool.ci_tools.environments.<env>.baseline]``: the URLs of the revision serving
    traffic (the baseline failures are re-run on), for a platform whose context cannot tell
    them; they win over the baseline the deployment context finds on Cloud Run. A URL not
    given is the environment's own (e.g. auth, when only the backend was deployed)."""

    @model_validator(mode="after")
    def _some_url(self) -> BaselineConfig:
        if not self.model_fields_set:
            raise ValueError(
                "is empty; give the serving revision's URLs, e.g. "
                'backend_url = "https://api.example.com"'
            )
        return self


class EnvironmentConfig(_Urls):
    """One environment the suite can run against."""

    # The local platform writes its URLs here (relative to the project root).
    stack_file: str | None = None
    users: tuple[str, ...] = ("alice@example.com", "bob@example.com")
    # A development password for local users; elsewhere it comes from CI_TOOLS_E2E_PASSWORD.
    dev_password: str | None = None
    gcp: GcpConfig | None = None
    # At most this many test processes of a phase at once against this environment (its
    # connection pools and rate limits); None: each phase's max_workers.
    max_workers: int | None = Field(default=None, ge=0)
    # The serving revision's URLs, when the deployment context cannot find them.
    baseline: BaselineConfig | None = None


class CriterionConfig(_Model):
    """A named threshold on values that tests measure (or on a pass rate)."""

    title: str
    unit: str = ""
    # How a phase's measured values become one figure.
    aggregate: Literal["max", "min", "mean", "p50", "p95"] = "max"
    max: float | None = None
    min: float | None = None
    # "measured": values recorded by tests; "pass_rate": the pass rate of tests of a priority.
    source: Literal["measured", "pass_rate"] = "measured"
    priority: str | None = None


class PhaseConfig(_Model):
    """One phase: what it selects, its gate, its budget."""

    title: str
    paths: tuple[str, ...] = ()
    markers: str = ""
    min_pass_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    criteria: tuple[str, ...] = ()
    budget_s: float = Field(default=300.0, gt=0)
    # How many tests run at once (each in a process forked from the phase's) when the run
    # store knows nothing of the phase yet (0 or 1: one at a time); once it does, as many as
    # its tests' waiting needs (see runner.choose_workers), at most max_workers: mind the
    # platform's connection pools and rate limits.
    workers: int = Field(default=2, ge=0)
    max_workers: int = Field(default=8, ge=0)
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("paths")
    @classmethod
    def _some_paths(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        # Checked only when given: pytest without paths collects from the project root.
        example = 'e.g. paths = ["tests/e2e/phase1_infrastructure"]'
        if not paths:
            raise ValueError(
                f"is empty, which collects the whole repository; list the phase's test folders, "
                f"{example}"
            )
        if any(not path.strip() for path in paths):
            raise ValueError(f"holds an empty path (the whole repository); {example}")
        return paths


class FailFastConfig(_Model):
    """Fail fast by cause: once ``after`` failures of a phase name the same broken part (the
    agent pipeline hangs, Redis refuses), the tests still waiting on that part are not started
    and those already waiting are stopped; they are recorded as not run with the cause."""

    enabled: bool = True
    after: int = Field(default=2, ge=1)
    # A stream that sends no event for this long is stalled: the hang is recognised then,
    # not at the test's timeout. Above the slowest step of a healthy pipeline.
    stall_s: float = Field(default=10.0, gt=0)


class ExperimentConfig(_Model):
    """The experiment (``[tool.ci_tools.experiment]``): after a phase misses its gate, or at
    the end of the run for the failures of phases that met theirs, the failed tests are run
    again on the baseline revision (the one serving traffic) and, at the same time, once more
    on the candidate. A failure that passes on the baseline only is a regression of this
    deploy; one failing on both is not the deploy's doing. ``max_failures``: how many are run
    again at most (the first of each kind of failure first); ``budget_s``: how long the
    re-runs may take, both revisions at once. Off: ``enabled = false`` or ``ci-tools run
    --no-experiment``."""

    enabled: bool = True
    max_failures: int = Field(default=8, ge=1)
    budget_s: float = Field(default=60.0, gt=0)


class ContextConfig(_Model):
    """How the context stage reads Cloud Run and Cloud Logging."""

    budget_s: float = Field(default=30.0, gt=0)  # the whole stage never takes longer
    call_timeout_s: float = Field(default=5.0, gt=0)  # each API request
    window_before_s: float = Field(default=60.0, ge=0)  # before the first failure
    window_after_s: float = Field(default=30.0, ge=0)  # after the last failure
    # Endpoint overrides (CI_TOOLS_RUN_ENDPOINT / CI_TOOLS_LOGGING_ENDPOINT win); an http://
    # endpoint is a local test server and is used with anonymous credentials.
    run_endpoint: str | None = None
    logging_endpoint: str | None = None


EscalationLevel = Literal["P0", "P1", "P2"]


class EscalationRule(_Model):
    """One escalation rule: a level when a criterion or a fact of the run crosses a bound.

    ``criterion`` names a criterion (its figure, re-aggregated by ``aggregate`` when given:
    ``min`` reads "every sample", i.e. consistently); ``fact`` names a fact of the run
    (``agent_pipeline_failed``: every agent test of the run failed or was stopped) or of its
    history (``agent_pipeline_failing_h``, ``redis_down_h``: hours, from the run store).
    ``beyond_brief`` marks a rule the brief does not have: it fires only when ``enabled``."""

    name: str
    level: EscalationLevel
    criterion: str | None = None
    fact: str | None = None
    aggregate: Literal["max", "min", "mean", "p50", "p95"] | None = None
    above: float | None = None
    below: float | None = None
    beyond_brief: bool = False
    enabled: bool = True


BRIEF_ESCALATION: tuple[EscalationRule, ...] = (
    EscalationRule(
        name="database slow consistently",
        level="P0",
        criterion="database_latency_ms",
        aggregate="min",
        above=10_000,
    ),
    EscalationRule(name="database slow", level="P1", criterion="database_latency_ms", above=5_000),
    EscalationRule(
        name="WebSocket failing", level="P0", criterion="websocket_success_rate", below=0.5
    ),
    EscalationRule(name="P1 tests failing", level="P1", criterion="p1_pass_rate", below=0.8),
    EscalationRule(
        name="agent pipeline slow",
        level="P1",
        criterion="agent_pipeline_ms",
        aggregate="mean",
        above=60_000,
    ),
    EscalationRule(name="agent pipeline down", level="P1", fact="agent_pipeline_failed"),
    EscalationRule(
        name="agent pipeline down for hours", level="P0", fact="agent_pipeline_failing_h", above=2
    ),
    EscalationRule(name="Redis down for hours", level="P0", fact="redis_down_h", above=4),
    EscalationRule(
        name="database slow over the last runs", level="P0", fact="database_slow_runs", above=2
    ),
)


class EscalationConfig(_Model):
    """The escalation rules, the brief's by default (``[[tool.ci_tools.escalation.rules]]``
    replaces them all)."""

    rules: tuple[EscalationRule, ...] = BRIEF_ESCALATION


class RetryConfig(_Model):
    """Honest retries (``[tool.ci_tools.retries]``): a failure whose ``ExceptionType:
    message`` matches one of ``transient`` (regular expressions) is tried again, at most
    ``max`` times, within the phase budget; a pass after a retry is recorded with its
    retries and shown as flaky. Any other failure is never retried."""

    max: int = Field(default=1, ge=0)  # 0: no retries
    transient: tuple[str, ...] = (
        r"ConnectionResetError",
        r"RemoteProtocolError",
        r"Connection reset by peer",
        r"HTTP 50[234]\b",
    )


class HistoryConfig(_Model):
    """The run store (``[tool.ci_tools.history]``): where it is and how far back it looks.
    ``$CI_TOOLS_HISTORY_URL`` (e.g. ``postgresql://ci@db.internal/ci_history``) wins over
    ``url``; without either it is SQLite at ``<reports_dir>/history.db``."""

    enabled: bool = True
    url: str | None = None
    window: int = Field(default=20, ge=1)  # runs behind a historical success rate
    last: int = Field(default=10, ge=2)  # results looked at for flaky vs broken
    min_results: int = Field(default=5, ge=2)  # fewer: too few to call a test flaky by flips
    slow_database_ms: float = Field(default=10_000, gt=0)  # "database > 10 s consistently"
    # Retention, applied by ``ci-tools prune`` (the main job's step after each run): a run
    # past the newest keep_runs or older than keep_days loses its per-test rows; its summary
    # (verdict, escalation, what failed: trends, streaks) stays for keep_summaries_days.
    keep_runs: int = Field(default=1000, ge=1, strict=True)
    keep_days: float = Field(default=90, gt=0, strict=True)
    keep_summaries_days: float = Field(default=730, gt=0, strict=True)

    @model_validator(mode="after")
    def _keeps_what_it_reads(self) -> HistoryConfig:
        needed = max(self.window, self.last)
        if self.keep_runs < needed:
            raise ValueError(
                f"keep_runs = {self.keep_runs} keeps fewer runs' results than the report reads "
                f"(window = {self.window}, last = {self.last}): set keep_runs >= {needed}"
            )
        if self.keep_summaries_days < self.keep_days:
            raise ValueError(
                f"keep_summaries_days = {self.keep_summaries_days:g} is shorter than keep_days "
                f"= {self.keep_days:g}: a run's summary outlives its per-test rows; set it "
                f">= {self.keep_days:g}"
            )
        return self


class RetentionConfig(_Model):
    """What ``ci-tools prune`` keeps (``[tool.ci_tools.retention]``; the main job prunes
    after each run): a run directory goes once it is past either bound, never the one
    ``latest`` points at; the local platform's logs keep the entries of the runs kept (see
    ``ci_tools.rundir.prune``)."""

    keep_runs: int = Field(default=50, ge=1, strict=True)  # the newest 50 runs
    keep_days: float = Field(default=30, gt=0, strict=True)  # written within 30 days


class RuleConfig(_Model):
    """One rule of ``[[tool.ci_tools.rules.rule]]`` (or ``[[rule]]`` in the rules file): a new
    rule gives at least ``pattern`` and ``class``; one named like a built-in changes only the
    keys it gives (``failfast = false``, say). See :class:`ci_tools.rules.Rule`."""

    name: str = Field(pattern=r"^[A-Za-z_][\w.-]*$")
    pattern: str | None = None  # a regular expression, case ignored
    failure_class: FailureClass | None = Field(default=None, alias="class")
    title: str | None = None  # may fill {name} from the pattern's group (?P<name>...)
    part: str | None = None
    areas: tuple[str, ...] | None = None
    failfast: bool | None = None
    criteria: tuple[str, ...] | None = None  # names of [tool.ci_tools.criteria]
    before: str | None = None  # the rule it goes before; new rules go first by default
    pressure: bool | None = None  # a failure of it brings the tests at once down

    def spec(self, origin: str) -> RuleSpec:
        """The rule as ``ci_tools.rules.table`` takes it (the same fields, by name)."""
        return RuleSpec(**self.model_dump(), origin=origin)


class RulesFileConfig(_Model):
    """A rules file (``[tool.ci_tools.rules] file``): ``disable`` and ``[[rule]]`` tables."""

    disable: tuple[str, ...] = ()
    rule: tuple[RuleConfig, ...] = ()


class RulesConfig(RulesFileConfig):
    """``[tool.ci_tools.rules]``: the project's rules over the built-in table
    (``ci_tools.rules.RULES``). ``[[tool.ci_tools.rules.rule]]`` tables add or change rules,
    ``disable`` removes built-ins by name, ``file`` names a TOML file of more (relative to
    pyproject.toml), read after these."""

    file: str | None = None


class PriorityConfig(_Model):
    """One business priority (``[tool.ci_tools.priorities.P1]``): its title and what it
    protects (e.g. ``"$120K+ MRR"``), shown in the index and in the worklog's "At risk"."""

    title: str = Field(min_length=1)
    protects: str = ""  # "": not stated; nothing is said about it then


# Without [tool.ci_tools.priorities], the brief's titles and no figures: what a priority
# protects is a fact of one business (this project's pyproject.toml states the brief's), and
# a worklog must not put money at risk that nobody stated.
DEFAULT_PRIORITIES: dict[Priority, PriorityConfig] = {
    "P1": PriorityConfig(title="Core platform"),
    "P2": PriorityConfig(title="Key features"),
    "P3": PriorityConfig(title="Important workflows"),
    "P4": PriorityConfig(title="Secondary features"),
    "P5": PriorityConfig(title="Edge cases"),
    "P6": PriorityConfig(title="Nice to have"),
}


def priority_label(name: str, priority: PriorityConfig | None) -> str:
    """A priority as the index and the worklog name it: ``P1 Core platform — $120K+ MRR``
    (``P1 Core platform`` when nothing is stated it protects; the bare name when unknown)."""
    if priority is None:
        return name
    label = f"{name} {priority.title}"
    return f"{label} — {priority.protects}" if priority.protects else label


class Config(_Model):
    """The whole ``[tool.ci_tools]`` table."""

    default_env: str = "local"
    # The reports folder: every run's directory, ``latest`` and the run store's file. Read
    # from ``results_dir`` too, the key's old name, for a release.
    reports_dir: str = Field(
        default="reports", validation_alias=AliasChoices("reports_dir", "results_dir")
    )
    test_timeout_s: float = Field(default=30.0, gt=0)
    # A test slot is worth opening for this much waiting (a forked test costs ~10 ms of CPU;
    # the rest is what running tests take from each other's CPU).
    worker_min_work_s: float = Field(default=0.25, gt=0)
    # The memory (MiB) the run's processes may hold at once: the runner, the phase running
    # and the one started ahead, and its forked workers, whose number stops growing short of
    # it (a worker holds about 11 MiB of its own here; see ci_tools.plugin.throttle). 0: no
    # bound.
    memory_mb: int = Field(default=1024, ge=0)
    quarantine_file: str = "tests/e2e/quarantine.toml"  # see ci_tools/quarantine.py
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    criteria: dict[str, CriterionConfig] = Field(default_factory=dict)
    phases: dict[int, PhaseConfig] = Field(default_factory=dict)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    retries: RetryConfig = Field(default_factory=RetryConfig)
    failfast: FailFastConfig = Field(default_factory=FailFastConfig)
    experiment: ExperimentConfig = Field(default_factory=ExperimentConfig)
    # Each priority given replaces its default; the others keep theirs (see DEFAULT_PRIORITIES).
    priorities: dict[Priority, PriorityConfig] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES)
    )
    rules: RulesConfig = Field(default_factory=RulesConfig)
    # The effective rule table, built from ``rules`` once the table is valid. The built-in
    # table itself, not a copy (pydantic deep-copies a private attribute's default): the
    # matcher keeps its prefilter and remembered matches per table, and the criteria's
    # inference reads the built-in one, so a copy matched every failure twice.
    _rules_table: tuple[Rule, ...] = PrivateAttr(default_factory=lambda: RULES)

    @model_validator(mode="after")
    def _build_rules_table(self, info: ValidationInfo) -> Config:
        if self.rules != RulesConfig():
            source = str((info.context or {}).get("source", "pyproject.toml"))
            self._rules_table = _rules_table(self.rules, set(self.criteria), source)
        return self

    @property
    def rules_table(self) -> tuple[Rule, ...]:
        """The rules failures are classified by: the built-ins with ``[tool.ci_tools.rules]``
        (a ``model_copy`` keeps the table it was validated with)."""
        return self._rules_table

    @field_validator("priorities")
    @classmethod
    def _every_priority(
        cls, given: dict[Priority, PriorityConfig]
    ) -> dict[Priority, PriorityConfig]:
        return {name: given.get(name, DEFAULT_PRIORITIES[name]) for name in PRIORITIES}

    def priority_label(self, name: str | None) -> str:
        """The label of a priority (``P1 Core platform — $120K+ MRR``); "-" for none."""
        if name is None:
            return "-"
        return priority_label(name, self.priorities.get(name))  # type: ignore[call-overload]

    @field_validator("phases")
    @classmethod
    def _numbered_from_one(cls, phases: dict[int, PhaseConfig]) -> dict[int, PhaseConfig]:
        if sorted(phases) != list(range(1, len(phases) + 1)):
            raise ValueError(f"phases must be numbered 1, 2, 3... in order; got {sorted(phases)}")
        return dict(sorted(phases.items()))

    def environment(self, name: str) -> EnvironmentConfig:
        """The named environment; ConfigError listing the known ones otherwise."""
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                f"unknown environment {name!r}: [tool.ci_tools.environments] has {known}"
            ) from None


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _check_priorities(table: object, source: str) -> None:
    """``[tool.ci_tools.priorities]``: a table per known priority with a title (and what it
    protects), each mistake one line naming the key and the fix."""
    where = f"{source}: [tool.ci_tools] priorities"
    example = 'e.g. [tool.ci_tools.priorities.P1] title = "Core platform", protects = "$120K+ MRR"'
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table of priorities ({example}); got {table!r}")
    for name, value in table.items():
        if name not in PRIORITIES:
            raise ConfigError(
                f"{where}.{name}: unknown priority; use one of {', '.join(PRIORITIES)} "
                "(the names the priority marker accepts)"
            )
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}.{name}: must be a table with a title ({example})")
        for key in value:
            if key not in PriorityConfig.model_fields:
                raise ConfigError(
                    f"{where}.{name}.{key}: unknown key; a priority has title and protects"
                )
        if "title" not in value:
            raise ConfigError(
                f"{where}.{name}.title: missing; give the priority a title, e.g. "
                f'title = "{DEFAULT_PRIORITIES[name].title}"'
            )
        for key, text in value.items():
            if not isinstance(text, str):
                raise ConfigError(
                    f"{where}.{name}.{key}: must be a string in quotes (got {text!r})"
                )
        if not value["title"].strip():
            raise ConfigError(f"{where}.{name}.title: is empty; give the priority a title")


def _rules_file(rules_config: RulesConfig, source: str) -> RulesFileConfig:
    """The rules file ``[tool.ci_tools.rules] file`` names, validated; none: empty."""
    if rules_config.file is None:
        return RulesFileConfig()
    path = Path(source).parent / rules_config.file
    where = f"{source}: [tool.ci_tools] rules.file"
    try:
        data = tomllib.loads(path.read_text())
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(
            f"{where}: {path} does not exist; give a TOML file relative to {source} "
            '(e.g. file = "ci/rules.toml") or remove the key'
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {toml_error(path, exc)}") from None
    try:
        return RulesFileConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = _rule_key(error["loc"], data)
        raise ConfigError(
            f"{path}: {key}: {error['msg']}; a rules file has disable = [...] and [[rule]] "
            "tables (name, pattern, class, title, part, areas, failfast, criteria, before, "
            "pressure)"
        ) from None


def _rules_table(rules_config: RulesConfig, criteria: set[str], source: str) -> tuple[Rule, ...]:
    """The effective rule table, or ConfigError naming the rule, where it is, and the fix."""
    from_file = _rules_file(rules_config, source)
    origin = f"{source}: [tool.ci_tools.rules]"
    specs = [rule.spec(origin) for rule in rules_config.rule]
    specs += [
        rule.spec(str(Path(source).parent / str(rules_config.file))) for rule in from_file.rule
    ]
    try:
        return rule_table(specs, (*rules_config.disable, *from_file.disable), criteria)
    except ConfigError as exc:
        message = str(exc)
        if message.startswith("rules.disable"):
            message = f"{source}: [tool.ci_tools] {message}"
        raise ConfigError(message) from None


def _rule_key(loc: tuple[int | str, ...], table: Mapping[str, Any]) -> str:
    """An error's key, with the rule's name beside its index (``rule.2 (stripe_down).class``)."""
    key = _location(loc)
    if len(loc) >= 2 and loc[0] == "rule" and isinstance(loc[1], int):
        try:
            name = table["rule"][loc[1]]["name"]
        except (KeyError, IndexError, TypeError):
            return key
        return key.replace(f"rule.{loc[1]}", f"rule.{loc[1]} ({name})", 1)
    return key


def parse(table: Mapping[str, Any], source: str = "pyproject.toml") -> Config:
    """Validates a ``[tool.ci_tools]`` table; the first error becomes one ConfigError line."""
    if "priorities" in table:
        _check_priorities(table["priorities"], source)
    if "reports_dir" in table and "results_dir" in table:
        raise ConfigError(
            f"{source}: [tool.ci_tools] has reports_dir and results_dir, its old name: keep "
            "reports_dir alone"
        )
    try:
        config = Config.model_validate(table, context={"source": source})
    except ValidationError as exc:
        error = exc.errors()[0]
        key = _location(error["loc"])
        if error["loc"][:1] == ("rules",) and isinstance(table.get("rules"), Mapping):
            key = "rules." + _rule_key(error["loc"][1:], table["rules"])
        # Our validators' messages are whole sentences: without pydantic's "Value error, ".
        message = error["msg"].removeprefix("Value error, ")
        given = error["input"]
        shown = isinstance(given, dict) or repr(given) in message
        got = "" if shown else f" (got {given!r})"
        raise ConfigError(f"{source}: [tool.ci_tools] {key}: {message}{got}") from None
    for index, rule in enumerate(config.escalation.rules):
        if (rule.criterion is None) == (rule.fact is None):
            raise ConfigError(
                f"{source}: [tool.ci_tools] escalation.rules.{index} ({rule.name}): give "
                "either criterion or fact"
            )
        given = "rules" in table.get("escalation", {})  # the brief's defaults skip what is absent
        if given and rule.criterion is not None and rule.criterion not in config.criteria:
            raise ConfigError(
                f"{source}: [tool.ci_tools] escalation.rules.{index} ({rule.name}): unknown "
                f"criterion {rule.criterion!r}; define it under [tool.ci_tools.criteria]"
            )
    for name, criterion in config.criteria.items():
        if criterion.priority is not None and criterion.priority not in PRIORITIES:
            raise ConfigError(
                f"{source}: [tool.ci_tools] criteria.{name}.priority: unknown priority "
                f"{criterion.priority!r}; use one of {', '.join(PRIORITIES)}"
            )
    for number, phase in config.phases.items():
        for name in phase.criteria:
            if name not in config.criteria:
                raise ConfigError(
                    f"{source}: [tool.ci_tools] phases.{number}.criteria: unknown criterion "
                    f"{name!r}; define it under [tool.ci_tools.criteria.{name}]"
                )
    return config


def toml_error(path: Path | str, exc: tomllib.TOMLDecodeError) -> str:
    """A TOML syntax error as one line naming the file, the line and the fix (the
    noxfile, which cannot import ci_tools, words it the same way)."""
    found = re.fullmatch(r"(.*) \(at (line \d+, column \d+|end of document)\)", str(exc))
    what, where = (found[1], f" at {found[2]}") if found else (str(exc), "")
    return f"{path} is not valid TOML{where} ({what}): fix the syntax there"


def load(pyproject: Path) -> Config:
    """Reads ``[tool.ci_tools]`` from a pyproject.toml."""
    try:
        data = tomllib.loads(pyproject.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{pyproject} not found: run from the project root") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(toml_error(pyproject, exc)) from None
    return parse(data.get("tool", {}).get("ci_tools", {}), str(pyproject))
