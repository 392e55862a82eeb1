"""Retention: which run directories under ``reports/`` and which local platform logs go.

A run directory goes once it is past either bound (``[tool.ci_tools.retention]``, or
``ci-tools prune --keep-runs N --keep-days D``): it is not among the newest ``keep_runs``
runs, or it was last written more than ``keep_days`` days ago. Bounding by count as well as
by age keeps ``reports/`` bounded however often runs are made (the fault matrix makes one a
minute). Never pruned: the run ``latest`` points at, a link, and anything that is not a folder
directly under the reports folder, named like a run and holding a run's files (``run.json``,
or a phase's records, selection or gate); ``history.db``, ``latest`` and other tools' folders
stay.

The local platform appends each start's logs to the same files (``.stack/<name>/logs/``):
from each JSON log, the entries older than the oldest run kept (and older than ``keep_days``)
are cut, and a log not written since then is removed. A platform that is running (its state
file is there) holds its logs open: they are left alone.

``plan`` looks at the files and decides (``choose`` is its pure core); ``apply`` deletes.

PYTEST_DONT_REWRITE: a module of ``rundir``, which the plugin loads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from ci_tools._exceptions import ConfigError, RunDirError
from ci_tools.rundir import paths, write

__all__ = ["Plan", "RunDir", "apply", "check", "choose", "find_runs", "plan", "platform_logs"]

DAY_S = 86_400.0
# What only a run directory holds (see paths): its identity, or a phase's (or a shard's)
# records, selection or gate.
_RUN_FILE = re.compile(r"phase\d+(\.shard\d+)?\.(jsonl|selected\.jsonl|gate\.json)")
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"]+)"')  # a Cloud Logging entry's time
_JSON_LOG = ".jsonl"
# A run's platform starts (and logs) before the run makes its folder: its logs reach back this
# far before the folder's oldest file.
_LEAD_S = 600.0


@dataclasses.dataclass(frozen=True)
class RunDir:
    """One run directory and when it was written (seconds since the epoch)."""

    path: Path
    started: float  # its oldest file: about when the run began
    written: float  # its newest file (or the folder itself): when the run last wrote


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a prune removes: run directories, whole log files, and the head of JSON logs."""

    runs: tuple[Path, ...] = ()
    logs: tuple[Path, ...] = ()
    trims: tuple[tuple[Path, int], ...] = ()  # a log and how many bytes go from its head
    kept: int = 0  # run directories kept

    @property
    def empty(self) -> bool:
        """Nothing to remove."""
        return not (self.runs or self.logs or self.trims)

    def lines(self, verb: str = "remove") -> list[str]:
        """One line per item (``remove reports/r1``, ``trim .stack/e2e/logs/backend.jsonl
        (N bytes of older entries)``), for ``--dry-run`` with ``verb`` "would remove"."""
        trim = verb.replace("remove", "trim")
        return [
            *(f"{verb} {path}" for path in (*self.runs, *self.logs)),
            *(f"{trim} {path} ({cut} bytes of older entries)" for path, cut in self.trims),
        ]

    def summary(self) -> str:
        """``3 runs and 2 platform logs`` (what went, or would go; "nothing" when empty)."""
        counts = ((len(self.runs), "run"), (len(self.logs) + len(self.trims), "platform log"))
        said = [f"{n} {what}{'' if n == 1 else 's'}" for n, what in counts if n]
        return " and ".join(said) or "nothing"


def check(keep_runs: int, keep_days: float) -> None:
    """``ConfigError`` in one line unless both bounds are positive (and the days finite)."""
    if keep_runs < 1:
        raise ConfigError(f"keep_runs {keep_runs!r}: keep at least 1 run, e.g. keep_runs = 50")
    if not 0 < keep_days < float("inf"):  # nan is refused too
        raise ConfigError(f"keep_days {keep_days!r}: give a positive number, e.g. keep_days = 30")


def choose(
    runs: Sequence[RunDir], keep_runs: int, keep_days: float, now: float, latest: Path | None
) -> tuple[list[RunDir], list[RunDir]]:
    """The runs to remove and the runs kept, newest first: kept are the newest ``keep_runs``
    written within ``keep_days`` of ``now``, and always the one ``latest`` points at."""
    oldest = now - keep_days * DAY_S
    removed: list[RunDir] = []
    kept: list[RunDir] = []
    for rank, run in enumerate(sorted(runs, key=lambda r: (r.written, r.path.name), reverse=True)):
        keep = (rank < keep_runs and run.written >= oldest) or run.path == latest
        (kept if keep else removed).append(run)
    return removed, kept


