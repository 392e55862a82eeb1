"""The report stage: a run's records, gates and context become the worklog and its outputs.

``worklog.md`` (and, in GitHub Actions, the step summary), ``::error`` annotations,
``$GITHUB_OUTPUT`` and ``verdict.json`` for workflows to act on, ``junit.xml`` for other tools.
Bad input (missing or truncated files, lines that do not parse) is counted and said in the
worklog; the report still renders.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ci_tools import quarantine, rundir
from ci_tools._exceptions import GateFileError, HistoryError
from ci_tools.config import Config
from ci_tools.context.model import Context
from ci_tools.diagnose import Diagnosis, diagnose
from ci_tools.history.store import open_store
from ci_tools.phases import GateResult, evaluate_gate, read_gate
from ci_tools.records import TestRecord, read_records, records_path
from ci_tools.report import github, history
from ci_tools.report.changes import SEPARATOR, Commit, parse_log, ranked
from ci_tools.report.history import HistoryView
from ci_tools.report.junit import write_junit
from ci_tools.report.markdown import Meta, fit, render

__all__ = ["Report", "RunInput", "import_run", "load_run", "write_report"]


@dataclasses.dataclass(frozen=True)
class RunInput:
    """What a run directory holds, read leniently."""

    gates: tuple[GateResult, ...]
    records: tuple[TestRecord, ...]
    context: Context | None
    notes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Report:
    """What the report stage produced."""

    diagnosis: Diagnosis
    worklog: Path
    summary_rung: int  # 0 = the full worklog fitted GitHub's limit
    annotations: tuple[str, ...]
    outputs: dict[str, str]
    warnings: tuple[str, ...] = ()  # for the CLI to print (a run store that did not answer)


def load_run(config: Config, results_dir: Path) -> RunInput:
    """Gates, records and context of a run; every problem becomes a note, not an error."""
    gates: list[GateResult] = []
    records: list[TestRecord] = []
    notes: list[str] = []
    for number, phase in config.phases.items():
        path = records_path(results_dir, number)
        found = read_records(path)
        records += found.records
        if found.bad_lines:
            notes.append(
                f"{path.name}: {found.bad_lines} line(s) could not be read "
                "(truncated or not JSON); the rest were used"
            )
        try:
            gate = read_gate(results_dir, number)
        except GateFileError as exc:
            notes.append(
                f"phase{number}.gate.json is unreadable ({exc.reason}); the gate was judged "
                "again from the records"
            )
            gate = None
        if gate is None and (found.records or found.started_not_finished):
            gate = evaluate_gate(number, phase, config, found)
            notes.append(
                f"phase {number} has records but no gate file (the run was cut "
                "short?); its gate was judged from the records"
            )
        if gate is None and gates:
            # Configured but absent: a job that died or was cancelled before pytest ran.
            gate = GateResult(
                phase=number,
                title=phase.title,
                status="not_run",
                reason="did not run: no records and no gate file in this run",
                min_pass_rate=phase.min_pass_rate,
                budget_s=phase.budget_s,
            )
        if gate is not None:
            gates.append(gate)
    context = None
    context_path = results_dir / rundir.CONTEXT
    try:
        context = Context.from_json(json.loads(context_path.read_text()))
    except FileNotFoundError:
        notes.append("context.json is missing: run `ci-tools context` to attach deployment context")
    except ValueError as exc:
        notes.append(f"context.json is unreadable ({str(exc)[:120]}); reported without it")
    if not gates:
        notes.append(f"no phase results in {results_dir}: no verdict could be formed")
    return RunInput(tuple(gates), tuple(records), context, tuple(notes))


def _git(root: Path, *args: str) -> str | None:
    """What ``git ARGS`` prints in the checkout; None without git, a repository, or an
    answer within 5 s."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(
            [git, *args], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _commit(actions: github.Actions, root: Path) -> str:
    if actions.sha:
        return actions.sha[:12]
    return (_git(root, "rev-parse", "--short=12", "HEAD") or "").strip() or "unknown"


def _code_changes(root: Path, since: str, until: str) -> list[Commit]:
    """The commits after ``since`` up to ``until`` in the checkout, when git has both."""
    if not since or not until or "unknown" in (since, until) or since == until:
        return []
    log = _git(root, "log", f"--format={SEPARATOR}%h%x09%s", "--name-only", f"{since}..{until}")
    return ranked(parse_log(log)) if log else []


