"""The report stage: a run's records, gates and context become the worklog and its outputs.

``worklog.md`` (and, in GitHub Actions, the step summary), ``::error`` annotations,
``$GITHUB_OUTPUT`` and ``verdict.json`` for workflows to act on, ``junit.xml`` for other tools;
then the run is recorded in the run store. The files are written first, as one set, whole or
none of them (a full disk leaves the last complete ones and a one-line ``RunDirError``); the
store is written only once they are. Bad input (missing or truncated files, lines that do not
parse) is counted and said in the worklog; the report still renders. Records lost (cut,
unreadable, missing from the phase's selection) make the run incomplete: said as its verdict
and its first cause, and in the store it never replaces a complete report of the same run.

The run is who its own ``run.json`` says (run id and attempt), not its folder's name: a copy
of a run directory reported again is the same run.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ci_tools import environment, quarantine, rundir
from ci_tools._exceptions import HistoryError
from ci_tools.config import Config
from ci_tools.diagnose import Diagnosis, diagnose
from ci_tools.diagnose.escalation import Fact
from ci_tools.history.model import RunRow
from ci_tools.history.store import open_store
from ci_tools.records import TestRecord
from ci_tools.report import changes, github, lookback
from ci_tools.report.beside import Beside
from ci_tools.report.junit import junit_xml
from ci_tools.report.lookback import LookbackView
from ci_tools.report.markdown import Meta, fit, render
from ci_tools.rundir import read, write
from ci_tools.rundir.identity import RunIdentity
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
    # What the run lost ("phase 2: 36 of 72 records unreadable"): the CLI exits non-zero.
    incomplete: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Judged:
    """The diagnosis formed with what the run store knows, and what to record there."""

    diagnosis: Diagnosis
    view: LookbackView | None
    row: RunRow | None  # None: nothing to record (history off, no phase ran, no store)
    warning: str | None = None  # why the store did not answer


def _diagnose(
    config: Config,
    run: read.RunInput,
    *,
    healthy_revisions: Mapping[str, str] | None = None,
    suite_changed: Sequence[str] = (),
    facts_of: Callable[[Diagnosis], Mapping[str, Fact]] | None = None,
) -> Diagnosis:
    """The diagnosis of the run as read, what it lost included (with the facts of the store,
    when given)."""
    return diagnose(
        config,
        run.gates,
        run.records,
        run.context,
        run.notes,
        healthy_revisions=healthy_revisions,
        suite_changed=suite_changed,
        incomplete=run.incomplete,
        experiment=run.experiment,
        facts_of=facts_of,
    )


def _judge(
    config: Config,
    run: read.RunInput,
    *,
    env: str,
    identity: RunIdentity,
    commit: str,
    url: str,
    root: Path | None = None,
) -> _Judged:
    """Diagnoses the run, once, with what the store's earlier runs know (it writes nothing
    there): the last healthy run's revisions and commit (what changed since, in the services
    and the suite), and how long the parts the diagnosis names have failed (the escalation's
    duration facts). A store that does not answer is a note, and the warning returned; the
    report goes on without history."""
    started = lookback.run_started(run.gates, run.records)
    if not config.history.enabled or started is None:  # nothing to judge against or keep
        return _Judged(_diagnose(config, run), None, None)
    try:
        store = open_store(url)
        try:
            past, past_results, tallies = lookback.gather(store, config, env, started, run.records)
        finally:
            store.close()
    except HistoryError as exc:
        note = f"without history: {exc.not_recorded()}"  # nor is it recorded
        return _Judged(_noted(_diagnose(config, run), note), None, None, exc.not_recorded())
    healthy = next((r for r in past if r.verdict == "healthy"), None)

    def row(diagnosis: Diagnosis) -> RunRow | None:
        return lookback.run_row(
            config,
            diagnosis,
            run.records,
            run.context,
            env=env,
            run_id=identity.run_id,
            attempt=identity.attempt,
            commit=commit,
        )

    def facts_of(diagnosis: Diagnosis) -> dict[str, Fact]:
        current = row(diagnosis)
        return lookback.duration_facts(config, current, past) if current is not None else {}

    diagnosis = _diagnose(
        config,
        run,
        healthy_revisions=healthy.revisions if healthy is not None else None,
        suite_changed=suite_files(config, root, healthy.commit, commit)
        if healthy is not None and root is not None
        else (),
        facts_of=facts_of,
    )
    current = row(diagnosis)
    if current is None:
        return _Judged(diagnosis, None, None)
    view = lookback.build_view(
        config,
        current=current,
        records=run.records,
        diagnosis=diagnosis,
        past=past,
        past_results=past_results,
        tallies=tallies,
    )
    return _Judged(diagnosis, view, current)


def _record(
    judged: _Judged,
    records: Sequence[TestRecord],
    url: str,
    before_commit: Callable[[], None] | None = None,
) -> str | None:
    """Records the judged run in the store; why it was not (None: recorded, or nothing to
    record). An incomplete run never replaces a complete report of the same run and
    attempt. ``before_commit``: called last in the store's transaction (what it raises rolls
    the run back and is raised)."""
    if judged.row is None:
        return None
    diagnosis = judged.diagnosis
    try:
        store = open_store(url)
        try:
            store.record(
                judged.row,
                lookback.result_rows(diagnosis, records),
                lookback.measured_criteria(diagnosis),
                keep_complete=diagnosis.verdict == "incomplete",
                before_commit=before_commit,
            )
        finally:
            store.close()
    except HistoryError as exc:
        return exc.not_recorded()
    return None


class _NotWritten(Exception):
    """The report's files were not written: the run recorded beside them is rolled back."""


