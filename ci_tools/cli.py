"""The ``ci-tools`` command line: ``run`` the phases, write the test ``index``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from ci_tools import __version__, config, quarantine, runner, shard
from ci_tools._exceptions import CIToolsError, ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ci-tools", description="Decide whether a staging deploy is healthy, and say why."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(),
        help="the project root, where pyproject.toml is (default: .)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    run.add_argument(
        "--env", default=None, help="environment (default: [tool.ci_tools] default_env)"
    )
    run.add_argument(
        "--run-id",
        default=None,
        help="join or name a run (default: $CI_TOOLS_RUN_ID, GitHub's run id, or the time)",
    )
    run.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write this run's files here (default: <results_dir>/<run-id>)",
    )
    run.add_argument(
        "--timeout",
        type=float,
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
    split.add_argument("--env", default=None, help="environment (default: default_env)")

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
    _add_run_selection(merge)

    context = commands.add_parser(
        "context",
        help="gather deployment context for a run's failures into context.json",
        description="Cloud Run revisions and Cloud Logging entries (or the reference "
        "platform's equivalents) for the failures of a run. Never changes the verdict: a "
        "source that cannot answer is recorded as 'context unavailable: <reason>'.",
    )
    _add_run_selection(context)

    report = commands.add_parser(
        "report",
        help="diagnose a run and write its worklog, verdict.json and junit.xml",
        description="Exit 0 when a verdict could be formed (healthy or not: see verdict.json "
        "and $GITHUB_OUTPUT), 1 when the run holds no phase results.",
    )
    _add_run_selection(report)

    past = commands.add_parser(
        "history",
        help="the last runs of an environment and its least successful tests",
        description="Reads the run store ($CI_TOOLS_HISTORY_URL, [tool.ci_tools.history] url, "
        "or <results_dir>/history.db). `history import DIR...` records old run directories.",
    )
    past.add_argument("--env", default=None, help="environment (default: default_env)")
    past.add_argument("--limit", type=int, default=10, metavar="N", help="runs to show (10)")
    past.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    past.add_argument(
        "action", nargs="?", choices=["show", "import"], default="show", help="show or import"
    )
    past.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="run directories")

    index = commands.add_parser("index", help="write the test index from collection")
    index.add_argument("--output", type=Path, default=Path("tests/e2e/INDEX.md"))
    index.add_argument(
        "--history",
        action="store_true",
        help="add each file's historical success from the run store",
    )
    index.add_argument("--env", default=None, help="with --history: environment (default_env)")
    return parser


def _run(args: argparse.Namespace, pytest_args: list[str]) -> int:
    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    env = args.env or project.default_env
    # An unknown environment, or the local one with no platform running, stops here in one
    # line, before any phase: not as every test erroring on it.
    config.resolve_urls(env, project.environment(env), root, os.environ)
    run_id = args.run_id or runner.run_id(os.environ)
    results_dir = args.results_dir or root / project.results_dir / run_id
    options = runner.RunOptions(
        root=root.resolve(),
        results_dir=results_dir.resolve(),
        env=env,
        pytest_args=tuple(pytest_args),
        timeout_s=args.timeout,
        # Read before any phase: a bad quarantine file stops the run in one line.
        quarantine=quarantine.load_today(root / project.quarantine_file),
        history_url=_history_url(project, root),
        shard=shard.parse(args.shard) if args.shard else None,
    )
    print(f"ci-tools: run {run_id} against {env}; results in {results_dir}", flush=True)
    if args.quick:
        # Stop at the first failure: phase 1 whole, then only the P1 tests of phase 2.
        quick = dataclasses.replace(options, exitfirst=True)
        gates = runner.run_phases(project, [1], quick)
        if gates[-1].met:
            gates += runner.run_phases(project, [2], dataclasses.replace(quick, priority="P1"))
    else:
        numbers = args.phases or list(project.phases)
        gates = runner.run_phases(project, numbers, options)
    if args.results_dir is None:
        _link_latest(root / project.results_dir, run_id)
    if args.exit_zero:  # a gate judged is an answer; a pytest that could not run is not
        return 1 if any(g.reason.startswith("pytest could not run") for g in gates) else 0
    return 0 if all(gate.met for gate in gates) else 1


def _history_url(project: config.Config, root: Path) -> str | None:
    """The run store a run reads its last run from; None when history is off."""
    return config.store_url(project, root, os.environ) if project.history.enabled else None


def _shard(args: argparse.Namespace) -> int:
    """Prints the node ids of one shard of a phase (collected by pytest, split here)."""
    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    shard.parse(f"{args.index}/{args.shards}")  # a bad index stops here, in one line
    env = args.env or project.default_env
    options = runner.RunOptions(
        root=root.resolve(),
        # This run's directory: its shards split by what came before it, as `run --shard` does.
        results_dir=(root / project.results_dir / runner.run_id(os.environ)).resolve(),
        env=env,
        history_url=_history_url(project, root),
    )
    tests = runner.collect(project, args.phase, options)
    serial = [t.nodeid for t in tests if "serial" in t.markers]
    nodeids = [t.nodeid for t in tests]
    planned = shard.split(nodeids, runner.shard_durations(options, args.phase), args.shards, serial)
    if len(planned) < args.shards:
        none = f"; shard {args.index} has none" if args.index > len(planned) else ""
        print(
            f"ci-tools: phase {args.phase} has {len(nodeids)} tests: {len(planned)} shards, not "
            f"{args.shards}{none}",
            file=sys.stderr,
        )
    for nodeid in planned[args.index - 1] if args.index <= len(planned) else []:
        print(nodeid)
    return 0


def _gate(args: argparse.Namespace) -> int:
    """Judges a sharded phase over all its shards."""
    from ci_tools.report import github  # noqa: PLC0415 - the report package loads slowly

    project, _, folder, root = _selected_run(args)
    held = quarantine.load_today(root / project.quarantine_file)
    gate = runner.merge_shards(project, args.phase, folder, args.shards, held)
    print(runner.verdict_line(gate))
    actions = github.Actions.from_environ(os.environ)
    if actions.active and not gate.met:  # the gate job's annotation on the run's page
        print(github.gate_annotation(gate), flush=True)
    # In a workflow, the next phase's `if:` reads it (a job output).
    github.publish(actions, "", {"gate": gate.status})
    return 0 if args.exit_zero or gate.met else 1


def _add_run_selection(parser: argparse.ArgumentParser) -> None:
    """``--env`` and ``--results``: which environment, which run."""
    parser.add_argument("--env", default=None, help="environment (default: default_env)")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        metavar="DIR",
        help="the run's directory (default: <results_dir>/latest)",
    )


def _selected_run(args: argparse.Namespace) -> tuple[config.Config, str, Path, Path]:
    """The project's config, the environment, the run directory and the root."""
    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    results: Path = args.results or root / project.results_dir / "latest"
    if not results.is_dir():
        raise ConfigError(f"no run at {results}: pass --results reports/<run-id>")
    return project, args.env or project.default_env, results.resolve(), root


