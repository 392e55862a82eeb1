"""The ``ci-tools`` command line's arguments: one small function a command.

One run's folder is ``--run-dir`` on every command (``run`` writes it, ``gate``, ``context``
and ``report`` read it); the old names ``--results-dir`` (``run``) and ``--results`` (the
others) are kept as aliases for a release.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ci_tools.rundir import paths

__all__ = ["parser"]

if TYPE_CHECKING:  # what add_subparsers returns: typeshed names it, argparse does not
    Commands = argparse._SubParsersAction["_Parser"]


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (the house style of every error) naming the
    command's help instead of printing its usage."""

    def error(self, message: str) -> NoReturn:
        """``error: <what is wrong> (see `ci-tools run --help`)`` on stderr, exit 2."""
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


class _Version(argparse.Action):
    """``--version``: ``ci-tools VERSION`` on stdout, exit 0. The version is looked up when
    asked: the installed packages' metadata takes 30 ms to read, which every command paid."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version"
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from ci_tools import __version__  # noqa: PLC0415

        print(f"{parser.prog} {__version__}")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    """The whole command line."""
    top = _Parser(
        prog="ci-tools", description="Decide whether a staging deploy is healthy, and say why."
    )
    top.add_argument("--version", action=_Version)
    top.add_argument(
        "--root",
        type=Path,
        default=Path(),
        help="the project root, where pyproject.toml is (default: .)",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_run, _shard, _gate, _context, _report, _history, _index, _prune):
        add(commands)
    return top


def _seconds(text: str) -> float:
    """A duration given on the command line: positive and finite (``-5``, ``0`` or ``nan``
    would turn the timeout off)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a positive number of seconds; give e.g. 30"
        )
    return seconds


def _count(text: str) -> int:
    """A count given on the command line: a positive whole number."""
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number; give e.g. 10")
    return int(text)


def _days(text: str) -> float:
    """A number of days given on the command line: positive and finite."""
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and days > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of days; give e.g. 30")
    return days


def _env(command: argparse.ArgumentParser) -> None:
    command.add_argument("--env", default=None, help="environment (default: default_env)")


def _run_dir(command: argparse.ArgumentParser, old: str, default: str) -> None:
    """``--run-dir DIR`` (and its old name, kept as an alias for a release)."""
    command.add_argument(
        "--run-dir",
        old,
        dest="run_dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"the run's directory (default: {default}; {old} is its old name)",
    )


def _run(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="run phases in order, each gated on the one before",
        description="Run phases in order; a phase runs only when the one before met its gate. "
        "Arguments after -- go to pytest.",
    )
    run.add_argument(
        "--phase",
        type=int,
        action="append",
        dest="phases",
        metavar="N",
        help="run only phase N (repeatable; default: every phase)",
    )
    run.add_argument(
        "--quick",
        action="store_true",
        help="phase 1 and the P1 tests of phase 2, stopping at the first failure",
    )
    _env(run)
    run.add_argument(
        "--run-id",
        default=None,
        help="join or name a run (default: $CI_TOOLS_RUN_ID, GitHub's run id, or the time)",
    )
    _run_dir(run, "--results-dir", "<reports_dir>/<run-id>")
    run.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="S",
        help="per-test timeout in seconds (default: from config)",
    )
    run.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 once the phases ran and their gates are written, met or not (a workflow "
        "job whose gate a later job reads); errors still exit 2, a cancel 130",
    )
    run.add_argument(
        "--shard",
        default=None,
        metavar="I/K",
        help="run only shard I of K of the phase (see `ci-tools shard`); `ci-tools gate` then "
        "judges the phase over all its shards",
    )
    run.add_argument(
        "--experiment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the gates, re-run the failures on the baseline revision (the one serving "
        "traffic) and once more on the candidate, to tell this deploy's regressions from what "
        "failed before it (default: as [tool.ci_tools.experiment] enabled says; "
        "--no-experiment: not for this run)",
    )
    run.add_argument(
        "--link-latest",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"point <reports_dir>/{paths.LATEST} at this run (default: only for a run of every "
        "phase; the main job, nox -s e2e, passes it, the phase sessions --no-link-latest)",
    )