def _recording(
    judged: _Judged, records: Sequence[TestRecord], url: str
) -> Callable[[Callable[[], bool]], bytes]:
    """The run's recording, made beside the files: committed only once ``go()`` says they
    are written (the store never holds a run whose files are not); why it was not recorded,
    as JSON (null: recorded)."""

    def make(go: Callable[[], bool]) -> bytes:
        def written() -> None:
            if not go():
                raise _NotWritten

        return json.dumps(_record(judged, records, url, before_commit=written)).encode()

    return make


def _noted(diagnosis: Diagnosis, note: str) -> Diagnosis:
    return dataclasses.replace(diagnosis, notes=(*diagnosis.notes, note))


def _run_identity(run_dir: Path, attempt: int | None = None) -> RunIdentity:
    """Who the run is: its ``run.json``, else its folder's name (a run written by pytest
    alone, or before ``run.json`` existed); ``attempt``, when given (the Actions run attempt
    reporting it), over the one written."""
    found = read.identity(run_dir) or RunIdentity(run_dir.name)
    return found if attempt is None else dataclasses.replace(found, attempt=attempt)


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
    judged = _judge(
        config,
        run,
        env=env,
        identity=_run_identity(run_dir),
        commit="",
        url=url,
    )
    if judged.warning is not None:
        return judged.diagnosis.verdict, judged.warning
    return judged.diagnosis.verdict, _record(judged, run.records, url)


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
        regressions=diagnosis.regressions,
        not_compared=diagnosis.not_compared,
        findings=dict(diagnosis.findings),
    )


def _files(
    config: Config,
    run: read.RunInput,
    judged: _Judged,
    meta: Meta,
    root: Path,
) -> tuple[str, str, int, RunVerdict]:
    """The worklog, the step summary (with its rung of the ladder) and ``verdict.json``."""
    diagnosis, view = judged.diagnosis, judged.view
    code = (
        changes.since(root, view.last_healthy.commit, meta.commit)
        if view is not None and view.last_healthy is not None and diagnosis.verdict != "healthy"
        else []
    )
    held = quarantine.load_today(root / config.quarantine_file)
    full = render(diagnosis, run.context, meta, lookback=view, changes=code, quarantine=held)
    summary, rung = fit(
        diagnosis, run.context, meta, full=full, lookback=view, changes=code, quarantine=held
    )
    return full, summary, rung, run_verdict(diagnosis, view)


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """The cycle collector off for a while, as it was after. The report builds its objects
    once and keeps nearly all of them to its end; each full collection walked them all again
    (a twentieth of the stage on 10,000 records), to find next to no garbage."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def write_report(
    config: Config, run_dir: Path, env: str, root: Path, environ: Mapping[str, str]
) -> Report:
    """Writes the worklog, the verdict, the JUnit XML and the run's identity, whole or none
    of them (``RunDirError`` names the file that could not be written, and the store is not
    written); then records the run in the run store; in Actions then appends the summary
    and the outputs."""
    with _without_cycle_collection():
        return _write_report(config, run_dir, env, root, environ)


def _write_report(
    config: Config, run_dir: Path, env: str, root: Path, environ: Mapping[str, str]
) -> Report:
    run = read.load(config, run_dir)
    actions = github.Actions.from_environ(environ)
    identity = _run_identity(run_dir, actions.attempt if actions.active else None)
    worklog = rundir.worklog(run_dir)
    meta = Meta(
        env=env,
        run_id=identity.run_id,
        commit=changes.head(root, actions.sha),
        artifact=str(worklog),
    )
    url = environment.store_url(config, root, environ)
    # The JUnit XML needs only the records: made beside the diagnosis, on another core.
    with Beside(lambda _go: junit_xml(run.gates, run.records).encode()) as made:
        judged = _judge(
            config,
            run,
            env=env,
            identity=identity,
            commit=meta.commit,
            url=url,
            root=root,
        )
        junit = made.answer().decode()
    # The run goes into the store beside the files' rendering, committed once they are
    # written (a file that cannot be written leaves the store as it was).
    with Beside(_recording(judged, run.records, url), fork=judged.row is not None) as recording:
        full, summary, rung, document = _files(config, run, judged, meta, root)
        write.report(run_dir, worklog=full, verdict=document, junit=junit, identity=identity)
        unrecorded: str | None = json.loads(recording.answer(go=True))
    refused = judged.warning
    if unrecorded is not None:  # the worklog says so: written again, whole, with the note
        refused = unrecorded
        judged = dataclasses.replace(judged, diagnosis=_noted(judged.diagnosis, unrecorded))
        full, summary, rung, document = _files(config, run, judged, meta, root)
        write.report(run_dir, worklog=full, verdict=document, junit=junit, identity=identity)
    values = document.outputs()
    annotations = github.error_annotations(judged.diagnosis) if actions.active else []
    github.publish(actions, summary, values)
    warnings = (refused,) if refused else ()
    return Report(
        judged.diagnosis,
        worklog,
        rung,
        tuple(annotations),
        values,
        warnings,
        run.incomplete,
    )