def _context(args: argparse.Namespace) -> int:
    from ci_tools.context.stage import run_context_stage, summary  # noqa: PLC0415

    project, env, results, root = _selected_run(args)
    context = run_context_stage(project, env, results, root)
    for line in summary(context):
        print(line)
    print(f"wrote {results / 'context.json'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from ci_tools.report import write_report  # noqa: PLC0415
    from ci_tools.report.terminal import print_summary  # noqa: PLC0415

    project, env, results, root = _selected_run(args)
    report = write_report(project, env=env, results_dir=results, root=root, environ=os.environ)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for line in report.annotations:
        print(line)
    print_summary(report.diagnosis, str(report.worklog))
    return 1 if report.diagnosis.verdict == "unknown" else 0


def _index(args: argparse.Namespace) -> int:
    from ci_tools.index import file_rates, write_index  # noqa: PLC0415 - collection is heavy

    project = config.load(args.root / "pyproject.toml")
    rates = None
    if args.history:
        from ci_tools.history.store import store_url  # noqa: PLC0415

        url = store_url(project, args.root, os.environ)
        rates = file_rates(url, args.env or project.default_env, project.history.window)
    count = write_index(project, args.root, args.root / args.output, rates)
    print(f"wrote {args.output}: {count} tests")
    return 0


def _history(args: argparse.Namespace) -> int:
    from ci_tools.history.store import store_url  # noqa: PLC0415
    from ci_tools.history.terminal import show  # noqa: PLC0415
    from ci_tools.report import import_run  # noqa: PLC0415

    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    env = args.env or project.default_env
    url = store_url(project, root, os.environ)
    if args.action == "import":
        if not args.dirs:
            raise ConfigError(
                "history import needs run directories: ci-tools history import DIR..."
            )
        missing = [d for d in args.dirs if not d.is_dir()]
        if missing:
            raise ConfigError(f"no run directory at {missing[0]}: give reports/<run-id> folders")
        for folder in sorted(args.dirs, key=lambda d: _started(project, d)):
            verdict, refused = import_run(project, folder.resolve(), env, url)
            print(f"{folder}: {verdict}" + (f" (not recorded: {refused})" if refused else ""))
        return 0
    if args.dirs:
        raise ConfigError("run directories go after `import`: ci-tools history import DIR...")
    print(show(url, env, args.limit, project.history.window, as_json=args.json))
    return 0


def _started(project: config.Config, folder: Path) -> str:
    """When a run directory's first phase started ('' when unknown): imports go in order."""
    from ci_tools.phases import read_gate  # noqa: PLC0415

    with contextlib.suppress(CIToolsError):
        for number in project.phases:
            gate = read_gate(folder, number)
            if gate is not None and gate.started_at:
                return gate.started_at
    return ""


def _link_latest(reports: Path, run_id: str) -> None:
    """Points ``reports/latest`` at this run, for people looking for the newest results."""
    latest = reports / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_id)
    except OSError:
        pass  # a convenience only: a file system without symlinks loses nothing


