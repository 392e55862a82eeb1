"""The ``ci-tools`` command line: ``run`` the phases, judge a sharded ``gate``, gather the
``context``, write the ``report``, show or import ``history``, write the test ``index``.

The one place that prints: the runner reports its progress here (``_Terminal``), and the
stages return what they found. The arguments are in ``ci_tools.arguments``.
"""

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

from ci_tools import arguments, config, environment, quarantine, rundir, runner, shard
from ci_tools._exceptions import CIToolsError, ConfigError
from ci_tools.phases import GateResult


def _run(args: argparse.Namespace, pytest_args: list[str]) -> int:
    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    env = args.env or project.default_env
    # An unknown environment, or the local one with no platform running, stops here in one
    # line, before any phase: not as every test erroring on it.
    environment.resolve_urls(env, project.environment(env), root, os.environ)
    run_id = args.run_id or rundir.run_id(os.environ)
    run_dir = args.run_dir or rundir.run_dir(environment.reports(project, root), run_id)
    options = runner.RunOptions(
        root=root.resolve(),
        run_dir=run_dir.resolve(),
        env=env,
        pytest_args=tuple(pytest_args),
        timeout_s=args.timeout,
        # Read before any phase: a bad quarantine file stops the run in one line.
        quarantine=quarantine.load_today(root / project.quarantine_file),
        history_url=_history_url(project, root),
        shard=shard.parse(args.shard) if args.shard else None,
    )
    print(f"ci-tools: run {run_id} against {env}; results in {run_dir}", flush=True)
    terminal = _Terminal()
    if args.quick:
        # Stop at the first failure: phase 1 whole, then only the P1 tests of phase 2.
        quick = dataclasses.replace(options, exitfirst=True)
        gates = runner.run_phases(project, [1], quick, terminal)
        if gates[-1].met:
            p1 = dataclasses.replace(quick, priority="P1")
            gates += runner.run_phases(project, [2], p1, terminal)
    else:
        numbers = args.phases or list(project.phases)
        gates = runner.run_phases(project, numbers, options, terminal)
    if args.run_dir is None:
        _link_latest(environment.reports(project, root), run_id)
    if args.exit_zero:  # a gate judged is an answer; a pytest that could not run is not
        return 1 if any(g.reason.startswith("pytest could not run") for g in gates) else 0
    return 0 if all(gate.met for gate in gates) else 1


class _Terminal:
    """A run's progress as the lines ``ci-tools run`` prints (``runner.Progress``)."""

    def phase_started(self, number: int, workers: int, why: str) -> None:
        """``ci-tools: phase N runs K tests at once (why)``."""
        mode = f"{workers} tests at once" if workers else "one test at a time"
        print(f"ci-tools: phase {number} runs {mode} ({why})", flush=True)

    def note(self, message: str) -> None:
        """The message on stderr."""
        print(f"ci-tools: {message}", file=sys.stderr, flush=True)

    def gate_judged(self, gate: GateResult) -> None:
        """The gate's line."""
        print(gate_line(gate), flush=True)


def gate_line(gate: GateResult) -> str:
    """One line per phase's gate: status, counts, duration, reason."""
    mark = {"met": "PASS", "not_met": "FAIL", "skipped": "SKIP", "not_run": "MISS"}[gate.status]
    counts = (
        f"{gate.passed}/{gate.passed + gate.failed + gate.errors} passed"
        + (f", {gate.skipped} skipped" if gate.skipped else "")
        + (f", {gate.not_run} not run" if gate.not_run else "")
    )
    if gate.status == "skipped":  # the blocker's full reason was printed on its own line
        return f"phase {gate.phase} {mark}  {gate.title}: {gate.reason.split(':', 1)[0]}"
    detail = "" if gate.met else f" — gate of phase {gate.phase} not met: {gate.reason}"
    return f"phase {gate.phase} {mark}  {gate.title}: {counts} in {gate.duration_s:.1f} s{detail}"


