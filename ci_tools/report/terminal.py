"""The verdict on a terminal: a short, coloured summary (plain text when not a TTY)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

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
    """Phases, the top causes and where the worklog is."""
    console = console or Console(highlight=False)
    table = Table(title="Phases", show_edge=False)
    for column in ("phase", "passed", "failed", "skipped", "not run", "gate"):
        table.add_column(column)
    for gate in diagnosis.gates:
        table.add_row(
            f"{gate.phase} {gate.title}",
            str(gate.passed),
            str(gate.failed + gate.errors),
            str(gate.skipped),
            str(gate.not_run),
            f"[{STYLES[gate.status]}]{gate.status}[/]",
        )
    console.print(table)
    level = diagnosis.escalation.level
    console.print(
        f"verdict: [{VERDICT_STYLES[diagnosis.verdict]}]{diagnosis.verdict}[/]"
        + (f", escalation [bold red]{level}[/]" if level != "none" else "")
    )
    for cause in diagnosis.headlines or diagnosis.causes[:1]:
        console.print(f"  cause: [bold]{cause.title}[/] ({cause.failure_class})")
        for line in cause.evidence[:3]:
            console.print(f"    - {line}", markup=False)
    for fired in diagnosis.escalation.fired:
        console.print(f"  escalation {fired.level}: {fired}", markup=False)
    for note in diagnosis.notes:
        console.print(f"  note: {note}", markup=False)
    console.print(f"worklog: {worklog}")