def _with_history(
    config: Config,
    run: RunInput,
    diagnosis: Diagnosis,
    *,
    env: str,
    run_id: str,
    attempt: int,
    commit: str,
    url: str,
) -> tuple[Diagnosis, HistoryView | None, str | None]:
    """Judges the run against the store's earlier runs, then records it there. Any failure
    of the store is a note, and the warning returned; the report goes on without history."""
    current = history.run_row(
        config,
        diagnosis,
        run.records,
        run.context,
        env=env,
        run_id=run_id,
        attempt=attempt,
        commit=commit,
    )
    if not config.history.enabled or current is None:
        return diagnosis, None, None
    view = None
    try:
        store = open_store(url)
        try:
            past, past_results = history.gather(store, config, current)
            view = history.build_view(
                config,
                current=current,
                records=run.records,
                diagnosis=diagnosis,
                past=past,
                past_results=past_results,
            )
            diagnosis = diagnose(
                config, run.gates, run.records, run.context, run.notes, history=view.facts
            )
            current = dataclasses.replace(current, escalation=diagnosis.escalation.level)
            store.record(
                current,
                history.result_rows(diagnosis, run.records),
                history.measured_criteria(diagnosis),
            )
        finally:
            store.close()
    except HistoryError as exc:
        note = f"without history: {exc}" if view is None else f"this run was not recorded: {exc}"
        diagnosis = dataclasses.replace(diagnosis, notes=(*diagnosis.notes, note))
        return diagnosis, view, str(exc)
    return diagnosis, view, None


def import_run(config: Config, results_dir: Path, env: str, url: str) -> tuple[str, str | None]:
    """Records an old run directory (e.g. a downloaded workflow artifact) in the store, as
    the report stage would have; nothing is written into the directory. Its verdict, and
    why the store refused it (None: recorded)."""
    run = load_run(config, results_dir)
    diagnosis = diagnose(config, run.gates, run.records, run.context, run.notes)
    diagnosis, _, refused = _with_history(
        config, run, diagnosis, env=env, run_id=results_dir.name, attempt=1, commit="", url=url
    )
    return diagnosis.verdict, refused


def write_report(
    config: Config, results_dir: Path, env: str, root: Path, environ: Mapping[str, str]
) -> Report:
    """Writes worklog.md, verdict.json and junit.xml; in Actions also the summary, outputs;
    and records the run in the run store."""
    run = load_run(config, results_dir)
    diagnosis = diagnose(config, run.gates, run.records, run.context, run.notes)
    actions = github.Actions.from_environ(environ)
    worklog = results_dir / rundir.WORKLOG
    meta = Meta(
        env=env, run_id=results_dir.name, commit=_commit(actions, root), artifact=str(worklog)
    )
    diagnosis, view, refused = _with_history(
        config,
        run,
        diagnosis,
        env=env,
        run_id=meta.run_id,
        attempt=actions.attempt,
        commit=meta.commit,
        url=history.store_url(config, root, environ),
    )
    changes = (
        _code_changes(root, view.last_healthy.commit, meta.commit)
        if view is not None and view.last_healthy is not None and diagnosis.verdict != "healthy"
        else []
    )
    held = quarantine.load_today(root / config.quarantine_file)
    results_dir.mkdir(parents=True, exist_ok=True)
    full = render(diagnosis, run.context, meta, history=view, changes=changes, quarantine=held)
    worklog.write_text(full)
    summary, rung = fit(
        diagnosis, run.context, meta, full=full, history=view, changes=changes, quarantine=held
    )
    values = github.outputs(diagnosis)
    if view is not None:
        values["new_failures"] = str(view.new_failures)
        values["known_failures"] = str(view.known_failures)
    verdict = {
        **values,
        "headlines": [c.title for c in diagnosis.headlines],
        "causes": [dataclasses.asdict(c) for c in diagnosis.causes],
        "escalation_reasons": list(diagnosis.escalation.reasons),
        "escalation_rules": [dataclasses.asdict(f) for f in diagnosis.escalation.fired],
        "notes": list(diagnosis.notes),
        "retried": list(diagnosis.retried),
        "at_risk": [dataclasses.asdict(r) for r in diagnosis.at_risk],
    }
    if view is not None:
        verdict["flaky"] = [t.nodeid for t in view.flaky]
        verdict["broken"] = [t.nodeid for t in view.broken]
    (results_dir / rundir.VERDICT).write_text(json.dumps(verdict, indent=2) + "\n")
    write_junit(results_dir / rundir.JUNIT, run.gates, run.records)
    annotations = github.error_annotations(diagnosis) if actions.active else []
    github.publish(actions, summary, values)
    warnings = (refused,) if refused else ()
    return Report(diagnosis, worklog, rung, tuple(annotations), values, warnings)
