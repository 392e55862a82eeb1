"""Hostile text, as a service, a test or a log may hand it to the report: workflow commands,
HTML that closes the summary's blocks, Markdown headings after a line break, odd backticks;
and a synthetic diagnosis that carries it in every place untrusted text reaches, plus the
parsers that judge the output (the runner's command parser, GFM's HTML)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import cmarkgfm  # type: ignore[import-untyped]
from cmarkgfm.cmark import Options  # type: ignore[import-untyped]
from hypothesis import strategies as st

from ci_tools import config as cfg
from ci_tools.context.model import (
    Context,
    LogLine,
    RevisionInfo,
    ServiceContext,
    Signature,
    TestContext,
)
from ci_tools.diagnose import Diagnosis, diagnose
from ci_tools.diagnose.escalation import Fired
from ci_tools.phases import evaluate_gate
from ci_tools.records import Failure, PhaseRecords, TestRecord
from tests.fakes.records import make_record

FRAGMENTS = (
    "::error::x",
    "::stop-commands::tok",
    "::add-mask::secret",
    "::set-output name=verdict::healthy",
    "  ::warning file=a.py::w",
    "##[error]",
    "##[stop-commands]tok",
    "##[group]g",
    "</details>",
    "<details>",
    "</summary>",
    "\n# Deploy healthy",
    "\r# Deploy healthy",
    "\n\n## Summary\n",
    "\r",
    "\n",
    "\r\n",
    "`",
    "``",
    "```",
    "~~~",
    "|",
    "\\",
    "\\|",
    "<script>alert(1)</script>",
    "<!--",
    "-->",
    "[x](javascript:alert(1))",
    "*",
    "_",
    "# ",
    "- ",
    "1. ",
    "> ",
    "    ",
    "\t",
    "&lt;",
    "[bold]",
    "[/]",
    ":",
    "#",
    "\x1b[31m",
    "\u2028",
)
# Ordinary text around the fragments: long words, spaces, punctuation (rich wraps it).
ORDINARY = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ("GET /api/threads", "HTTP 503", "a" * 90, " " * 40, "tests/e2e/t.py")
)


def payloads() -> st.SearchStrategy[str]:
    """Random text with injected fragments; never empty."""
    part = st.sampled_from(FRAGMENTS) | ORDINARY
    return st.lists(part, min_size=1, max_size=8).map("".join).filter(bool)


@dataclasses.dataclass(frozen=True)
class Hostile:
    """The untrusted texts of one synthetic run, one per place they reach."""

    message: str  # a failure message
    test_id: str  # a parametrised test's id
    log: str  # a log line of the test's request, and a service's log signature
    title: str  # a cause title built from such text
    evidence: str  # an evidence line
    file: str = "tests/e2e/phase1/test_x.py"  # the failing test's file
    service: str = "backend"  # a service name
    url: str = "https://console.cloud.google.com/logs/query;query=x?project=p"

    @classmethod
    def strategy(cls) -> st.SearchStrategy[Hostile]:
        """Every field hostile."""
        return st.builds(
            cls,
            message=payloads(),
            test_id=payloads(),
            log=payloads(),
            title=payloads(),
            evidence=payloads(),
            file=payloads(),
            service=payloads(),
            url=payloads(),
        )


def _records(hostile: Hostile) -> list[TestRecord]:
    failure = Failure("AssertionError", hostile.message, "Traceback ...", where=hostile.file)
    return [
        make_record("ok", file=hostile.file),
        make_record(
            f"test_x[{hostile.test_id}]",
            file=hostile.file,
            line=7,
            outcome="failed",
            priority="P1",
            areas=("threads",),
            failure=failure,
            trace_ids=("t1",),
        ),
        make_record(
            f"test_y[{hostile.message}]",
            file=hostile.file,
            outcome="failed",
            failure=Failure("ConnectionError", hostile.log),
        ),
    ]


def hostile_context(hostile: Hostile, records: Sequence[TestRecord]) -> Context:
    """One service whose name, log signature, revision and log lines are hostile."""
    line = LogLine("2026-12-05T10:00:00Z", "ERROR", hostile.service, hostile.log, "t1", 500)
    revision = RevisionInfo(
        hostile.service, "2026-12-05T09:00:00Z", "img", "sha:a", (), {}, {}, "300s", "sa", ()
    )
    signature = Signature(
        hostile.log, 3, "2026-12-05T10:00:00Z", "2026-12-05T10:00:01Z", "ERROR", hostile.log,
        hostile.url,
    )  # fmt: skip
    service = ServiceContext(
        role=hostile.service,
        name=hostile.service,
        revision=revision,
        revision_age_s=60.0,
        revision_url=hostile.url,
        signatures=(signature,),
        logs_unavailable=hostile.message,
    )
    tests = tuple(
        TestContext(r.nodeid, r.phase, ("t1",), (hostile.url,), (line,))
        for r in records
        if r.outcome == "failed"
    )
    return Context(
        "2026-12-05T10:01:00Z", "staging", "local", "p", "r", None, None, len(tests),
        {hostile.service: 2}, (service,), tests,
    )  # fmt: skip


def hostile_diagnosis(config: cfg.Config, hostile: Hostile) -> tuple[Diagnosis, Context]:
    """The real diagnosis of a run whose failures, test ids and logs are hostile; then its
    cause titles, evidence, logs link and notes replaced by hostile text too (what a rule's
    title or an evidence line may quote)."""
    records = _records(hostile)
    context = hostile_context(hostile, records)
    found = PhaseRecords(tuple(records), (), 0)
    gates = [evaluate_gate(1, config.phases[1], config, found)]
    diagnosis = diagnose(config, gates, records, context, (hostile.message,))
    causes = tuple(
        dataclasses.replace(c, title=f"{c.title} {hostile.title}", evidence=(hostile.evidence,))
        for c in diagnosis.causes
    )
    groups = tuple(
        dataclasses.replace(
            g,
            cause=causes[0].title if causes else g.cause,
            evidence=(*g.evidence, hostile.evidence),
            logs_url=hostile.url,
            trace_urls=(hostile.url,),
        )
        for g in diagnosis.groups
    )
    escalation = dataclasses.replace(
        diagnosis.escalation,
        fired=(Fired(hostile.title, "P1", hostile.evidence),),
        notes=(hostile.log,),
    )
    headlines = causes[:2]
    diagnosis = dataclasses.replace(
        diagnosis,
        causes=causes,
        groups=groups,
        headlines=headlines,
        escalation=escalation,
        retried=(hostile.test_id,),
    )
    return diagnosis, context


def workflow_commands(text: str) -> list[str]:
    """The lines of ``text`` the Actions runner would take as workflow commands: after
    leading whitespace, ``::name ...::``; or the legacy ``##[name ...]`` anywhere in the
    line. A lone carriage return starts a new line, as in the runner's log."""
    return [line for line in re.split(r"\r\n|\r|\n", text) if _is_command(line)]


def _is_command(line: str) -> bool:
    stripped = line.lstrip()
    if stripped.startswith("::") and "::" in stripped[2:]:
        return True
    return "##[" in line and "]" in line[line.index("##[") + 3 :]


def parse_workflow_command(line: str) -> tuple[str, dict[str, str], str]:
    """A ``::name k=v,...::data`` line as the runner reads it: its name, properties and data,
    unescaped."""

    def unescape(text: str, *, prop: bool) -> str:
        text = text.replace("%0D", "\r").replace("%0A", "\n")
        if prop:
            text = text.replace("%3A", ":").replace("%2C", ",")
        return text.replace("%25", "%")

    assert line.startswith("::")
    head, data = line[2:].split("::", 1)
    name, _, props = head.partition(" ")
    properties = {}
    for pair in props.split(",") if props else ():
        key, _, value = pair.partition("=")
        properties[key] = unescape(value, prop=True)
    return name, properties, unescape(data, prop=False)


def to_html(markdown: str) -> str:
    """GitHub's Markdown renderer (cmark-gfm with its extensions), raw HTML kept as GitHub
    keeps it before sanitising."""
    return str(
        cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    )
