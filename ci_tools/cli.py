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
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import TextIO

from ci_tools import (
    arguments,
    config,
    environment,
    escape,
    quarantine,
    redact,
    rundir,
    runner,
    shard,
)
from ci_tools._exceptions import CIToolsError, ConfigError, HistoryError, RunDirError
from ci_tools.experiment import Plan
from ci_tools.phases import GateResult


def _run(args: argparse.Namespace, pytest_args: list[str]) -> int:
    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    for number in args.phases or ():
        _check_phase(project, number)
    env = args.env or project.default_env
    # An unknown environment, or the local one with no platform running, stops here in one
    # line, before any phase: not as every test erroring on it.
    environment.resolve_urls(env, project.environment(env), root, os.environ)
    run_id = rundir.run_id(os.environ, args.run_id)  # refused in one line before any write
    run_dir = args.run_dir or rundir.run_dir(environment.reports(project, root), run_id)
    moves_latest = _moves_latest(args)  # a conflict is refused before any write
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
        experiment=args.experiment,
    )
    rundir.identify(run_dir, run_id)  # who the run is, wherever its folder is copied
    _say(f"ci-tools: run {run_id} against {env}; results in {run_dir}")
    with _Terminal() as terminal:
        gates = _run_gates(args, project, options, terminal)
    if moves_latest:
        _link_latest(environment.reports(project, root), run_id)
    if args.exit_zero:  # a gate judged is an answer; a pytest that could not run is not
        return 1 if any(g.reason.startswith("pytest could not run") for g in gates) else 0
    return 0 if all(gate.met for gate in gates) else 1


def _run_gates(
    args: argparse.Namespace,
    project: config.Config,
    options: runner.RunOptions,
    terminal: runner.Progress,
) -> list[GateResult]:
    """The phases ``run`` asks for, run: their gates."""
    if args.quick:
        # Stop at the first failure: phase 1 whole, then only the P1 tests of phase 2.
        quick = dataclasses.replace(options, exitfirst=True)
        gates = runner.run_phases(project, [1], quick, terminal)
        if gates[-1].met:
            p1 = dataclasses.replace(quick, priority="P1")
            gates += runner.run_phases(project, [2], p1, terminal)
        return gates
    numbers = args.phases or list(project.phases)
    return runner.run_phases(project, numbers, options, terminal)


def _moves_latest(args: argparse.Namespace) -> bool:
    """Whether a run points ``reports/latest`` at itself: as ``--link-latest`` (the main job)
    or ``--no-link-latest`` (the phase sessions) say; unsaid, only a run of every phase does,
    so a single phase, ``--quick`` or a shard leaves it on the last whole run. A run in a
    ``--run-dir`` of its own never does: ``latest`` names a run under the reports folder."""
    if args.run_dir is not None:
        if args.link_latest:
            raise ConfigError(
                "--link-latest points reports/latest at reports/<run-id>, and --run-dir puts "
                "the run elsewhere: drop one of them"
            )
        return False
    if args.link_latest is not None:
        return bool(args.link_latest)
    return not (args.phases or args.quick or args.shard)


def _check_phase(project: config.Config, number: int) -> None:
    """``--phase N`` names a configured phase; refused in one line before anything is made."""
    if number not in project.phases:
        known = ", ".join(map(str, project.phases)) or "none"
        raise ConfigError(
            f"--phase {number}: no such phase; [tool.ci_tools.phases] has {known}: "
            "give one of those"
        )


