"""The report stage: a run's records, gates and context become the worklog and its outputs.

``worklog.md`` (and, in GitHub Actions, the step summary), ``::error`` annotations,
``$GITHUB_OUTPUT`` and ``verdict.json`` for workflows to act on, ``junit.xml`` for other tools;
then the run is recorded in the run store. Bad input (missing or truncated files, lines that do
not parse) is counted and said in the worklog; the report still renders.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from ci_tools import environment, quarantine, rundir
from ci_tools._exceptions import HistoryError
from ci_tools.config import Config
from ci_tools.diagnose import Diagnosis, diagnose
from ci_tools.history.store import open_store
from ci_tools.report import changes, github, lookback
from ci_tools.report.junit import junit_xml
from ci_tools.report.lookback import LookbackView
from ci_tools.report.markdown import Meta, fit, render
from ci_tools.rundir import read, write
from ci_tools.rundir.verdict import RunVerdict

__all__ = ["Report", "import_run", "run_verdict", "write_report"]


@dataclasses.dataclass(frozen=True)
class Report:
    """What the report stage produced."""

    diagnosis: Diagnosis
    worklog: Path
    summary_rung: int  # 0 = the full worklog fitted GitHub's limit
    annotations: tuple[str, ...]
    outputs: dict[str, str]
    warnings: tuple[str, ...] = ()  # for the CLI to print (a run store that did not answer)


def _with_history(
    config: Config,
    run: read.RunInput,
    diagnosis: Diagnosis,
    *,
    env: str,
    run_id: str,
    attempt: int,
    commit: str,
    url: str,
    root: Path | None = None,
) -> tuple[Diagnosis, LookbackView | None, str | None]:
    """Judges the run against the store's earlier runs, then records it there. Any failure
    of the store is a note, and the warning returned; the report goes on without history.
    The diagnosis is formed again with what the store knows: duration facts, and the last
    healthy run's revisions and commit (what changed since, in the services and the suite)."""
    current = lookback.run_row(
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
            past, past_results = lookback.gather(store, config, current)
            view = lookback.build_view(
                config,
                current=current,
                records=run.records,
                diagnosis=diagnosis,
                past=past,
                past_results=past_results,
            )
            healthy = view.last_healthy
            diagnosis = diagnose(
                config,
                run.gates,
                run.records,
                run.context,
                run.notes,
                duration_facts=view.facts,
                healthy_revisions=healthy.revisions if healthy is not None else None,
                suite_changed=suite_files(config, root, healthy.commit, commit)
                if healthy is not None and root is not None
                else (),
            )
            current = dataclasses.replace(current, escalation=diagnosis.escalation.level)
            store.record(
                current,
                lookback.result_rows(diagnosis, run.records),
                lookback.measured_criteria(diagnosis),
            )
        finally:
            store.close()
    except HistoryError as exc:
        note = f"without history: {exc}" if view is None else f"this run was not recorded: {exc}"
        diagnosis = dataclasses.replace(diagnosis, notes=(*diagnosis.notes, note))
        return diagnosis, view, str(exc)
    return diagnosis, view, None


def suite_files(config: Config, root: Path, healthy: str, commit: str) -> tuple[str, ...]:
    """The suite's files changed in git since the last healthy run's commit: those under the
    folder every phase's paths share (``tests/e2e``), or under a phase's own paths."""
    paths = [path for phase in config.phases.values() for path in phase.paths]
    if not paths:
        return ()
    shared = os.path.commonpath(paths) if len(paths) > 1 else paths[0]
    prefixes = tuple(f"{p.rstrip('/')}/" for p in {shared, *paths} if p not in ("", "."))
    return tuple(
        dict.fromkeys(
            f
            for c in changes.since(root, healthy, commit)
            for f in c.files
            if f.startswith(prefixes)
        )
    )


def import_run(config: Config, run_dir: Path, env: str, url: str) -> tuple[str, str | None]:
    """Records an old run directory (e.g. a downloaded workflow artifact) in the store, as
    the report stage would have; nothing is written into the directory. Its verdict, and
    why the store refused it (None: recorded)."""
    run = read.load(config, run_dir)
    diagnosis = diagnose(config, run.gates, run.records, run.context, run.notes)
    diagnosis, _, refused = _with_history(
        config, run, diagnosis, env=env, run_id=run_dir.name, attempt=1, commit="", url=url
    )
    return diagnosis.verdict, refused


def run_verdict(diagnosis: Diagnosis, view: LookbackView | None) -> RunVerdict:
    """What ``verdict.json`` and ``$GITHUB_OUTPUT`` say of the diagnosis (and of history,
    when the run store answered)."""
    counts = diagnosis.counts
    return RunVerdict(
        verdict=diagnosis.verdict,
        escalation=diagnosis.escalation.level,
        first_failed_phase=diagnosis.first_failed_phase,
        tests=counts["tests"],
        passed=counts["passed"],
        failed=counts["failed"] + counts["errors"],
        skipped=counts["skipped"],
        not_run=counts["not_run"],
        top_cause=diagnosis.causes[0].title if diagnosis.causes else "",
        headlines=tuple(c.title for c in diagnosis.headlines),
        causes=tuple(c.as_json() for c in diagnosis.causes),
        escalation_reasons=tuple(diagnosis.escalation.reasons),
        escalation_rules=tuple(dataclasses.asdict(f) for f in diagnosis.escalation.fired),
        notes=tuple(diagnosis.notes),
        retried=tuple(diagnosis.retried),
        suite_broken=counts["suite_broken"],
        at_risk=tuple(dataclasses.asdict(r) for r in diagnosis.at_risk),
        new_failures=view.new_failures if view is not None else None,
        known_failures=view.known_failures if view is not None else None,
        flaky=tuple(t.nodeid for t in view.flaky) if view is not None else None,
        broken=tuple(t.nodeid for t in view.broken) if view is not None else None,
    )


def write_report(
    config: Config, run_dir: Path, env: str, root: Path, environ: Mapping[str, str]
) -> Report:
    """Writes the worklog, the verdict and the JUnit XML; in Actions also the summary and
    the outputs; and records the run in the run store."""
    run = read.load(config, run_dir)
    diagnosis = diagnose(config, run.gates, run.records, run.context, run.notes)
    actions = github.Actions.from_environ(environ)
    worklog = rundir.worklog(run_dir)
    meta = Meta(
        env=env, run_id=run_dir.name, commit=changes.head(root, actions.sha), artifact=str(worklog)
    )
    diagnosis, view, refused = _with_history(
        config,
        run,
        diagnosis,
        env=env,
        run_id=meta.run_id,
        attempt=actions.attempt,
        commit=meta.commit,
        url=environment.store_url(config, root, environ),
        root=root,
    )
    code = (
        changes.since(root, view.last_healthy.commit, meta.commit)
        if view is not None and view.last_healthy is not None and diagnosis.verdict != "healthy"
        else []
    )
    held = quarantine.load_today(root / config.quarantine_file)
    full = render(diagnosis, run.context, meta, lookback=view, changes=code, quarantine=held)
    write.worklog(run_dir, full)
    summary, rung = fit(
        diagnosis, run.context, meta, full=full, lookback=view, changes=code, quarantine=held
    )
    document = run_verdict(diagnosis, view)
    values = document.outputs()
    write.verdict(run_dir, document)
    write.junit(run_dir, junit_xml(run.gates, run.records))
    annotations = github.error_annotations(diagnosis) if actions.active else []
    github.publish(actions, summary, values)
    warnings = (refused,) if refused else ()
    return Report(diagnosis, worklog, rung, tuple(annotations), values, warnings)
