"""The failure rules as data: which cause a failure's text names, its class, the part it hits.

This is the ground floor of the diagnosis: the report stage (``ci_tools.diagnose``) classifies
every failure with these rules, and the plugin applies the same rules *during* a phase to fail
fast (:class:`FailFast`): once ``after`` failures name the same part, the tests still waiting
on that part are not started, and those already waiting are stopped. It imports nothing heavy
and compiles a pattern only when a failure is first matched against it: the plugin loads the
table as every fail-fast phase starts (each phase of ``ci-tools run``).

A rule's fields:

- ``failure_class``: infrastructure, application or test (the brief's "Infrastructure ≠
  Application");
- ``pattern``: a regular expression (case ignored; ``source`` holds its text) over the
  failure (exception type, message) and the error log lines of the test's own requests; a
  named group ``name`` (or ``name2``, ``name3``...) fills ``{name}`` in the title, so a
  cause's title follows its evidence (``Module 'agent_tools_v2' missing at import``);
- ``part``: the part of the platform it names ("" for a symptom such as a 500, which names no
  part and may be the consequence of one that does);
- ``areas``: the test areas that depend on that part (``*``: every test); a symptom seen in a
  test of those areas is explained by this cause when it is present in the same run;
- ``failfast``: whether repeated failures of this rule stop the waiting tests of its areas;
- ``criteria``: the criteria that measure the part, for evidence and escalation;
- ``pressure``: whether the failure says the platform turned the request away for load (a
  429, a 503, a provider's quota): tests at once come down when one fails so, for the rest of
  the phase (see ``ci_tools.plugin.throttle``).

The table is :data:`RULES`, most specific first; :func:`table` builds a project's own from it
and ``[tool.ci_tools.rules]`` (see ``ci_tools.config``): a configured rule with a built-in's
name replaces it in place, a new one goes first (or ``before`` the rule it names), ``disable``
removes built-ins.

How the built-ins read real messages: a library's name counts only as the exception's own type
(``redis.exceptions.ConnectionError``) or in the failing call's own wording, never anywhere in
a traceback (``site-packages/asyncpg/pool.py`` in a frame says nothing about PostgreSQL); each
dependency rule anchors on the exception type or the message its library really raises, with
the public source of that wording beside it.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Literal, NamedTuple, get_args

from ci_tools import builtin_rules
from ci_tools._exceptions import ConfigError

FailureClass = Literal["infrastructure", "application", "test"]
INFRASTRUCTURE: FailureClass = "infrastructure"
APPLICATION: FailureClass = "application"
TEST: FailureClass = "test"
FAILURE_CLASSES: tuple[FailureClass, ...] = get_args(FailureClass)
CLASS_ORDER: dict[FailureClass, int] = {INFRASTRUCTURE: 0, APPLICATION: 1, TEST: 2}
EVERY_AREA = builtin_rules.EVERY_AREA


@dataclasses.dataclass(frozen=True)
class Rule:
    """One cause a failure can be put under."""

    name: str
    failure_class: FailureClass
    title: str
    source: str | re.Pattern[str]  # the regular expression, matched with case ignored
    part: str = ""
    areas: tuple[str, ...] = ()
    failfast: bool = False
    criteria: tuple[str, ...] = ()
    pressure: bool = False

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        """The compiled pattern, compiled at its first use: a phase without failures
        compiles none."""
        if isinstance(self.source, re.Pattern):
            return self.source
        return re.compile(self.source, re.IGNORECASE)

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


def _failure_class(name: str | None) -> FailureClass:
    for known in FAILURE_CLASSES:
        if name == known:
            return known
    raise ConfigError(f"unknown class {name!r}; use one of {', '.join(FAILURE_CLASSES)}")


def _from_row(row: builtin_rules.Row) -> Rule:
    return Rule(
        row["name"],
        _failure_class(row["failure_class"]),
        row["title"],
        row["pattern"],
        row["part"],
        row["areas"],
        row["failfast"],
        row["criteria"],
        row["pressure"],
    )


SUBAGENTS = builtin_rules.SUBAGENTS
subagent_area = builtin_rules.subagent_area
# Most specific first: the first rule whose pattern matches names the cause.
RULES: tuple[Rule, ...] = tuple(_from_row(row) for row in builtin_rules.ROWS)
SETUP_FAILED = Rule("setup", TEST, "Test setup failed (fixture or collection)", r"$^")
WRONG_BEHAVIOUR = Rule("behaviour", APPLICATION, "Wrong content or behaviour", r"$^")


# Per rule table (the built-ins, a project's): its prefilter and what each text it was asked
# about matched. A big run repeats the same failure text thousands of times (each criterion's
# censored values ask again), and the table's patterns are what a report spends its time on.
_CACHE_TEXTS = 20_000
_TABLES: dict[int, tuple[tuple[Rule, ...], _Prefilter, dict[str, Match | None]]] = {}
# A text RE2 may read differently from Python's re: a character outside ASCII (Python's \w,
# \d, \b and case folding are Unicode, RE2's ASCII), or one of the controls Python's \s
# holds and RE2's does not (\v, \x1c-\x1f).
_NOT_PLAIN = re.compile(r"[^\x00-\x0a\x0c-\x1b\x20-\x7f]")


class _Prefilter:
    """Which rules of a table may match a text, from one pass of RE2's multi-pattern set
    (google-re2: linear time, every pattern at once) instead of one backtracking search a
    rule. Only a filter: each rule it lets through is still matched by Python's ``re``, so the
    rule that names the cause and its groups are what ``re`` says. A pattern with what RE2
    lacks or reads otherwise (lookarounds, ``$`` before a final newline) is filtered by its
    widened form (``_widened``); one RE2 refuses even so is always matched by ``re``; without
    google-re2 every rule is."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.always = frozenset(range(len(rules)))
        self.set: Any = None
        self.index: dict[int, int] = {}
        try:
            import re2  # noqa: PLC0415 - a report's dependency, not the plugin's
        except ImportError:  # pragma: no cover - google-re2 is a dependency
            return
        options = re2.Options()
        options.case_sensitive = False
        options.never_capture = True
        options.log_errors = False  # a pattern it refuses is read by re, silently
        options.max_mem = 64 << 20
        found = re2.Set.SearchSet(options)
        added: dict[int, int] = {}
        for position, rule in enumerate(rules):
            source = _widened(rule.pattern.pattern)
            if source is None:
                continue
            try:
                added[found.Add(source)] = position
            except Exception:  # noqa: BLE001, S112 - RE2 refuses it: re reads it alone
                continue
        try:
            found.Compile()
        except Exception:  # noqa: BLE001 - too big for RE2: re reads every rule
            return
        self.set, self.index = found, added
        self.always = frozenset(range(len(rules))) - frozenset(added.values())

    def candidates(self, text: str) -> frozenset[int] | None:
        """The positions of the rules that may match; None: every rule may."""
        if self.set is None or _NOT_PLAIN.search(text) is not None:
            return None
        return self.always | {self.index[i] for i in self.set.Match(text) or ()}