def _shard(commands: Commands) -> None:
    split = commands.add_parser(
        "shard",
        help="print the node ids of one shard of a phase",
        description="Collects phase N and prints the node ids of shard I of K, balanced by "
        "durations from the run store (else the last run's records, else by count); the same "
        "input gives the same split in every job.",
    )
    split.add_argument("--phase", type=int, required=True, metavar="N")
    split.add_argument("--shards", type=int, required=True, metavar="K")
    split.add_argument("--index", type=int, required=True, metavar="I", help="from 1 to K")
    _env(split)


def _selected_run(command: argparse.ArgumentParser) -> None:
    """``--env`` and ``--run-dir``: which environment, which run."""
    _env(command)
    _run_dir(command, "--results", f"<reports_dir>/{paths.LATEST}")


def _gate(commands: Commands) -> None:
    merge = commands.add_parser(
        "gate",
        help="judge a sharded phase's gate over all its shards",
        description="Merges the shards' records of phase N in a run directory into the phase's "
        "own and writes its gate. Exit 0 when met, 1 when not.",
    )
    merge.add_argument("--phase", type=int, required=True, metavar="N")
    merge.add_argument(
        "--shards", type=int, default=None, metavar="K", help="how many ran (missing: not met)"
    )
    merge.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 once the gate is judged, met or not (the workflow's next phase reads it)",
    )
    _selected_run(merge)


def _context(commands: Commands) -> None:
    context = commands.add_parser(
        "context",
        help=f"gather deployment context for a run's failures into {paths.CONTEXT}",
        description="Cloud Run revisions and Cloud Logging entries (or the reference "
        "platform's equivalents) for the failures of a run. Never changes the verdict: a "
        "source that cannot answer is recorded as 'context unavailable: <reason>'.",
    )
    _selected_run(context)


def _report(commands: Commands) -> None:
    report = commands.add_parser(
        "report",
        help=f"diagnose a run and write its worklog, {paths.VERDICT} and {paths.JUNIT}",
        description="Exit 0 when a verdict could be formed (healthy or not: see "
        f"{paths.VERDICT} and $GITHUB_OUTPUT), 1 when the run holds no phase results.",
    )
    _selected_run(report)


def _history(commands: Commands) -> None:
    past = commands.add_parser(
        "history",
        help="the last runs of an environment and its least successful tests",
        description="Reads the run store ($CI_TOOLS_HISTORY_URL, [tool.ci_tools.history] url, "
        f"or <reports_dir>/{paths.HISTORY_DB}). `history import DIR...` records old run "
        "directories.",
    )
    _env(past)
    past.add_argument("--limit", type=_count, default=10, metavar="N", help="runs to show (10)")
    past.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    past.add_argument(
        "action", nargs="?", choices=["show", "import"], default="show", help="show or import"
    )
    past.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="run directories")


def _index(commands: Commands) -> None:
    index = commands.add_parser("index", help="write the test index from collection")
    index.add_argument("--output", type=Path, default=Path("tests/e2e/INDEX.md"))
    index.add_argument(
        "--history",
        action="store_true",
        help="add each file's historical success from the run store",
    )
    index.add_argument("--env", default=None, help="with --history: environment (default_env)")


def _prune(commands: Commands) -> None:
    prune = commands.add_parser(
        "prune",
        help="remove old run directories and old local platform logs",
        description="Removes the run directories under the reports folder past either bound "
        "(not among the newest N, or older than D days; never the one "
        f"{paths.LATEST} points at, never a folder that holds no run) and the local "
        "platform's log entries older than the runs kept. Defaults: "
        "[tool.ci_tools.retention] keep_runs (50) and keep_days (30).",
    )
    prune.add_argument("--keep-runs", type=_count, default=None, metavar="N", help="runs kept")
    prune.add_argument(
        "--keep-days", type=_days, default=None, metavar="D", help="days a run is kept"
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="list what would be removed; remove nothing"
    )
