"""Every name under ``reports/``, in one place: the run store, ``latest``, the ad-hoc run, run
ids, and each file of a run's directory ``reports/<run-id>/``.

    history.db              the run store (SQLite), unless a URL names another
    latest                  a link to the newest run started by ``ci-tools run``
    adhoc/                  the run directory of a recorded pytest run given none
    <run-id>/               one run: $CI_TOOLS_RUN_ID (GitHub's run id) or the UTC time;
                            only letters, digits, ``.``, ``_`` and ``-``, no leading dot, at
                            most 128 characters, never ``latest`` or ``history.db``

Each stage reads the files of the stages before it and writes its own:

    phaseN.selected.jsonl   the tests phase N selected (plugin, at collection)
    phaseN.shardI.*         the same files of shard I of a phase split over runners
                            (--shard I/K); ``ci-tools gate`` merges them into phaseN.*
    phaseN.jsonl            one record per test, appended as each ends (plugin)
    phaseN.log              pytest's own output of phase N, masked (runner)
    phaseN.trips.json       parts declared broken during phase N (plugin, fail-fast)
    phaseN.gate.json        phase N's gate with the numbers behind it (runner)
    phaseN.order.txt        the order to start the tests in: last run's failures, then the
                            longest first (runner, from history)
    .phaseN.serial.lock     the turn of phase N's serial tests (plugin)
    phaseN.experiment.json  what the experiment did with phase N's failures: the baseline
                            it re-ran them on, which it chose, why it stopped (runner)
    phaseN.again/, phaseN.baseline/   the experiment's re-runs of phase N's failures on the
                            candidate and on the baseline: each a run directory of its own
                            (records, selection, pytest's output), never in the gate's counts
    phaseN.durations.json   what a sharded phase is split by: node id to seconds (runner)
    context.json            deployment context of the failures (context stage)
    run.json                the run's identity (run id and attempt): the same run wherever
                            its directory is copied (``ci-tools run``, else the first report)
    worklog.md, verdict.json, junit.xml   the report stage's outputs

It imports nothing of ci_tools but its exceptions, so the plugin can name files without cost.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from pathlib import Path

from ci_tools._exceptions import ConfigError

CONTEXT = "context.json"
IDENTITY = "run.json"
WORKLOG = "worklog.md"
VERDICT = "verdict.json"
JUNIT = "junit.xml"


HISTORY_DB = "history.db"
LATEST = "latest"
ADHOC = Path("reports/adhoc")  # relative to where pytest runs: the default of --run-dir
RUN_ID_VARIABLE = "CI_TOOLS_RUN_ID"
MAX_RUN_ID = 128  # a GitHub run id has 11 digits; a folder name and the store's key hold this
# A run id names a folder under reports/: one path component, never "..", never hidden.
_RUN_ID = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{MAX_RUN_ID - 1}}}")
_RESERVED = frozenset({LATEST, HISTORY_DB})  # names reports/ gives to other things


def check_run_id(value: str, where: str) -> str:
    """``value`` when it is a usable run id; else ``ConfigError`` naming ``where`` it came
    from and what a run id may hold."""
    if _RUN_ID.fullmatch(value) and value not in _RESERVED:
        return value
    shown = value if len(value) <= 40 else f"{value[:40]}..."
    raise ConfigError(
        f"{where} {shown!r} is not a run id: use at most {MAX_RUN_ID} letters, digits, '.', '_' "
        f"or '-', not starting with '.' (and not {' or '.join(sorted(_RESERVED))})"
    )


def run_id(environ: Mapping[str, str] = os.environ, given: str | None = None) -> str:
    """This run's id: ``given`` (``--run-id``), else ``$CI_TOOLS_RUN_ID`` (the workflow sets
    it to GitHub's run id, so chained phase jobs and re-runs share one run), else the UTC
    time; one that could name a folder outside ``reports/`` raises ``ConfigError``."""
    if given:
        return check_run_id(given, "--run-id")
    if environ.get(RUN_ID_VARIABLE):
        return check_run_id(environ[RUN_ID_VARIABLE], f"${RUN_ID_VARIABLE}")
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")


def run_dir(reports: Path, run: str) -> Path:
    """The directory of run ``run`` under the reports folder."""
    return reports / run


def latest(reports: Path) -> Path:
    """The link to the newest run under the reports folder."""
    return reports / LATEST


def history_db(reports: Path) -> Path:
    """The run store's SQLite file under the reports folder."""
    return reports / HISTORY_DB


def context(run: Path) -> Path:
    """The deployment context of the run's failures."""
    return run / CONTEXT


