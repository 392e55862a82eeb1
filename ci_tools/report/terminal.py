"""The verdict on a terminal: a short, coloured summary (plain text when not a TTY)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ci_tools import escape
from ci_tools.diagnose import Diagnosis, Verdict
from ci_tools.phases import GateStatus

STYLES: dict[GateStatus, str] = {
    "met": "green",
    "not_met": "bold red",
    "skipped": "yellow",
    "not_run": "yellow",
}
VERDICT_STYLES: dict[Verdict, str] = {
    "healthy": "bold green",
    "unhealthy": "bold red",
    "incomplete": "bold yellow",
    "unknown": "bold yellow",
    "suite_broken": "bold yellow",
}


def print_summary(diagnosis: Diagnosis, worklog: str, console: Console | None = None) -> None:
    """Phases, the verdict, whether this deploy caused the failures (the experiment's
    headline), the top causes and where the worklog is. Text that came from a test, a service
    or a log is made inert (``ci_tools.escape.terminal``) and never read as markup."""
    console = console or Console(highlight=False)
    table = Table(title="Phases", show_edge=False)
    for column in ("phase", "passed", "failed", "skipped", "not run", "gate"):
        table.add_column(column)
    for gate in diagnosis.gates:
        table.add_row(
            _text(f"{gate.phase} {gate.title}"),
            str(gate.passed),
            str(gate.failed + gate.errors),
            str(gate.skipped),
            str(gate.not_run),
            Text(gate.status, style=STYLES[gate.status]),
        )
    console.print(table)
    level = diagnosis.escalation.level
    verdict = Text.assemble("verdict: ", (diagnosis.verdict, VERDICT_STYLES[diagnosis.verdict]))
    if level != "none":
        verdict.append(", escalation ").append(level, style="bold red")
    console.print(verdict)
    if diagnosis.experiment_headline:  # did this deploy cause it: the worklog's sentence
        console.print(_text(f"  experiment: {diagnosis.experiment_headline}"))
    for cause in diagnosis.headlines or diagnosis.causes[:1]:
        console.print(
            Text.assemble("  cause: ", _text(cause.title, "bold"), f" ({cause.failure_class})")
        )
        for line in cause.evidence[:3]:
            console.print(_text(f"    - {line}"))
    for fired in diagnosis.escalation.fired:
        console.print(_text(f"  escalation {fired.level}: {fired}"))
    for note in diagnosis.notes:
        console.print(_text(f"  note: {note}"))
    console.print(_text(f"worklog: {worklog}"))


def _text(text: str, style: str = "") -> Text:
    """Untrusted text for rich: inert for the runner, and no markup or emoji code read."""
    return Text(escape.terminal(text), style=style)