def _history_url(project: config.Config, root: Path) -> str | None:
    """The run store a run reads its last run from; None when history is off."""
    return environment.store_url(project, root, os.environ) if project.history.enabled else None


def _shard(args: argparse.Namespace) -> int:
    """Prints the node ids of one shard of a phase (collected by pytest, split here)."""
    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    shard.parse(f"{args.index}/{args.shards}")  # a bad index stops here, in one line
    env = args.env or project.default_env
    options = runner.RunOptions(
        root=root.resolve(),
        # This run's directory: its shards split by what came before it, as `run --shard` does.
        run_dir=rundir.run_dir(environment.reports(project, root), rundir.run_id()).resolve(),
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
    print(gate_line(gate))
    actions = github.Actions.from_environ(os.environ)
    if actions.active and not gate.met:  # the gate job's annotation on the run's page
        print(github.gate_annotation(gate), flush=True)
    # In a workflow, the next phase's `if:` reads it (a job output).
    github.publish(actions, "", {"gate": gate.status})
    return 0 if args.exit_zero or gate.met else 1


def _selected_run(args: argparse.Namespace) -> tuple[config.Config, str, Path, Path]:
    """The project's config, the environment, the run directory and the root."""
    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    run_dir: Path = args.run_dir or rundir.latest(environment.reports(project, root))
    if not run_dir.is_dir():
        raise ConfigError(f"no run at {run_dir}: pass --run-dir reports/<run-id>")
    return project, args.env or project.default_env, run_dir.resolve(), root


def _context(args: argparse.Namespace) -> int:
    from ci_tools.context.stage import gather_context, summary  # noqa: PLC0415
    from ci_tools.rundir import read, write  # noqa: PLC0415

    project, env, run_dir, root = _selected_run(args)
    stack_dir = environment.stack_dir(project.environment(env), root, os.environ)
    records = read.run_records(run_dir, project.phases)
    context = gather_context(project, env, records, stack_dir)
    written = write.context(run_dir, context)
    for line in summary(context):
        print(line)
    print(f"wrote {written}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from ci_tools.report import write_report  # noqa: PLC0415
    from ci_tools.report.terminal import print_summary  # noqa: PLC0415

    project, env, run_dir, root = _selected_run(args)
    report = write_report(project, env=env, run_dir=run_dir, root=root, environ=os.environ)
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
        url = environment.store_url(project, args.root, os.environ)
        rates = file_rates(url, args.env or project.default_env, project.history.window)
    count = write_index(project, args.root, args.root / args.output, rates)
    print(f"wrote {args.output}: {count} tests")
    return 0


def _history(args: argparse.Namespace) -> int:
    from ci_tools.history.terminal import show  # noqa: PLC0415
    from ci_tools.report import import_run  # noqa: PLC0415
    from ci_tools.rundir import read  # noqa: PLC0415

    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    env = args.env or project.default_env
    url = environment.store_url(project, root, os.environ)
    if args.action == "import":
        if not args.dirs:
            raise ConfigError(
                "history import needs run directories: ci-tools history import DIR..."
            )
        missing = [d for d in args.dirs if not d.is_dir()]
        if missing:
            raise ConfigError(f"no run directory at {missing[0]}: give reports/<run-id> folders")
        for folder in sorted(args.dirs, key=lambda d: read.started(d, project.phases)):
            verdict, refused = import_run(project, folder.resolve(), env, url)
            print(f"{folder}: {verdict}" + (f" (not recorded: {refused})" if refused else ""))
        return 0
    if args.dirs:
        raise ConfigError("run directories go after `import`: ci-tools history import DIR...")
    print(show(url, env, args.limit, project.history.window, as_json=args.json))
    return 0


def _link_latest(reports: Path, run_id: str) -> None:
    """Points ``reports/latest`` at this run, for people looking for the newest results."""
    latest = rundir.latest(reports)
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
    args = arguments.parser().parse_args(argv)
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
