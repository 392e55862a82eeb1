"""Classification: each failure under the cause its evidence names.

The evidence of a failure (``ci_tools.diagnose.evidence``) is its exception and message, where
it was raised (the test body, a helper or fixture of the suite, a client library), what the
services answered to its own requests (by trace id), the crash signatures of the services
that answered it with a 5xx (a crash at start-up has no trace id, but explains the 503), and
what changed since the last healthy run. In order:

1. the suite's own defects, from the record alone (``ci_tools.defects``): a module that could
   not be collected, a programming error raised by the suite's code, a fixture pytest does
   not know. They are *test* failures whatever else the run shows;
2. the rules (``ci_tools.rules`` and ``[tool.ci_tools.rules]``) over the exception, the
   services' error lines (reduced to their exception lines) and the statuses they answered;
3. what is left is judged on the answer and on what changed: a 500 names its endpoint and
   the exception the service logged; a 4xx or wrong content from a platform whose code and
   config did not change since the last healthy run points at the suite; from a platform that
   changed, at the deployed code, named by the sub-agent, the field or the endpoint.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from ci_tools.context.analysis import severity_rank, signature
from ci_tools.context.model import LogLine
from ci_tools.defects import suite_defect, where_file
from ci_tools.diagnose.evidence import REQUEST_LINE, Answer, Evidence, error_lines, gather
from ci_tools.experiment import Comparison, Finding, Shown
from ci_tools.records import Failure, TestRecord
from ci_tools.rules import (
    APPLICATION,
    SETUP_FAILED,
    TEST,
    WRONG_BEHAVIOUR,
    FailureClass,
    Match,
    Rule,
    failure_text,
)
from ci_tools.rules import match as match_rule

WARNING = severity_rank("WARNING")
ERROR = severity_rank("ERROR")
CRITICAL = severity_rank("CRITICAL")
SUITE = "the suite"  # the part a test defect names


def _evidence_rule(name: str, failure_class: FailureClass, title: str, part: str = "") -> Rule:
    """A cause decided by evidence rather than by a pattern (its pattern never matches)."""
    return Rule(name, failure_class, title, re.compile(r"$^"), part)


COLLECTION = _evidence_rule("collection", TEST, "Test module cannot be collected", SUITE)
SUITE_DEFECT = _evidence_rule("suite_defect", TEST, "Suite defect", SUITE)
SUITE_EXPECTATION = _evidence_rule(
    "suite_expectation", TEST, "Test expects what the platform does not do", SUITE
)
SUITE_REQUEST = _evidence_rule("suite_request", TEST, "Suite's request refused", SUITE)
HANDLER_ERROR = _evidence_rule("handler_error", APPLICATION, "Handler error (500)")
CONTRACT = _evidence_rule("contract", APPLICATION, "Contract broken (4xx)")
CONTRACT_FIELD = _evidence_rule("contract_field", APPLICATION, "Field missing from an answer")
# Application causes named from neutral evidence (a 2xx, no error line): still movable under
# an infrastructure root that serves the test's areas (an empty list from a cache that is down).
NEUTRAL = frozenset({WRONG_BEHAVIOUR.name})
_MISSING_FIELD = re.compile(
    r"^KeyError: '(?P<name>[\w.-]+)'$|\b(?:missing|required) (?:field|key|property) "
    r"'?(?P<name2>[\w.-]+)|'(?P<name3>[\w.-]+)' is a required property|"
    r"(?m:^(?P<name4>[\w.-]+)\n\s+Field required)"
)
# An assertion over the events of a session: their order or their set differs.
_EVENTS = re.compile(r"\bevents?\b.*\[|\b(?:agent|tool)_\w+'?, '?(?:agent|tool)_\w+")
# pytest's explanation of two lists that differ, and a list of quoted names in a message.
_INDEX_DIFF = re.compile(r"At index \d+ diff: '(?P<got>[^'\n]+)' != '(?P<wanted>[^'\n]+)'")
_LISTED = re.compile(r"\[(?:'[^'\n]*',? ?)+\]")
_EXCEPTION_TYPE = re.compile(r"\b(?P<type>[A-Z]\w*(?:Error|Exception))\b")
# A status the failure's own message states when no request line was logged: a helper's
# "read messages: HTTP 404", httpx's "Client error '422 Unprocessable Entity'", requests'
# "404 Client Error", pytest's "assert 200 == 201" of a compared status code.
_STATED_STATUS = re.compile(
    r"\bHTTP (?P<a>[1-5]\d\d)\b|\b(?:Client|Server) error '(?P<b>[1-5]\d\d) |"
    r"\b(?P<c>[1-5]\d\d) (?:Client|Server) Error\b|^assert (?P<d>[1-5]\d\d) == [1-5]\d\d$",
    re.MULTILINE,
)
# A request the service refused as the requester's mistake: a path, method or body it does
# not take, a conflict with what exists. Not 401/403 (credentials: the platform's secrets),
# 408 or 429 (capacity).
_REFUSED = frozenset({400, 404, 405, 409, 410, 411, 413, 414, 415, 422})


def is_error(line: LogLine) -> bool:
    """ERROR or worse."""
    return severity_rank(line.severity) >= ERROR


def is_crash(severity: str) -> bool:
    """CRITICAL or worse: what a service logs when it cannot serve at all."""
    return severity_rank(severity) >= CRITICAL


@dataclasses.dataclass(frozen=True)
class Classified:
    """One failure with the rule (cause) it is put under, and the evidence it was judged on."""

    record: TestRecord
    rule: Rule
    title: str
    signature: str  # what groups it: its cause when named, its own error line, its message
    logs: tuple[LogLine, ...]
    consequence_of: str = ""  # the symptom's own title, when it was put under a root
    evidence: Evidence = dataclasses.field(default_factory=Evidence)
    # The experiment (ci_tools.diagnose.findings): its comparison (None for a suite defect,
    # never run again, or a run without an experiment); what the re-runs showed, its own or,
    # when it was not run again itself, that of the failure of its group run on both
    # (``inferred_from``); its finding and why.
    comparison: Comparison | None = None
    shown: Shown | None = None
    inferred_from: str = ""
    finding: Finding | None = None
    finding_reason: str = ""

    @property
    def failure_class(self) -> FailureClass:
        """Its class: a consequence takes its root's."""
        return self.rule.failure_class