def _silence(stream: TextIO) -> None:
    """Points a stream whose reader has gone (``ci-tools history | head``) at /dev/null, so
    that the rest of what is printed, and the flush at exit, go nowhere without an error:
    the way Python's documentation handles a broken pipe (signal.SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)


def _inert(line: str) -> str:
    """A line for stderr, which the Actions runner reads for workflow commands too: a value
    it quotes (a path, a URL, a driver's message) made inert. (Each error masks what it
    quotes itself: a store URL's password reads ``***``.)"""
    return escape.line(line)


def _say(line: str, stream: TextIO | None = None) -> None:
    """Prints a line of a run's progress now; once the reader has gone, the stream is
    silenced and the run goes on, so that its phases and gates are still recorded."""
    stream = stream or sys.stdout
    try:
        print(line, file=stream, flush=True)
    except BrokenPipeError:
        _silence(stream)


class _Terminal:
    """A run's progress as ``ci-tools run`` prints it (``runner.Progress``): a line for each
    phase's go; while it runs, its progress line, redrawn in place on a terminal (``live``,
    by default when stdout is one), else printed as ``runner.Pacer`` allows (a CI log keeps
    every line); its gate's line; then what to read first of a phase that went wrong.
    pytest's own output is not printed: it is in the run directory (``phaseN.log``)."""

    def __init__(self, live: bool | None = None) -> None:
        self.live = sys.stdout.isatty() if live is None else live
        self._pacer = runner.Pacer(redraw=self.live)
        self._drawn = False  # a progress line is on the terminal, not ended

    def __enter__(self) -> _Terminal:
        return self

    def __exit__(self, *_: object) -> None:
        self._clear()  # whatever is printed after the run (a cancel) starts a line of its own

    def phase_started(self, number: int, workers: int, why: str) -> None:
        """``ci-tools: phase N runs K tests at once (why)``."""
        self._clear()
        self._pacer.start(time.monotonic())
        mode = f"up to {workers} tests at once" if workers else "one test at a time"
        _say(f"ci-tools: phase {number} runs {mode} ({why})")

    def tests_running(self, tally: runner.Tally) -> None:
        """``phase N: 12/52 done, 1 failed; longest running test_x.py::test_y (8 s)``, when
        the pacer says."""
        if not self._pacer.due(tally, time.monotonic()):
            return
        line = escape.line(runner.progress_line(tally))
        if not self.live:
            _say(line)
            return
        width = shutil.get_terminal_size().columns
        self._drawn = _draw(f"\r{line[: max(width - 1, 1)]}{_CLEAR_TO_END}")

    def note(self, message: str) -> None:
        """The message on stderr."""
        self._clear()
        _say(_inert(f"ci-tools: {message}"), sys.stderr)

    def gate_judged(self, gate: GateResult) -> None:
        """The gate's line."""
        self._clear()
        _say(gate_line(gate))

    def excerpt(self, excerpt: runner.Excerpt) -> None:
        """The excerpt, indented under its gate's line, then where pytest's whole output is."""
        self._clear()
        _say(f"  {escape.line(excerpt.heading)}")
        for line in excerpt.lines:
            _say(f"    {escape.line(line)}")
        _say(f"  pytest's output: {escape.line(_shown(excerpt.output))}")

    def experimented(self, number: int, plan: Plan, shown: Mapping[str, int]) -> None:
        """``ci-tools: experiment on phase N's failures: ...``, one line."""
        self._clear()
        # Its reason may quote a service's error (a revision that could not be read).
        _say(escape.line(redact.redact(experiment_line(number, plan, shown))))

    def _clear(self) -> None:
        """Ends a progress line on the terminal: it is wiped, for the next line to take its
        place."""
        if self._drawn:
            _draw(f"\r{_CLEAR_TO_END}")
            self._drawn = False


_CLEAR_TO_END = "\x1b[K"  # a terminal's "erase to the end of the line"


def _draw(text: str) -> bool:
    """Writes ``text`` (no newline) to stdout now; False once the reader has gone."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence(sys.stdout)
        return False
    return True


def _shown(path: Path) -> str:
    """``path`` as a person typed it here: relative to the working directory when inside."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_SHOWN = (
    ("regression", "regression(s): fail on the candidate only"),
    ("both", "failing on the baseline too"),
    ("flaky", "flaky (passed when run again)"),
    ("no baseline", "not compared"),
)


