"""The one reader of a run's directory: records, selections, gates, durations, context,
verdict, identity.

Lenient where a later stage must go on (``load`` turns every problem into a note), strict
where a wrong answer would mislead (a gate file that does not parse raises ``GateFileError``,
a ``run.json`` that does not ``RunDirError``). Records that cannot be read, or that a phase's
selection or gate counted and the run no longer holds, make the run incomplete: ``load`` says
which phase lost how many (``RunInput.incomplete``), and no verdict of health rests on the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ci_tools._exceptions import CIToolsError, GateFileError, RunDirError
from ci_tools.config import Config
from ci_tools.experiment import Plan, Reruns
from ci_tools.phases import GateResult, evaluate_gate
from ci_tools.records import PhaseRecords, Selected, TestRecord, read_records, read_selected
from ci_tools.rundir import paths
from ci_tools.rundir.identity import RunIdentity
from ci_tools.rundir.verdict import RunVerdict

if TYPE_CHECKING:
    from ci_tools.context.model import Context

__all__ = [
    "RunInput",
    "context",
    "experiment",
    "gate",
    "identity",
    "load",
    "lost",
    "newest_durations",
    "recorded_durations",
    "records",
    "run_records",
    "selected",
    "started",
    "verdict",
]


def records(run: Path, phase: int, shard_index: int | None = None) -> PhaseRecords:
    """Phase N's records (of one shard, when given); a missing file is an empty phase."""
    return read_records(paths.records(run, phase, shard_index))


def selected(run: Path, phase: int, shard_index: int | None = None) -> tuple[Selected, ...]:
    """The tests phase N (or its shard) selected; none when it never collected."""
    return read_selected(paths.selected(run, phase, shard_index))


def run_records(run: Path, phases: Iterable[int]) -> tuple[TestRecord, ...]:
    """Every record of a run's phases, in phase order (the records alone: ``load`` also
    takes the gates and the notes)."""
    return tuple(record for n in phases for record in records(run, n).records)


def gate(run: Path, phase: int, shard_index: int | None = None) -> GateResult | None:
    """Phase N's gate, or None when the phase has not been judged in this run; a file that
    does not parse raises ``GateFileError``."""
    path = paths.gate(run, phase, shard_index)
    try:
        return GateResult.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:  # e.g. a truncated artifact
        raise GateFileError(str(path), type(exc).__name__, phase) from None


def recorded_durations(run: Path, phase: int) -> dict[str, float]:
    """Test durations of phase N's records (not-run tests left out): what the next run of the
    phase schedules and splits by."""
    return {r.nodeid: r.duration_s for r in records(run, phase).records if r.outcome != "not_run"}


def newest_durations(reports: Path, phase: int, but: Path | None = None) -> dict[str, float]:
    """``recorded_durations`` of phase N in the newest run directory under ``reports`` that has its
    records (``but`` that one: the run being split); none when there is no such run."""
    runs = [
        p
        for p in paths.records_of_every_run(reports, phase)
        if but is None or p.parent.resolve() != but.resolve()
    ]
    if not runs:
        return {}
    return recorded_durations(max(runs, key=lambda p: p.stat().st_mtime).parent, phase)


def context(run: Path) -> Context:
    """The deployment context of the run's failures; ``FileNotFoundError`` when the context
    stage has not run, ``ValueError`` when the file does not parse."""
    # The context package (its models, its clients) loads only where a context is read: a
    # run reads none before its first phase starts.
    from ci_tools.context.model import Context  # noqa: PLC0415

    return Context.from_json(json.loads(paths.context(run).read_text()))


def verdict(run: Path) -> RunVerdict:
    """The run's ``verdict.json``; ``FileNotFoundError`` before the report stage has run,
    ``ValueError`` (or ``KeyError``, ``TypeError``) when it does not parse."""
    return RunVerdict.from_json(json.loads(paths.verdict(run).read_text()))