def own_lines(logs: Sequence[LogLine]) -> list[str]:
    """What the rules read of the test's own log lines: each error line reduced to its
    exception lines, and the status of each failed request."""
    read = []
    for line in logs:
        request = REQUEST_LINE.match(line.message.strip())
        if request is not None:
            if int(request["status"]) >= 400:
                read.append(f"HTTP {request['status']}")
        elif severity_rank(line.severity) >= WARNING:
            # A WARNING too: a service refusing a token logs why at WARNING, not ERROR.
            read += error_lines(line.message)
    return read


def _named(rule: Rule, title: str, part: str) -> Match:
    return Match(dataclasses.replace(rule, title=title, part=part), title)


def subagents(areas: Sequence[str]) -> list[str]:
    """The sub-agents a test's areas name, as parts (``agent.data``: ``data sub-agent``)."""
    return sorted(
        {f"{a.removeprefix('agent.')} sub-agent" for a in areas if a.startswith("agent.")}
    )


def _subagent(areas: Sequence[str]) -> str:
    names = subagents(areas)
    return names[0] if len(names) == 1 else ""


def _suite(record: TestRecord, evidence: Evidence) -> Match:
    failure = record.failure
    assert failure is not None
    if evidence.frame == "collection":
        module = record.nodeid.split("::", 1)[0]
        title = f"Test module {module} cannot be collected ({failure.type})"
        return _named(COLLECTION, title, SUITE)
    said = failure.message.splitlines()[0][:100] if failure.message else ""
    title = f"Suite defect in {where_file(failure) or record.file}: {failure.type}: {said}"
    title = title.rstrip(": ")
    return _named(SUITE_DEFECT, title, SUITE)


def _handler_error(answer: Answer) -> Match:
    found = _EXCEPTION_TYPE.search(answer.error)
    raised = f" ({found['type']})" if found else ""
    part = answer.request or answer.service
    return _named(HANDLER_ERROR, f"{part} fails with {answer.status or 500}{raised}", part)


def _points_at_suite(evidence: Evidence) -> bool:
    """Whether what changed says the suite, not the platform: every service it reached is
    known unchanged since the last healthy run, or only the suite's files changed."""
    changed = evidence.platform_changed
    unchanged = changed is False and all(c.healthy for c in evidence.changes)
    return unchanged or (bool(evidence.suite_changed) and not changed)