def experiment_line(number: int, plan: Plan, shown: Mapping[str, int]) -> str:
    """What the experiment on phase N's failures showed, in one line."""
    head = f"ci-tools: experiment on phase {number}'s failures"
    if plan.status != "ran":
        return f"{head}: none re-run, {plan.reason or plan.status}"
    where = ", ".join(f"{role} {name}" for role, name in sorted(plan.revisions.items()))
    told = ", ".join(f"{shown[key]} {words}" for key, words in _SHOWN if shown.get(key))
    stop = f" ({plan.stopped})" if plan.stopped else ""
    return (
        f"{head}: {len(plan.chosen)} re-run on the baseline"
        f"{f' ({where})' if where else ''} and the candidate in {plan.duration_s:.1f} s{stop}: "
        f"{told or 'nothing finished'}"
        + (f"; {len(plan.left)} over the limit" if plan.left else "")
    )


def gate_line(gate: GateResult) -> str:
    """One line per phase's gate: status, counts, duration, reason (inert for the Actions
    runner: a reason may quote a failure's message)."""
    return escape.line(_gate_line(gate))


def _gate_line(gate: GateResult) -> str:
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
    _check_phase(project, args.phase)
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
    _check_phase(project, args.phase)
    # Read before the merge writes anything: a bad GITHUB_* value stops here in one line.
    actions = github.Actions.from_environ(os.environ)
    held = quarantine.load_today(root / project.quarantine_file)
    gate = runner.merge_shards(project, args.phase, folder, args.shards, held)
    print(gate_line(gate))
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
    try:  # the run's URLs name the candidate when one is a revision's tag URL
        urls: dict[str, str] | None = environment.resolve_urls(
            env, project.environment(env), root, os.environ
        )
    except ConfigError:  # a local platform already stopped: its URLs are gone, not needed
        urls = None
    # The experiment's re-runs too: their trace links and log lines, on either revision.
    reruns = read.experiment(run_dir)
    context = gather_context(project, env, records, stack_dir, urls=urls, reruns=reruns)
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
        print(_inert(f"warning: {warning}"), file=sys.stderr)
    for line in report.annotations:
        print(line)
    print_summary(report.diagnosis, str(report.worklog))
    return 1 if report.diagnosis.verdict == "unknown" or report.incomplete else 0


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
        lost = 0
        for folder in sorted(args.dirs, key=lambda d: read.started(d, project.phases)):
            verdict, refused = import_run(project, folder.resolve(), env, url)
            print(f"{folder}: {verdict}" + (f" ({refused})" if refused else ""))
            lost += bool(refused)
        if lost:
            print(
                f"warning: {lost} of {len(args.dirs)} run(s) not recorded: see each line above",
                file=sys.stderr,
            )
        return 1 if lost else 0
    if args.dirs:
        raise ConfigError("run directories go after `import`: ci-tools history import DIR...")
    print(show(url, env, args.limit, project.history.window, as_json=args.json))
    return 0


def _prune(args: argparse.Namespace) -> int:
    """Removes the run directories and platform logs past the retention; one line when any
    went (the main job runs it after each run), each item first with ``--dry-run``."""
    from ci_tools.rundir import prune  # noqa: PLC0415 - this command's alone

    root: Path = args.root
    project = config.load(root / "pyproject.toml")
    keep_runs: int = args.keep_runs or project.retention.keep_runs
    keep_days: float = args.keep_days or project.retention.keep_days
    # Every local platform's state folder as configured (.stack), and those under it
    # (.stack/e2e, the main job's): not $CI_TOOLS_STACK_DIR, one platform of them.
    stacks = {environment.stack_dir(e, root, {}) for e in project.environments.values()}
    logs = [
        folder
        for stack in sorted(s for s in stacks if s is not None)
        for folder in prune.platform_logs(stack, environment.STACK_FILE)
    ]
    reports = environment.reports(project, root)
    found = prune.plan(reports, keep_runs, keep_days, time.time(), logs)
    kept = f"the newest {keep_runs} runs within {keep_days:g} days"
    if args.dry_run:
        for line in found.lines("would remove"):
            print(line)
        print(
            f"ci-tools: nothing to prune (keeping {kept})"
            if found.empty
            else f"ci-tools: would prune {found.summary()}, keeping {kept}"
        )
        return _prune_store(project, root, dry_run=True)
    prune.apply(found)
    if not found.empty:
        print(f"ci-tools: pruned {found.summary()}, keeping {kept}")
    return _prune_store(project, root)