def _widened(source: str) -> str | None:
    """A pattern RE2 can read that matches wherever ``source`` does: ``source`` without its
    lookarounds and ``$`` anchors (which RE2 lacks or reads otherwise), each of which only
    narrows where a pattern matches. None when it cannot be read that way (a backreference,
    conditionals, unbalanced parentheses): ``re`` then reads it against every text."""
    out: list[str] = []
    depth = 0  # inside a removed lookaround: how deep
    at, in_class, opened = 0, False, 0  # opened: where the class's members begin
    while at < len(source):
        char = source[at]
        if char == "\\":
            if source[at + 1 : at + 2].isdigit() and not in_class:
                return None  # a backreference: no regular language to widen to
            if not depth:
                out.append(source[at : at + 2])
            at += 2
            continue
        if in_class:
            in_class = char != "]" or at == opened  # a first "]" is a member: []] [^]]
        elif char == "[":
            in_class = True
            opened = at + 2 if source.startswith("[^", at) else at + 1
        elif source.startswith(("(?=", "(?!", "(?<=", "(?<!"), at) or (depth and char == "("):
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            at += 1
            continue
        elif source.startswith("(?(", at):
            return None
        elif char == "$" and not depth:
            at += 1
            continue
        if not depth:
            out.append(char)
        at += 1
    return "".join(out) if not depth else None


