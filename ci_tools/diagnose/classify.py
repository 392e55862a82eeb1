"""Classification: each failure under the rule its evidence names.

The evidence of a failure is its exception and message, the error log lines of its own
requests (by trace id), and the crash signatures of the services that answered it with a 5xx
(a crash at start-up has no trace id, but explains the 503).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from ci_tools.context.analysis import severity_rank, signature
from ci_tools.context.model import LogLine
from ci_tools.records import TestRecord
from ci_tools.rules import SETUP_FAILED, WRONG_BEHAVIOUR, FailureClass, Match, Rule, failure_text
from ci_tools.rules import match as match_rule

ERROR = severity_rank("ERROR")
CRITICAL = severity_rank("CRITICAL")
_REQUEST_LINE = re.compile(r"^[A-Z]+ /\S* \d{3}$")


def is_error(line: LogLine) -> bool:
    """ERROR or worse."""
    return severity_rank(line.severity) >= ERROR


def is_crash(severity: str) -> bool:
    """CRITICAL or worse: what a service logs when it cannot serve at all."""
    return severity_rank(severity) >= CRITICAL


@dataclasses.dataclass(frozen=True)
class Classified:
    """One failure with the rule (cause) it is put under."""

    record: TestRecord
    rule: Rule
    title: str
    signature: str  # what groups it: its own top error log line, else its failure message
    logs: tuple[LogLine, ...]
    consequence_of: str = ""  # the root cause's title, when a symptom was put under it

    @property
    def failure_class(self) -> FailureClass:
        """Its class: a consequence takes its root's."""
        return self.rule.failure_class


def classify(
    record: TestRecord, logs: Sequence[LogLine], service_errors: Sequence[str] = ()
) -> Match:
    """The rule that names this failure, from all its evidence."""
    failure = record.failure
    text = (
        failure_text(failure.type, failure.message, record.areas, failure.timed_out)
        if failure
        else ""
    )
    own = [f"{line.message} HTTP {line.status}" for line in logs if is_error(line)]
    found = match_rule(" ".join([*service_errors, text, *own]))
    if found is not None:
        return found
    fallback = SETUP_FAILED if record.outcome == "error" else WRONG_BEHAVIOUR
    return Match(fallback, fallback.title)


def group_signature(record: TestRecord, logs: Sequence[LogLine]) -> str:
    """Its own first error log line (not the request line), else its failure message."""
    errors = [
        line
        for line in logs
        if severity_rank(line.severity) in (ERROR, CRITICAL)
        and not _REQUEST_LINE.match(line.message)
    ]
    if errors:
        return f"{errors[0].service}: {signature(errors[0].message)}"
    failure = record.failure
    return signature(f"{failure.type}: {failure.message}" if failure else record.outcome)