def answered_status(record: TestRecord, evidence: Evidence) -> int | None:
    """The worst status the failed test got: its logged requests', else the one its own
    failure message states; None when neither says."""
    worst = evidence.worst
    if worst is not None and worst.status is not None:
        return worst.status
    failure = record.failure
    stated = _STATED_STATUS.search(failure.message) if failure else None
    return int(next(v for v in stated.groupdict().values() if v)) if stated else None


def _suite_shaped(record: TestRecord, evidence: Evidence) -> bool:
    """Whether the answer itself says the suite, when nothing says the platform changed:
    every request succeeded (2xx) with no error logged and the suite's assertion failed, or
    the service refused the request as malformed (a 404, a 422) without logging an error."""
    failure = record.failure
    worst = evidence.worst
    if failure is None or evidence.platform_changed or (worst is not None and worst.error):
        return False
    status = answered_status(record, evidence)
    if status in _REFUSED:
        return True
    return status is not None and 200 <= status < 300 and failure.type.endswith("AssertionError")


def _suite_side(record: TestRecord, evidence: Evidence) -> Match:
    """The suite's request or expectation, named by the suite's file that made it."""
    status = answered_status(record, evidence)
    failure = record.failure
    made = where_file(failure) if failure else ""
    made = f" in {made or record.file}" if made or record.file else ""
    if status is not None and 400 <= status < 500:
        worst = evidence.worst
        endpoint = worst.endpoint if worst is not None and worst.status == status else ""
        answers = f": {endpoint} answers {status}" if endpoint else f" ({status})"
        return _named(SUITE_REQUEST, f"{SUITE_REQUEST.title}{made}{answers}", SUITE)
    answered = f" (it answered {status}, no error logged)" if status is not None else ""
    return _named(SUITE_EXPECTATION, f"{SUITE_EXPECTATION.title}{made}{answered}", SUITE)


def _refused(found: Match, worst: Answer | None) -> Match:
    """A 4xx from a platform that changed, named by the refused request when it was logged."""
    if worst is None or not worst.request:
        return found
    title = f"{worst.request} answers {worst.status} (contract changed?)"
    return _named(found.rule, title, worst.request)


def _event_sequence(failure: Failure) -> str:
    """What differs in a session's events, from pytest's own comparison ("At index 1 diff:
    'tool_executing' != 'agent_thinking'"): an event out of its place when the events the
    test saw hold the expected one elsewhere, else the expected one missing."""
    diff = _INDEX_DIFF.search(f"{failure.message}\n{failure.traceback}")
    if diff is None:
        return "WebSocket event sequence differs from the expected"
    got, wanted = diff["got"], diff["wanted"]
    seen = _LISTED.search(failure.message)
    if seen is not None and f"'{wanted}'" in seen[0]:
        return f"WebSocket events out of order: '{got}' arrives before '{wanted}'"
    return f"WebSocket event '{wanted}' missing: '{got}' arrives in its place"


def missing_field(record: TestRecord) -> str:
    """The field of an answer the failure says is missing (a KeyError, a schema's "required
    property"); "" when it names none."""
    failure = record.failure
    found = _MISSING_FIELD.search(f"{failure.type}: {failure.message}") if failure else None
    return next(v for v in found.groupdict().values() if v) if found else ""


def field_missing(name: str, service: str, endpoints: Sequence[str]) -> Match:
    """One missing field is one cause, whichever of a service's endpoints lacked it:
    ``Field 'content' missing from the answers of backend POST /api/threads and GET ...``."""
    shown = [e for e in endpoints if e]
    if not service or not shown:
        return _named(CONTRACT_FIELD, f"Field '{name}' missing from the answer", "contract")
    where = " and ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)
    plural = "answers" if len(shown) > 1 else "answer"
    title = f"Field '{name}' missing from the {plural} of {service} {where}"
    return _named(CONTRACT_FIELD, title, f"{service} {shown[0]}")