def identity(run: Path) -> RunIdentity | None:
    """The run's identity as its ``run.json`` holds it; None when it has none (a run written
    by pytest alone, or before ``run.json`` existed). One that does not parse raises
    ``RunDirError``: a run taken for another would replace that one in the run store."""
    path = paths.identity(run)
    try:
        return RunIdentity.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (CIToolsError, ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise RunDirError(
            f"{path} is unreadable ({reason}): restore it from the run's artifact, or delete it "
            "to take the run id from the folder's name"
        ) from None


def experiment(run: Path) -> Reruns:
    """The run's experiments: every plan (``phaseN[.shardI].experiment.json``) and the
    records of its re-runs on each arm; what cannot be read is a note, never an error (the
    failures it concerns have no baseline to compare with)."""
    plans: list[Plan] = []
    arms: dict[str, dict[str, TestRecord]] = {"again": {}, "baseline": {}}
    notes: list[str] = []
    for number, shard in paths.experiments(run):
        path = paths.experiment(run, number, shard)
        try:
            plans.append(Plan.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            notes.append(
                f"{path.name} is unreadable ({str(exc)[:120]}); its failures "
                "are reported without the experiment"
            )
            continue
        for which, key in (("candidate", "again"), ("baseline", "baseline")):
            folder = paths.arm(run, number, which, shard)
            found = records(folder, number)
            arms[key].update((r.nodeid, r) for r in found.records)
    return Reruns(tuple(plans), arms["again"], arms["baseline"], tuple(notes))


def started(run: Path, phases: Iterable[int]) -> str:
    """When the run's first judged phase started ('' when unknown): runs imported together
    go in this order."""
    with contextlib.suppress(CIToolsError):
        for number in phases:
            found = gate(run, number)
            if found is not None and found.started_at:
                return found.started_at
    return ""


@dataclasses.dataclass(frozen=True)
class RunInput:
    """What a run directory holds, read leniently."""

    gates: tuple[GateResult, ...]
    records: tuple[TestRecord, ...]
    context: Context | None
    notes: tuple[str, ...]
    # What the run lost, a phase a line ("phase 2: 36 of 72 records unreadable"): the run is
    # incomplete, whatever the records left say.
    incomplete: tuple[str, ...] = ()
    # The experiment's plans and re-runs (none when the run made none).
    experiment: Reruns = dataclasses.field(default_factory=Reruns)


def lost(run: Path, number: int, found: PhaseRecords) -> str:
    """What phase N's records lost, in one line ("" when nothing): tests its selection (or
    its gate, when judged) counted that have no record, and lines that do not parse beyond
    those its gate already counted when it was judged."""
    judged = None
    with contextlib.suppress(GateFileError):
        judged = gate(run, number)
    have = {record.nodeid for record in found.records}
    chosen = {test.nodeid for test in selected(run, number)}
    expected, missing = len(chosen | have), len(chosen - have)
    if judged is not None and judged.total > len(have):
        expected, missing = max(expected, judged.total), max(missing, judged.total - len(have))
    cut = found.bad_lines - (judged.bad_lines if judged is not None else 0)
    name = paths.records(run, number).name
    if missing and not paths.records(run, number).exists():
        return f"phase {number}: {missing} of {expected} records missing ({name} is gone)"
    if missing:
        lines = f" ({cut} line(s) of {name} cut or not JSON)" if cut > 0 else ""
        return f"phase {number}: {missing} of {expected} records unreadable{lines}"
    if cut > 0:
        return f"phase {number}: {cut} line(s) of {name} unreadable (cut or not JSON)"
    return ""


def _phase_gate(
    config: Config, run: Path, number: int, found: PhaseRecords
) -> tuple[GateResult | None, list[str]]:
    """Phase N's gate as its file says, else judged again from its records; with notes."""
    notes = []
    try:
        result = gate(run, number)
    except GateFileError as exc:
        notes.append(
            f"{paths.gate(run, number).name} is unreadable ({exc.reason}); the gate was judged "
            "again from the records"
        )
        result = None
    if result is None and (found.records or found.started_not_finished):
        result = evaluate_gate(number, config.phases[number], config, found)
        notes.append(
            f"phase {number} has records but no gate file (the run was cut "
            "short?); its gate was judged from the records"
        )
    return result, notes


def _context_or_note(run: Path) -> tuple[Context | None, list[str]]:
    name = paths.context(run).name
    try:
        return context(run), []
    except FileNotFoundError:
        return None, [f"{name} is missing: run `ci-tools context` to attach deployment context"]
    except ValueError as exc:
        return None, [f"{name} is unreadable ({str(exc)[:120]}); reported without it"]


def load(config: Config, run: Path) -> RunInput:
    """Gates, records and context of a run; every problem becomes a note, not an error, and
    records lost make the run incomplete (``RunInput.incomplete``)."""
    gates: list[GateResult] = []
    found_records: list[TestRecord] = []
    notes: list[str] = []
    incomplete: list[str] = []
    for number, phase in config.phases.items():
        found = records(run, number)
        found_records += found.records
        missing = lost(run, number, found)
        if missing:
            incomplete.append(missing)
        if found.bad_lines:
            notes.append(
                f"{paths.records(run, number).name}: {found.bad_lines} line(s) could not be "
                "read (truncated or not JSON); the rest were used"
            )
        result, gate_notes = _phase_gate(config, run, number, found)
        notes += gate_notes
        if result is None and gates:
            # Configured but absent: a job that died or was cancelled before pytest ran.
            result = GateResult(
                phase=number,
                title=phase.title,
                status="not_run",
                reason="did not run: no records and no gate file in this run",
                min_pass_rate=phase.min_pass_rate,
                budget_s=phase.budget_s,
            )
        if result is not None:
            gates.append(result)
    found_context, context_notes = _context_or_note(run)
    notes += context_notes
    reruns = experiment(run)
    notes += reruns.notes
    if not gates:
        notes.append(f"no phase results in {run}: no verdict could be formed")
    return RunInput(
        tuple(gates), tuple(found_records), found_context, tuple(notes), tuple(incomplete), reruns
    )