def match(evidence: str, rules: Sequence[Rule] = RULES) -> Match | None:
    """The first rule whose pattern occurs in the evidence, with its title filled in."""
    if not isinstance(rules, tuple):  # a list may change: read it as it is now
        return _first(evidence, rules, None)
    entry = _TABLES.get(id(rules))
    if entry is None or entry[0] is not rules:
        if len(_TABLES) >= 8:
            _TABLES.clear()
        entry = _TABLES[id(rules)] = (rules, _Prefilter(rules), {})
    _, prefilter, cache = entry
    if evidence not in cache:
        if len(cache) >= _CACHE_TEXTS:
            cache.clear()
        cache[evidence] = _first(evidence, rules, prefilter.candidates(evidence))
    return cache[evidence]


def forget_matches() -> None:
    """Drops every table's prefilter and remembered matches (a benchmark's fresh start)."""
    _TABLES.clear()


def _first(evidence: str, rules: Sequence[Rule], candidates: frozenset[int] | None) -> Match | None:
    for position, rule in enumerate(rules):
        if candidates is not None and position not in candidates:
            continue
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


class RuleSpec(NamedTuple):
    """One rule as a project configures it (``[[tool.ci_tools.rules.rule]]``): a new rule
    gives at least ``pattern`` and ``failure_class``; one named like a built-in changes only
    the fields it gives. ``origin`` says where it was written, for its errors. (A named
    tuple, not a dataclass: it is built only from configuration, and the plugin loads this
    module in every run.)"""

    name: str
    pattern: str | None = None
    failure_class: str | None = None
    title: str | None = None
    part: str | None = None
    areas: tuple[str, ...] | None = None
    failfast: bool | None = None
    criteria: tuple[str, ...] | None = None
    before: str | None = None
    pressure: bool | None = None
    origin: str = "[tool.ci_tools.rules]"