def _deployed_code(record: TestRecord, evidence: Evidence) -> Match:
    """Wrong content from the deployed code, named by what it hit: the missing field, the
    WebSocket events, the sub-agent of the failing tests, the endpoint answered."""
    worst = evidence.worst
    endpoint = worst.request if worst is not None else ""
    failure = record.failure
    if record.outcome == "error" and (failure is None or evidence.frame in ("fixture", "")):
        return Match(SETUP_FAILED, SETUP_FAILED.title)
    message = f"{failure.type}: {failure.message}" if failure else ""
    answered = f" of {endpoint}" if endpoint else ""
    name = missing_field(record)
    if name:
        return field_missing(
            name, worst.service if worst else "", [worst.endpoint] if worst else []
        )
    if _EVENTS.search(message) and "websocket" in record.areas and failure is not None:
        return _named(WRONG_BEHAVIOUR, _event_sequence(failure), "WebSocket events")
    subagent = _subagent(record.areas)
    if subagent:
        return _named(WRONG_BEHAVIOUR, f"{subagent.capitalize()} answers wrong content", subagent)
    return Match(WRONG_BEHAVIOUR, f"{WRONG_BEHAVIOUR.title}{answered}")


def _judged(record: TestRecord, evidence: Evidence, found: Match | None) -> Match:
    """What the evidence says of a failure no rule named, or named only as a symptom of the
    deployed code (a 4xx, a 500, wrong content): a 500 with the service's own error names
    its endpoint; then what changed decides between the suite and the deployed code, and
    when nothing says the platform changed, the answer does: a 2xx under a failed assertion
    or a request refused as malformed is the suite's."""
    worst = evidence.worst
    if worst is not None and (worst.status or 0) >= 500 and worst.error:
        return _handler_error(worst)
    if found is not None and found.rule.name != "contract":
        return found
    if record.outcome != "error" and (
        _points_at_suite(evidence) or _suite_shaped(record, evidence)
    ):
        return _suite_side(record, evidence)
    if found is not None:  # the contract rule: a 4xx
        return _refused(found, evidence.worst)
    return _deployed_code(record, evidence)


def classify(
    record: TestRecord,
    logs: Sequence[LogLine],
    service_errors: Sequence[str] = (),
    *,
    evidence: Evidence | None = None,
    rules: Sequence[Rule] | None = None,
) -> Match:
    """The cause that names this failure, from all its evidence."""
    failure = record.failure
    evidence = evidence if evidence is not None else gather(failure, logs, {})
    if failure is not None and suite_defect(record):
        return _suite(record, evidence)
    text = (
        failure_text(failure.type, failure.message, record.areas, failure.timed_out)
        if failure
        else ""
    )
    joined = " ".join([*service_errors, text, *own_lines(logs)])
    found = match_rule(joined) if rules is None else match_rule(joined, rules)
    if found is not None and found.rule.failure_class != APPLICATION:
        return found
    return _judged(record, evidence, found)


def group_signature(record: TestRecord, logs: Sequence[LogLine], found: Match) -> str:
    """A named cause of the deployed code or of the suite groups by its title (one defect is
    one group, whatever each test asserted); otherwise the test's own first error line (not
    a request line), else its failure message."""
    if found.rule.part and found.rule.failure_class in (APPLICATION, TEST):
        return found.title
    errors = [
        line
        for line in logs
        if severity_rank(line.severity) in (ERROR, CRITICAL)
        and not REQUEST_LINE.match(line.message.strip())
    ]
    if errors:
        return f"{errors[0].service}: {signature(errors[0].message)}"
    failure = record.failure
    return signature(f"{failure.type}: {failure.message}" if failure else record.outcome)


def regressed(item: Classified) -> Classified:
    """A failure the rules put under the suite (not a defect of the suite's own code) that
    passes on the baseline and fails again on the candidate: the experiment outranks the
    patterns, it is the deployed code's. Named as the deployed code's evidence names it (the
    field, the events, the sub-agent, the endpoint; a 4xx as the contract's); else its title,
    said of this deploy."""
    status = answered_status(item.record, item.evidence)
    if status is not None and 400 <= status < 500:
        found = _refused(Match(CONTRACT, CONTRACT.title), item.evidence.worst)
    else:
        found = _deployed_code(item.record, item.evidence)
    if found.rule.failure_class != APPLICATION:
        rule = dataclasses.replace(item.rule, failure_class=APPLICATION, part="")
        found = Match(rule, f"Fails on this deploy only: {item.title}")
    return dataclasses.replace(
        item,
        rule=found.rule,
        title=found.title,
        signature=group_signature(item.record, item.logs, found),
        consequence_of="",
    )
