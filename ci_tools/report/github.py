"""Everything that touches GitHub Actions: the one module that reads ``GITHUB_*``.

Appends the worklog to ``$GITHUB_STEP_SUMMARY`` (never overwrites), writes ``$GITHUB_OUTPUT``,
and prints ``::error`` workflow commands (GitHub shows at most 10 per step, so one per
signature group, worst first). Formatting lives in pure helpers.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from ci_tools._exceptions import ConfigError
from ci_tools.diagnose import Diagnosis
from ci_tools.escape import command_data as _escape_data
from ci_tools.escape import command_property as _escape_property
from ci_tools.phases import GateResult

MAX_ANNOTATIONS = 10


@dataclasses.dataclass(frozen=True)
class Actions:
    """The GitHub Actions environment, read once."""

    summary: Path | None
    output: Path | None
    sha: str | None
    active: bool
    attempt: int = 1  # GITHUB_RUN_ATTEMPT: a re-run is a new attempt of the same run

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Actions:
        """Reads the variables Actions sets; outside Actions everything is None."""
        return cls(
            summary=Path(environ["GITHUB_STEP_SUMMARY"])
            if environ.get("GITHUB_STEP_SUMMARY")
            else None,
            output=Path(environ["GITHUB_OUTPUT"]) if environ.get("GITHUB_OUTPUT") else None,
            # The deployed commit: a workflow_run's head SHA (passed as CI_TOOLS_COMMIT) is not
            # GITHUB_SHA, which is the default branch's head there.
            sha=environ.get("CI_TOOLS_COMMIT") or environ.get("GITHUB_SHA"),
            active=environ.get("GITHUB_ACTIONS") == "true",
            attempt=_attempt(environ.get("GITHUB_RUN_ATTEMPT") or "1"),
        )


def _attempt(text: str) -> int:
    """``GITHUB_RUN_ATTEMPT``: a positive whole number in ASCII digits (``int`` takes "²"
    or "٣" too, or fails with a traceback); refused in one line otherwise."""
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise ConfigError(
            f"GITHUB_RUN_ATTEMPT: {text!r} is not a positive whole number in ASCII digits "
            "(GitHub sets 1, 2, ...); unset it or set e.g. GITHUB_RUN_ATTEMPT=1"
        )
    return int(text)


def build_workflow_command(command: str, message: str, **properties: str | int) -> str:
    """``::command key=value,...::message`` with GitHub's escaping (``ci_tools.escape``): one
    line, whatever the message and the properties hold."""
    props = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items())
    return (
        f"::{command} {props}::{_escape_data(message)}"
        if props
        else (f"::{command}::{_escape_data(message)}")
    )


def gate_annotation(gate: GateResult) -> str:
    """The error annotation of a phase whose gate was not met."""
    return build_workflow_command(
        "error", gate.reason, title=f"Phase {gate.phase} ({gate.title}): gate not met"
    )


def error_annotations(diagnosis: Diagnosis) -> list[str]:
    """One ``::error`` per signature group, worst first, at most 10."""
    titles = {cause.title: cause for cause in diagnosis.causes}
    lines = []
    for group in diagnosis.groups[:MAX_ANNOTATIONS]:
        cause = titles.get(group.cause)
        # The experiment's finding beside the class, when the re-runs compared the group.
        found = f", {group.finding}" if group.finding not in ("", "no baseline") else ""
        title = f"{group.cause} ({group.failure_class}{found})"
        detail = (
            f"{len(group.tests)} test(s) in phase {', '.join(map(str, group.phases))}: "
            f"{group.signature}"
        )
        if cause and len(cause.evidence) > 1:
            detail += "\n" + "\n".join(cause.evidence[1:4])
        lines.append(
            build_workflow_command(
                "error", detail, file=group.file, line=max(group.line, 1), title=title
            )
        )
    return lines


def format_outputs(values: Mapping[str, str]) -> str:
    """``$GITHUB_OUTPUT`` lines; a multi-line value uses a random heredoc delimiter."""
    lines = []
    for key, value in values.items():
        if "\n" in value:
            delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
            lines.append(f"{key}<<{delimiter}\n{value}\n{delimiter}")
        else:
            lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def publish(actions: Actions, summary: str, values: Mapping[str, str]) -> None:
    """Appends the summary and the outputs to the files Actions gave."""
    if actions.summary is not None:
        with actions.summary.open("a", encoding="utf-8") as file:
            file.write(summary)
    if actions.output is not None:
        with actions.output.open("a", encoding="utf-8") as file:
            file.write(format_outputs(values))


def mask_commands(environ: Mapping[str, str], values: Iterable[str]) -> list[str]:
    """In GitHub Actions, one ``::add-mask::`` per secret value (per line of a multi-line
    one, as GitHub asks), for stdout before anything else: the job's log then hides each
    wherever it appears. None outside Actions, where the line would show the value."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return []
    lines = {line.strip() for value in values for line in value.splitlines()}
    return [f"::add-mask::{_escape_data(line)}" for line in sorted(lines) if line]