def _is_run(folder: Path) -> bool:
    """A folder named like a run that holds a run's files."""
    try:
        paths.check_run_id(folder.name, "folder")
    except ConfigError:
        return False
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:  # unreadable: not ours to judge
        return False
    return any(name == paths.IDENTITY or _RUN_FILE.fullmatch(name) for name in names)


def _times(folder: Path) -> RunDir:
    """The run directory with the oldest and newest times of its files (one renamed away
    meanwhile, as a run still writing does, is left out)."""
    times = [folder.stat().st_mtime]
    for entry in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if entry.is_file() and not entry.is_symlink():
                times.append(entry.stat().st_mtime)
    return RunDir(folder, min(times), max(times))


def find_runs(reports: Path) -> list[RunDir]:
    """The run directories directly under the reports folder (links left out)."""
    if not reports.is_dir():
        return []
    return [
        _times(folder)
        for folder in reports.iterdir()
        if folder.is_dir() and not folder.is_symlink() and _is_run(folder)
    ]


def _latest_target(reports: Path, runs: Iterable[RunDir]) -> Path | None:
    """The run directory ``latest`` points at (None: no link, or a link to no run)."""
    link = paths.latest(reports)
    if not link.is_symlink():
        return None
    target = link.resolve()
    return next((run.path for run in runs if run.path.resolve() == target), None)


def platform_logs(stack_dir: Path, state_file: str) -> list[Path]:
    """The log folders of the local platforms under ``stack_dir`` (its own and each
    subfolder's, as ``.stack/e2e``) that are not running: no ``state_file`` beside them."""
    if not stack_dir.is_dir():
        return []
    states = [stack_dir, *(d for d in sorted(stack_dir.iterdir()) if d.is_dir())]
    return [
        state / "logs"
        for state in states
        if not state.is_symlink()
        and (state / "logs").is_dir()
        and not (state / state_file).exists()
    ]


def _entry_time(line: bytes) -> float | None:
    """When a JSON log line was written (epoch seconds); None when it says no time."""
    found = _TIMESTAMP.search(line)
    if found is None:
        return None
    try:
        when = dt.datetime.fromisoformat(found[1].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _head(log: Path, cutoff: float) -> int:
    """How many bytes at the head of a JSON log hold entries older than ``cutoff`` (the
    platform appends in time order): up to the end of the last entry dated before it, read
    no further than the first dated since. Lines with no time are kept unless an older
    entry follows them."""
    cut = at = 0
    with log.open("rb") as lines:
        for line in lines:
            at += len(line)
            when = _entry_time(line)
            if when is not None:
                if when >= cutoff:
                    break
                cut = at
    return cut


def plan(
    reports: Path,
    keep_runs: int,
    keep_days: float,
    now: float,
    logs: Iterable[Path] = (),
) -> Plan:
    """What a prune of ``reports`` (and of the platform log folders ``logs``) removes."""
    check(keep_runs, keep_days)
    runs = find_runs(reports)
    removed, kept = choose(runs, keep_runs, keep_days, now, _latest_target(reports, runs))
    # The logs keep what the kept runs may point at (a worklog links its failures' entries).
    started = [min(r.started for r in kept) - _LEAD_S] if kept else []
    cutoff = max([now - keep_days * DAY_S, *started])
    gone: list[Path] = []
    trims: list[tuple[Path, int]] = []
    for folder in logs:
        for log in sorted(folder.iterdir()):
            if not log.is_file() or log.is_symlink():
                continue
            if log.stat().st_mtime < cutoff:
                gone.append(log)
            elif log.suffix == _JSON_LOG and (cut := _head(log, cutoff)):
                trims.append((log, cut))
    return Plan(tuple(r.path for r in removed), tuple(gone), tuple(trims), len(kept))


def apply(found: Plan) -> None:
    """Removes what ``found`` names; ``RunDirError`` names what could not be removed."""
    for path in found.runs:
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise RunDirError(
                f"could not remove the run directory {path}: {exc.strerror or exc}; make "
                "reports/ writable, then run `ci-tools prune` again"
            ) from exc
    for log, cut in found.trims:
        try:
            with log.open("rb") as old:
                old.seek(cut)
                rest = old.read()  # what the platform wrote since the cutoff
        except OSError as exc:
            raise RunDirError(f"could not read {log}: {exc.strerror or exc}") from exc
        write.write_atomically(log, rest)
    for log in found.logs:
        try:
            log.unlink(missing_ok=True)
        except OSError as exc:
            raise RunDirError(
                f"could not remove {log}: {exc.strerror or exc}; make its folder writable"
            ) from exc