@contextlib.contextmanager
def _cancel_on_signals() -> Iterator[None]:
    """While a run goes on, SIGINT or SIGTERM (GitHub's cancel sends SIGINT, then SIGTERM;
    nox and terminals send either) is one KeyboardInterrupt: the runner stops pytest, records
    the tests still running as not run, writes the gate, and no later phase starts. Any
    signal after the first is ignored, so that this work is not cut short by its own echo
    (a terminal's SIGINT reaches nox and ci-tools, then nox sends SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; an embedding caller keeps its own
        return
    cancelled = False

    def cancel(_signum: int, _frame: FrameType | None) -> None:
        nonlocal cancelled
        if not cancelled:
            cancelled = True
            raise KeyboardInterrupt

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, cancel) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)


def _cancellable_run(args: argparse.Namespace, pytest_args: list[str]) -> int:
    """``run``, ended by SIGINT or SIGTERM with exit 130 once what ran is recorded."""
    try:
        with _cancel_on_signals():
            return _run(args, pytest_args)
    except KeyboardInterrupt:
        print(
            "ci-tools: cancelled; the tests still running were recorded as not run",
            file=sys.stderr,
            flush=True,
        )
        return 130


def main(argv: list[str] | None = None) -> int:
    """Runs one command; an error is one line on stderr, exit 2 for usage or config, 130 for
    a run cancelled by SIGINT or SIGTERM."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _cancellable_run(args, pytest_args)
        commands = {
            "context": _context,
            "report": _report,
            "history": _history,
            "index": _index,
            "shard": _shard,
            "gate": _gate,
        }
        return commands[args.command](args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    except CIToolsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