def _prune_store(project: config.Config, root: Path, *, dry_run: bool = False) -> int:
    """Applies the run store's retention (``[tool.ci_tools.history]`` keep_runs, keep_days,
    keep_summaries_days); one line when it removed anything. A store not there yet is left
    so (pruning creates none); one that does not answer is a line on stderr and exit 1,
    with the run directories already pruned."""
    if not project.history.enabled:
        return 0
    import sqlalchemy as sa  # noqa: PLC0415 - SQLAlchemy loads slowly

    from ci_tools.history.store import open_store  # noqa: PLC0415

    url = environment.store_url(project, root, os.environ)
    where = sa.make_url(url)
    if where.get_backend_name() == "sqlite" and not Path(where.database or "").is_file():
        return 0
    keep = project.history
    try:
        store = open_store(url)
        try:
            done = store.prune(
                keep.keep_runs, keep.keep_days, keep.keep_summaries_days, time.time(),
                dry_run=dry_run,
            )  # fmt: skip
        finally:
            store.close()
    except HistoryError as exc:
        print(_inert(f"error: the run store was not pruned: {exc}"), file=sys.stderr)
        return 1
    kept = (
        f"per-test rows of the newest {keep.keep_runs} runs within {keep.keep_days:g} days, "
        f"summaries for {keep.keep_summaries_days:g} days"
    )
    if not done.empty:
        verb = "would prune" if dry_run else "pruned"
        print(f"ci-tools: the run store: {verb} {done.summary()}, keeping {kept}")
    return 0


def _link_latest(reports: Path, run_id: str) -> None:
    """Points ``reports/latest`` at this run, for people looking for the newest results."""
    rundir.link_latest(reports, run_id)


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
    a run cancelled by SIGINT or SIGTERM. A reader that goes away (``ci-tools history |
    head``) ends the command quietly, exit 1, as Python's documentation does it."""
    try:
        try:
            return _main(argv)
        finally:  # --help and --version exit through here too
            sys.stdout.flush()  # a reader gone shows here, not as a traceback at exit
    except BrokenPipeError:
        _silence(sys.stdout)
        return 1


def _mask_secrets() -> None:
    """In GitHub Actions, ``::add-mask::`` for every secret value ``redact`` knows, before
    anything else is printed: the job's log hides them, in every form, wherever they appear."""
    if "GITHUB_ACTIONS" not in os.environ:  # only then load the report package (0.2 s)
        return
    from ci_tools.report import github  # noqa: PLC0415

    for line in github.mask_commands(os.environ, redact.secret_values()):
        print(line)
    sys.stdout.flush()


def _main(argv: list[str] | None) -> int:
    """The command ``argv`` names, run; a ConfigError, RunDirError or HistoryError (the run
    store refused) is exit 2, any other CIToolsError 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    args = arguments.parser().parse_args(argv)
    if args.command in ("run", "report"):
        _mask_secrets()
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
            "prune": _prune,
        }
        return commands[args.command](args)
    except (ConfigError, RunDirError, HistoryError) as exc:  # the store's: its line says what to do
        print(_inert(f"error: {exc}"), file=sys.stderr)
        return 2

    except CIToolsError as exc:
        print(_inert(f"error: {exc}"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