def identity(run: Path) -> Path:
    """The run's identity (run id and attempt), whichever folder holds it."""
    return run / IDENTITY


def worklog(run: Path) -> Path:
    """The run's worklog (Markdown)."""
    return run / WORKLOG


def verdict(run: Path) -> Path:
    """The run's verdict, for workflows to act on."""
    return run / VERDICT


def junit(run: Path) -> Path:
    """The run's JUnit XML, for other tools."""
    return run / JUNIT


def _part(phase: int, shard: int | None) -> str:
    return f"phase{phase}" if shard is None else f"phase{phase}.shard{shard}"


def records(run: Path, phase: int, shard: int | None = None) -> Path:
    """Phase N's records (of shard I, when given)."""
    return run / f"{_part(phase, shard)}.jsonl"


def output(run: Path, phase: int, shard: int | None = None) -> Path:
    """pytest's own output of phase N (or its shard), masked: its summary and tracebacks,
    kept off the job log."""
    return run / f"{_part(phase, shard)}.log"


def selected(run: Path, phase: int, shard: int | None = None) -> Path:
    """The tests phase N (or its shard) selected, so that every one is accounted for."""
    return run / f"{_part(phase, shard)}.selected.jsonl"


def trips(run: Path, phase: int, shard: int | None = None) -> Path:
    """The parts fail-fast declared broken during phase N (or its shard)."""
    return run / f"{_part(phase, shard)}.trips.json"


def gate(run: Path, phase: int, shard: int | None = None) -> Path:
    """Phase N's gate (a shard's: over its own tests only)."""
    return run / f"{_part(phase, shard)}.gate.json"


def order(run: Path, phase: int, shard: int | None = None) -> Path:
    """The order to start phase N's tests in (node ids, one a line)."""
    return run / f"{_part(phase, shard)}.order.txt"


def experiment(run: Path, phase: int, shard: int | None = None) -> Path:
    """What the experiment did with phase N's failures (or its shard's)."""
    return run / f"{_part(phase, shard)}.experiment.json"


def arm(run: Path, phase: int, which: str, shard: int | None = None) -> Path:
    """The folder of the experiment's re-runs of phase N's failures on one revision:
    ``baseline``, or ``candidate`` (named ``again``: the candidate run again)."""
    return run / f"{_part(phase, shard)}.{'again' if which == 'candidate' else which}"


def experiments(run: Path) -> list[tuple[int, int | None]]:
    """The (phase, shard) of every experiment plan in the run directory, in order."""
    found: set[tuple[int, int | None]] = set()
    for path in run.glob("phase*.experiment.json"):
        parts = path.name.split(".")
        number = parts[0][5:]
        if not number.isdigit():
            continue
        shard = parts[1][5:] if len(parts) == 4 and parts[1].startswith("shard") else None
        if len(parts) == 4 and (shard is None or not shard.isdigit()):
            continue
        found.add((int(number), int(shard) if shard is not None else None))
    return sorted(found, key=lambda key: (key[0], -1 if key[1] is None else key[1]))


def of_an_attempt(run: Path, phase: int, shard: int | None = None) -> tuple[Path, ...]:
    """What one attempt at phase N (or its shard) writes before its gate: its records,
    selection, fail-fast trips, order and pytest's output. A new attempt starts without them;
    a phase started ahead and never given its go leaves none behind."""
    return tuple(f(run, phase, shard) for f in (records, selected, trips, order, output))


def durations(run: Path, phase: int) -> Path:
    """The durations a sharded phase is split by (JSON: node id to seconds)."""
    return run / f"phase{phase}.durations.json"


def records_of_every_run(reports: Path, phase: int) -> list[Path]:
    """Phase N's records in every run directory under the reports folder (``latest``, a
    link, left out)."""
    return [p for p in reports.glob(f"*/phase{phase}.jsonl") if not p.parent.is_symlink()]


def shard_records_name(phase: int) -> str:
    """How the records of phase N's shards are named, for a person (``phaseN.shardI.jsonl``)."""
    return f"{_part(phase, None)}.shardI.jsonl"


def shards(run: Path, phase: int) -> list[int]:
    """The shards of phase N whose records are in the run directory, in order."""
    found = (p.name.split(".")[1] for p in run.glob(f"phase{phase}.shard*.jsonl"))
    return sorted({int(n[5:]) for n in found if n.startswith("shard") and n[5:].isdigit()})


def serial_lock(run: Path, phase: int, shard: int | None = None) -> Path:
    """The lock phase N's serial tests take turns on."""
    return run / f".{_part(phase, shard)}.serial.lock"