def _suggest(name: str, known: Iterable[str]) -> str:
    import difflib  # noqa: PLC0415 - only a bad rule needs it; the plugin loads this module

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _compiled(spec: RuleSpec, base: Rule | None, criteria: Collection[str] | None) -> Rule:
    """The rule a spec gives, every field checked; ConfigError naming the rule otherwise."""
    where = f"{spec.origin}: rule {spec.name!r}"
    if base is None and (spec.pattern is None or spec.failure_class is None):
        raise ConfigError(
            f"{where}: a new rule needs pattern and class (one of {', '.join(FAILURE_CLASSES)}); "
            "to change a built-in, use its name"
        )
    if spec.failure_class is not None and spec.failure_class not in FAILURE_CLASSES:
        raise ConfigError(
            f"{where}: unknown class {spec.failure_class!r}; use one of "
            f"{', '.join(FAILURE_CLASSES)}"
        )
    if spec.pattern is not None:
        try:
            compiled = re.compile(spec.pattern, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(
                f"{where}: pattern {spec.pattern!r} does not compile ({exc.msg} at position "
                f"{exc.pos}); fix the regular expression (a literal ( [ . * + ? needs a "
                "backslash, written \\\\ in TOML's double quotes)"
            ) from None
        if compiled.search(""):
            raise ConfigError(
                f"{where}: pattern {spec.pattern!r} matches an empty text, so it would take "
                "every failure; make it require some text"
            )
    if spec.title is not None:
        import string  # noqa: PLC0415 - only a configured rule needs it

        fields = {field for _, field, _, _ in string.Formatter().parse(spec.title) if field}
        if fields - {"name"}:
            raise ConfigError(
                f"{where}: title {spec.title!r} fills {', '.join(sorted(fields - {'name'}))}; "
                "only {name} (the pattern's group (?P<name>...)) can be filled in"
            )
    for criterion in spec.criteria or ():
        if criteria is not None and criterion not in criteria:
            raise ConfigError(
                f"{where}: unknown criterion {criterion!r}{_suggest(criterion, criteria)}; "
                "name one of [tool.ci_tools.criteria]"
            )
    if base is None:
        base = Rule(
            spec.name,
            _failure_class(spec.failure_class),
            spec.name.replace("_", " ").capitalize(),
            spec.pattern or "",
        )
    return Rule(
        spec.name,
        _failure_class(spec.failure_class or base.failure_class),
        base.title if spec.title is None else spec.title,
        base.source if spec.pattern is None else spec.pattern,
        base.part if spec.part is None else spec.part,
        base.areas if spec.areas is None else spec.areas,
        base.failfast if spec.failfast is None else spec.failfast,
        base.criteria if spec.criteria is None else spec.criteria,
        base.pressure if spec.pressure is None else spec.pressure,
    )


def table(
    specs: Sequence[RuleSpec] = (),
    disable: Collection[str] = (),
    criteria: Collection[str] | None = None,
    builtins: Sequence[Rule] = RULES,
) -> tuple[Rule, ...]:
    """The effective rule table: the built-ins with a project's rules. A spec named like a
    built-in replaces it in place (the fields it gives); a new one goes before every built-in
    in the order given, or just before the rule its ``before`` names; ``disable`` removes
    built-ins. ``criteria``: the known criterion names (None: not checked). Every mistake is
    a ConfigError naming the rule and the fix."""
    by_name = {rule.name: rule for rule in builtins}
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(
                f"{spec.origin}: rule {spec.name!r} is defined twice; keep one (rules from "
                "pyproject.toml and the rules file share one table)"
            )
        seen.add(spec.name)
    for name in disable:
        if name not in by_name:
            raise ConfigError(
                f"rules.disable: {name!r} is no built-in rule{_suggest(name, by_name)}; "
                "disable names a rule of ci_tools.rules.RULES"
            )
        if name in seen:
            raise ConfigError(
                f"rules.disable: {name!r} is also defined under rules.rule; drop one of the two"
            )
    compiled = [(spec, _compiled(spec, by_name.get(spec.name), criteria)) for spec in specs]
    replaced = {rule.name: rule for spec, rule in compiled if spec.name in by_name}
    rows = [replaced.get(rule.name, rule) for rule in builtins if rule.name not in disable]
    new_first = [rule for spec, rule in compiled if spec.name not in by_name and not spec.before]
    rows = [*new_first, *rows]
    for spec, rule in compiled:
        if not spec.before:
            continue
        rows = [row for row in rows if row.name != rule.name]
        at = next((i for i, row in enumerate(rows) if row.name == spec.before), None)
        if at is None:
            names = [row.name for row in rows]
            raise ConfigError(
                f"{spec.origin}: rule {spec.name!r}: before = {spec.before!r} names no rule of "
                f"the table{_suggest(spec.before, names)}; name a built-in or another rule "
                "(not a disabled one, not itself)"
            )
        rows.insert(at, rule)
    return tuple(rows)


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
    trips it. Pure: the plugin feeds it failures (matched against ``rules``, the project's
    table) and shares its trips with the workers."""

    def __init__(self, after: int = 2, rules: Sequence[Rule] = RULES) -> None:
        self.after = after
        self.rules = rules
        self._seen: dict[str, list[str]] = {}
        self.trips: list[Trip] = []

    def observe(self, text: str, message: str) -> Trip | None:
        """Notes one failure; returns the trip it causes, if this one tips a part over."""
        found = match(text, self.rules)
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
