"""Runs phases as pytest subprocesses under their budgets, then judges their gates.

Each phase is one ``pytest`` process writing its records through the plugin; its tests run as
many at once as their waiting needs, each in a process forked from the phase's (``--concurrency``,
see ``ci_tools.forked``). The runner holds the phase's time budget from outside: when it
runs out, pytest is interrupted, then killed, and the tests that started and never ended are
recorded as hung, so the report stage still gets everything. A phase whose predecessor in the
same run missed its gate is not run; it is recorded as skipped with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci_tools import go, rundir
from ci_tools._exceptions import CIToolsError, ConfigError
from ci_tools.config import Config
from ci_tools.phases import GateResult, evaluate_gate, read_gate, skipped_gate, write_gate
from ci_tools.quarantine import NONE as NO_QUARANTINE
from ci_tools.quarantine import Quarantine
from ci_tools.records import (
    Failure,
    PhaseRecords,
    RecordWriter,
    Selected,
    TestRecord,
    not_run,
    read_records,
    read_selected,
)
from ci_tools.shard import of as shard_of

INTERRUPT_GRACE_S = 5.0  # after SIGINT, pytest gets this long to write what it has
NO_TESTS = 5  # pytest's exit code when it selected no test (a shard past the phase's tests)
CANCEL_GRACE_S = 2.0  # shorter when the whole run is cancelled: it must end within 5 s


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What to run and where its files go."""

    root: Path  # the project root (where pyproject.toml is)
    results_dir: Path  # reports/<run-id>
    env: str
    pytest_args: tuple[str, ...] = ()
    timeout_s: float | None = None  # per-test timeout; default from config
    priority: str | None = None  # e.g. "P1": only those tests
    exitfirst: bool = False
    quarantine: Quarantine = NO_QUARANTINE  # tests whose results do not count for the gate
    history_url: str | None = None  # the run store: a phase's order and workers from its last run
    shard: tuple[int, int] | None = None  # (I, K): run only shard I of K of each phase

    @property
    def part(self) -> int | None:
        """This run's shard index (its files are ``phaseN.shardI.*``), or None unsplit."""
        return self.shard[0] if self.shard else None


def run_id(environ: Mapping[str, str] = os.environ) -> str:
    """This run's id: ``$CI_TOOLS_RUN_ID`` (the workflow sets it to GitHub's run id, so
    chained phase jobs and re-runs share one run), or the UTC time."""
    return environ.get("CI_TOOLS_RUN_ID") or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")


def pytest_command(
    config: Config,
    number: int,
    options: RunOptions,
    workers: int | None = None,
    go_fd: int | None = None,
) -> list[str]:
    """The pytest command line of one phase (``workers``: how many tests run at once, each
    forked from the phase's process; 0 one at a time in it; default the phase's count).
    ``go_fd``: the process starts up and collects, then waits there for its go (which brings
    the order and the count instead: see ``ci_tools.go``)."""
    phase = config.phases[number]
    timeout = options.timeout_s or phase.timeout_s or config.test_timeout_s
    command = [
        sys.executable,
        "-m",
        "pytest",
        *phase.paths,
        "--phase",
        str(number),
        "--env",
        options.env,
        "--results-dir",
        str(options.results_dir),
        "--timeout",
        f"{timeout:g}",
        "-p",
        "no:cacheprovider",
        # Hypothesis's plugin adds a second to every phase's exit, anyio's 0.2 s to every
        # process's start (workers included), and no e2e test uses either.
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:anyio",
        "-q",
        "-rfE",
    ]
    if phase.markers:
        command += ["-m", phase.markers]
    workers = phase.workers if workers is None else workers
    if go_fd is not None:  # the go may bring any count: sys capture, as below
        command += ["--go-fd", str(go_fd), "--capture=sys"]
    elif workers > 1:  # sys capture: forked tests would share fd capture's files
        command += ["--concurrency", str(workers), "--capture=sys"]
    if options.priority:
        command += ["--priority", options.priority]
    if options.exitfirst:
        command.append("-x")
    if config.failfast.enabled:
        command += ["--fail-fast-after", str(config.failfast.after)]
    part = options.part
    order = rundir.order(options.results_dir, number, part)
    if order.exists() and go_fd is None:
        command += ["--order", str(order)]
    if options.shard:
        command += ["--shard", f"{options.shard[0]}/{options.shard[1]}"]
        durations = rundir.durations(options.results_dir, number)
        if durations.exists():
            command += ["--shard-durations", str(durations)]
    if config.retries.max and config.retries.transient:  # pytest-rerunfailures
        command += ["--reruns", str(config.retries.max)]
        for pattern in config.retries.transient:
            command += ["--only-rerun", pattern]
    return command + list(options.pytest_args)


def _interrupt(process: subprocess.Popen[bytes], grace_s: float = INTERRUPT_GRACE_S) -> None:
    """SIGINT lets pytest stop cleanly; whatever still runs after the grace is killed."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace_s)
            if sig == signal.SIGINT:
                os.killpg(process.pid, signal.SIGKILL)  # xdist workers left behind, if any
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _unfinished(
    found: PhaseRecords, selected: Sequence[Selected], number: int, stop: str
) -> list[TestRecord]:
    """Records for the selected tests that have none: those still running when the phase was
    stopped (hung at the budget, or cancelled) and those never started."""
    now = _now()
    known = {record.nodeid for record in found.records}
    running = set(found.started_not_finished)
    by_id = {test.nodeid: test for test in selected}
    for nodeid in found.started_not_finished:  # started, yet not selected: keep it anyway
        by_id.setdefault(nodeid, Selected(nodeid, nodeid.split("::", 1)[0], 0))
    records = []
    for nodeid, test in by_id.items():
        if nodeid in known:
            continue
        if nodeid in running and stop.startswith("budget"):
            records.append(
                dataclasses.replace(
                    not_run(test, number, "", now),
                    outcome="failed",
                    reason=None,
                    failure=Failure("Hung", f"still running when the phase {stop}", timed_out=True),
                )
            )
        elif nodeid in running:
            records.append(not_run(test, number, f"not run: stopped while running, {stop}", now))
        else:
            records.append(not_run(test, number, f"not run: {stop} before it started", now))
    return records


def _wait(
    process: subprocess.Popen[bytes], number: int, budget_s: float
) -> tuple[int | None, str, BaseException | None]:
    """Waits for the phase's pytest within its budget: its exit code, why it was stopped
    ("" when it ended by itself), and the cancel (SIGINT/SIGTERM) to raise again."""
    try:
        return _wait_exit(process, budget_s), "", None
    except subprocess.TimeoutExpired:
        print(
            f"ci-tools: phase {number} budget of {budget_s:g} s ran out; stopping it",
            file=sys.stderr,
            flush=True,
        )
        _interrupt(process)
        return process.returncode, f"budget of {budget_s:g} s ran out", None
    except KeyboardInterrupt as interrupt:  # SIGINT, or SIGTERM turned into one by the CLI
        _interrupt(process, CANCEL_GRACE_S)
        return process.returncode, "the run was cancelled", interrupt


def _wait_exit(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    """``process.wait(timeout_s)`` without its polling (sleeps of up to 50 ms between looks,
    which every phase's end would wait out): a pidfd becomes readable when the process ends."""
    if not hasattr(os, "pidfd_open"):
        return process.wait(timeout_s)
    try:
        fd = os.pidfd_open(process.pid)
    except OSError:  # already reaped, or a kernel without pidfds
        return process.wait(timeout_s)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            if not selector.select(timeout_s):
                raise subprocess.TimeoutExpired(process.args, timeout_s)
    finally:
        os.close(fd)
    return process.wait()


def _phase_environ() -> dict[str, str]:
    """The environment of a phase's pytest: the caller's, except that bytecode is written.
    Without cached bytecode (PYTHONDONTWRITEBYTECODE) every phase process and every xdist
    worker compiles the suite and re-rewrites the asserts of every pytest plugin again:
    0.3 s a process, the largest fixed cost of a phase measured here."""
    environ = dict(os.environ)
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return environ


@dataclasses.dataclass(frozen=True)
class LastRun:
    """What the environment's last run of a phase says about running it now."""

    failed: tuple[str, ...] = ()  # node ids that failed: they run first
    durations: dict[str, float] = dataclasses.field(default_factory=dict)  # by node id

    def order(self) -> list[str]:
        """The order to start the tests in: the failures (the first failure, and fail-fast,
        come early), then the rest longest first, so the phase ends soonest (each test
        starts in the first free slot: longest-first is the classic makespan schedule)."""
        failed = set(self.failed)
        rest = sorted(
            (n for n in self.durations if n not in failed), key=lambda n: -self.durations[n]
        )
        return [*self.failed, *rest]


def last_run(options: RunOptions, number: int) -> LastRun:
    """Phase N in the environment's last run where it ran, from the run store; nothing when
    there is no store, no such run, or the store cannot answer (a hint, never a failure)."""
    if options.history_url is None:
        return LastRun()
    from ci_tools.history.store import open_store  # noqa: PLC0415 - SQLAlchemy loads slowly

    try:
        store = open_store(options.history_url)
        try:
            last = next(
                (r for r in store.runs(options.env, limit=20) if number in r.phases_ran), None
            )
            results = [r for r in (store.results([last.key]) if last else []) if r.phase == number]
        finally:
            store.close()
    except CIToolsError:
        return LastRun()
    return LastRun(
        failed=tuple(r.nodeid for r in results if r.outcome in ("failed", "error")),
        durations={r.nodeid: r.duration_s for r in results if r.outcome != "not_run"},
    )


def shard_durations(
    options: RunOptions, number: int, last: LastRun | None = None
) -> dict[str, float]:
    """What a sharded phase is split by, the same for ``ci-tools shard`` and every shard's
    run: the run store's last run of the phase (``last``, when already read), else the newest
    other run directory's records, else nothing (by count)."""
    known = (last or last_run(options, number)).durations
    return known or latest_durations(options.results_dir.parent, number, but=options.results_dir)


def latest_durations(results_root: Path, number: int, but: Path | None = None) -> dict[str, float]:
    """Test durations of phase N in the newest run directory under ``results_root`` that
    has its records (``but`` that one: the run being split)."""
    runs = [
        p
        for p in results_root.glob(f"*/phase{number}.jsonl")
        if not p.parent.is_symlink() and (but is None or p.parent.resolve() != but.resolve())
    ]
    if not runs:
        return {}
    newest = max(runs, key=lambda p: p.stat().st_mtime)
    return {r.nodeid: r.duration_s for r in read_records(newest).records if r.outcome != "not_run"}


def collect(config: Config, number: int, options: RunOptions) -> list[Selected]:
    """The tests phase N selects, in collection order (pytest's own collection, through
    the plugin's selection file)."""
    with tempfile.TemporaryDirectory(prefix="ci-tools-collect-") as folder:
        scratch = dataclasses.replace(options, results_dir=Path(folder), shard=None)
        command = [*pytest_command(config, number, scratch, workers=0), "--collect-only"]
        done = subprocess.run(
            command,
            cwd=options.root,
            env=_phase_environ(),
            capture_output=True,
            text=True,
            check=False,
        )
        selected = read_selected(rundir.selected(Path(folder), number))
    if done.returncode not in (0, 5):
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
        raise CIToolsError(f"phase {number}: collection failed (exit {done.returncode}): {tail[0]}")
    return list(selected)


# Each slot holds three quarters of the longest test's worth of tests. Measured with the agent
# at 500 ms a step (benchmarks/e2e_run.py): phase 4 at the exact fill (72 at once) took 17.8 s,
# at 94 at once 16.5 s, the longest test 9.6 s.
SLOT_FILL = 0.75


def choose_workers(
    config: Config, number: int, env: str, durations: Sequence[float]
) -> tuple[int, str]:
    """How many of phase N's tests run at once, and why. End-to-end tests wait (on the
    network, the agent), so the count follows the waiting, not the cores: enough slots that
    each has ``SLOT_FILL`` of the longest test's worth of tests (or ``worker_min_work_s``,
    whichever is more), so the phase ends near its longest test even though tests at once
    slow each other a little and the longest-first fill is uneven; at most the phase's
    ``max_workers`` and the environment's ``max_workers``. Unknown durations (a first run):
    the phase's ``workers``. Where the tests spend CPU rather than wait, the forked workers'
    throttle keeps fewer of them at once (``forked.Throttle``)."""
    phase = config.phases[number]
    cap = phase.max_workers
    limit = config.environments[env].max_workers if env in config.environments else None
    if limit is not None:
        cap = min(cap, limit)
    if not durations:
        return min(phase.workers, cap) if cap else 0, "no earlier run in the store"
    total, longest = sum(durations), max(durations)
    wanted = math.ceil(total / max(SLOT_FILL * longest, config.worker_min_work_s))
    count = max(1, min(wanted, cap))
    why = f"last run: {total:.1f} s of tests, the longest {longest:.1f} s"
    return (count if count > 1 else 0), why


def _complete(path: Path, selected: Sequence[Selected], number: int, stop: str) -> PhaseRecords:
    """The phase's records, with one written for every selected test that has none (hung at
    the budget, stopped by a cancel, never started)."""
    found = read_records(path)
    unfinished = _unfinished(found, selected, number, stop)
    if not unfinished:
        return found
    writer = RecordWriter(path)
    try:
        for record in unfinished:
            writer.record(record)
    finally:
        writer.close()
    return dataclasses.replace(read_records(path), started_not_finished=found.started_not_finished)


@dataclasses.dataclass
class _Started:
    """A phase's pytest, launched and held before its first test until its go."""

    number: int
    process: subprocess.Popen[bytes]
    go_fd: int  # the runner's end of the go pipe
    launched_at: str
    last: LastRun | None = None  # read before the launch (a sharded phase needs it to split)


def _launch(config: Config, number: int, options: RunOptions) -> _Started:
    """Clears phase N's files of an earlier attempt and starts its pytest, which starts up and
    collects while the runner goes on (reading the run store, or running the phase before),
    then waits for its go."""
    part = options.part
    options.results_dir.mkdir(parents=True, exist_ok=True)
    for path in rundir.of_an_attempt(options.results_dir, number, part):
        path.unlink(missing_ok=True)  # a re-run replaces
    last = None
    if options.shard:  # every shard of the run splits by the same durations, before collection
        last = last_run(options, number)
        rundir.write_atomically(
            rundir.durations(options.results_dir, number),
            json.dumps(shard_durations(options, number, last)),
        )
    held, go_fd = os.pipe()
    launched_at = _now()
    try:
        process = subprocess.Popen(
            pytest_command(config, number, options, go_fd=held),
            cwd=options.root,
            start_new_session=True,
            env=_phase_environ(),
            pass_fds=(held,),
        )
    except BaseException:
        os.close(go_fd)
        raise
    finally:
        os.close(held)
    return _Started(number, process, go_fd, launched_at, last)


def _discard(started: _Started, options: RunOptions) -> None:
    """A phase started ahead that is not to run: no go (it ends without a test), then it is
    stopped and the files it wrote are removed (the phase is recorded as skipped instead)."""
    os.close(started.go_fd)  # no go: were the runner to die, pytest would end on its own
    with contextlib.suppress(ProcessLookupError):
        os.killpg(started.process.pid, signal.SIGKILL)  # it ran nothing: nothing to lose
    started.process.wait()
    for path in rundir.of_an_attempt(options.results_dir, started.number, options.part):
        path.unlink(missing_ok=True)


def run_phase(config: Config, number: int, options: RunOptions) -> GateResult:
    """Runs phase N (unless an earlier gate of this run failed) and writes its gate. Every
    selected test ends with a record: those that never finished are recorded as hung or not
    run, with the reason. SIGINT or SIGTERM (KeyboardInterrupt) stops pytest, records what it
    can, writes the gate, and is raised again."""
    return run_phases(config, [number], options, quiet=True)[0]


def _blocked(config: Config, number: int, options: RunOptions) -> GateResult | None:
    """The skipped gate of phase N when the gate before it in this run (or, in a sharded run,
    this shard's own gate of the phase before) was not met; None when it may run."""
    part = options.part
    for earlier in range(number - 1, 0, -1):
        previous = read_gate(options.results_dir, earlier) or read_gate(
            options.results_dir, earlier, part
        )
        if previous is not None:
            return None if previous.met else skipped_gate(number, config.phases[number], previous)
    return None


def _start_ahead(
    config: Config, number: int, following: int, options: RunOptions
) -> _Started | None:
    """Launches the phase after ``number`` to start up while it runs; None when that phase
    is blocked, or when it cannot be launched now (it is then launched after this one: a
    head start is worth less than the running phase)."""
    try:
        if _blocked(config, following, options) is not None:
            return None
        return _launch(config, following, options)
    except (OSError, CIToolsError) as exc:
        print(
            f"ci-tools: phase {following} could not start up ahead ({exc}); it starts after "
            f"phase {number}",
            file=sys.stderr,
            flush=True,
        )
        return None


def _run_phase(
    config: Config,
    started: _Started,
    options: RunOptions,
    following: int | None,
    held: list[_Started],
) -> tuple[GateResult, _Started | None]:
    """Gives the started phase its go and judges it; the phase after it (``following``) is
    launched as soon as this one has its go, so its start-up overlaps this phase's tests.
    Returns the gate and the phase started ahead (None when this gate is not met). ``held``:
    the phases launched and not yet given a go, which the caller discards if the run ends
    early; this phase leaves it with its go, the one started ahead joins it."""
    number = started.number
    phase = config.phases[number]
    part = options.part
    last = started.last or last_run(options, number)
    durations = last.durations
    if options.shard:
        durations = {n: durations[n] for n in shard_of(list(durations), durations, *options.shard)}
    workers, why = choose_workers(config, number, options.env, list(durations.values()))
    order = rundir.order(options.results_dir, number, part)
    if last.durations or last.failed:
        order.write_text("".join(f"{nodeid}\n" for nodeid in last.order()))
    mode = f"{workers} tests at once" if workers else "one test at a time"
    print(f"ci-tools: phase {number} runs {mode} ({why})", flush=True)
    started_at = _now()
    begun = time.monotonic()
    go.send(started.go_fd, go.Go(workers, str(order) if order.exists() else None))
    held.remove(started)
    ahead = None
    cancelled: BaseException | None
    try:
        if following is not None:
            ahead = _start_ahead(config, number, following, options)
            if ahead is not None:
                held.append(ahead)
    except KeyboardInterrupt as interrupt:  # cancelled while launching: judged as cancelled
        _interrupt(started.process, CANCEL_GRACE_S)
        returncode, stop, cancelled = started.process.returncode, "the run was cancelled", interrupt
    else:
        returncode, stop, cancelled = _wait(started.process, number, phase.budget_s)
    duration = time.monotonic() - begun
    empty_shard = options.shard is not None and returncode == NO_TESTS
    if not stop and returncode not in (0, 1) and not empty_shard:
        stop = f"pytest stopped early (exit {returncode})"
    elif not stop and options.exitfirst:
        stop = "the run stopped at the first failure (-x)"
    selected = read_selected(rundir.selected(options.results_dir, number, part))
    found = _complete(rundir.records(options.results_dir, number, part), selected, number, stop)
    gate = evaluate_gate(
        number,
        phase,
        config,
        found,
        started_at=started_at,
        launched_at=started.launched_at,
        duration_s=duration,
        budget_exhausted=stop.startswith("budget"),
        stopped=stop,
        quarantine=options.quarantine,
    )
    if empty_shard and not found.records and options.shard:
        gate = dataclasses.replace(
            gate,
            status="met",
            reason=f"shard {options.shard[0]} of {options.shard[1]} has no tests: the phase "
            "has fewer tests than shards",
        )
    elif returncode in (3, 4) and not found.records:  # pytest could not run at all
        gate = dataclasses.replace(
            gate, reason=f"pytest could not run (exit {returncode}); see its error above"
        )
    write_gate(options.results_dir, gate, part)
    if ahead is not None and (cancelled is not None or not gate.met):
        held.remove(ahead)
        _discard(ahead, options)
        ahead = None
    if cancelled is not None:
        raise cancelled
    return gate, ahead


def run_phases(
    config: Config, numbers: Sequence[int], options: RunOptions, *, quiet: bool = False
) -> list[GateResult]:
    """Runs the phases in order; after a missed gate the rest are recorded as skipped. Each
    phase's pytest is launched while the one before runs, and held until that one's gate is
    met (``ci_tools.go``). ``quiet``: no verdict line (``run_phase``)."""
    for number in numbers:
        _check_phase(config, number)
    results: list[GateResult] = []
    held: list[_Started] = []  # launched, no go yet: stopped, leaving nothing, if the run ends
    ahead: _Started | None = None
    try:
        for place, number in enumerate(numbers):
            following = numbers[place + 1] if place + 1 < len(numbers) else None
            skipped = _blocked(config, number, options)
            if skipped is not None:
                write_gate(options.results_dir, skipped, options.part)
                gate = skipped
            else:
                if ahead is None:
                    ahead = _launch(config, number, options)
                    held.append(ahead)
                gate, ahead = _run_phase(config, ahead, options, following, held)
            results.append(gate)
            if not quiet:
                print(verdict_line(gate), flush=True)
    finally:
        for started in held:
            _discard(started, options)
    return results


def verdict_line(gate: GateResult) -> str:
    """One line per phase: status, counts, duration, reason."""
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


def _check_phase(config: Config, number: int) -> None:
    if number not in config.phases:
        raise ConfigError(
            f"no phase {number}: [tool.ci_tools.phases] has {', '.join(map(str, config.phases))}"
        )


def merge_shards(
    config: Config,
    number: int,
    results_dir: Path,
    shards: int | None = None,
    quarantine: Quarantine = NO_QUARANTINE,
) -> GateResult:
    """Phase N's gate over all its shards: their records and selections become the phase's
    own files (``phaseN.*``, as an unsplit phase writes them), and the gate is judged over
    every selected test; a test selected and never finished is recorded as not run.
    ``shards``: how many were run (shard files of a higher index, left from another split,
    are not read); a shard that sent no records, or that never wrote its gate (cut off by a
    timeout or a cancel), makes the gate not met."""
    _check_phase(config, number)
    found_shards = [n for n in rundir.shards(results_dir, number) if shards is None or n <= shards]
    if not found_shards:
        raise CIToolsError(
            f"phase {number}: no shard records in {results_dir} (phase{number}.shardI.jsonl); "
            "run the shards first (ci-tools run --phase N --shard I/K)"
        )
    for name in (rundir.records, rundir.selected):
        merged = b"".join(
            name(results_dir, number, part).read_bytes()
            for part in found_shards
            if name(results_dir, number, part).exists()
        )
        name(results_dir, number).write_bytes(merged)
    by_shard = {part: read_gate(results_dir, number, part) for part in found_shards}
    gates = [g for g in by_shard.values() if g is not None]
    missing = sorted(set(range(1, (shards or 0) + 1)) - set(found_shards))
    unfinished = sorted(part for part, g in by_shard.items() if g is None)
    problems = []
    if missing:
        problems.append(f"shard {', '.join(map(str, missing))} of {shards} sent no records")
    if unfinished:
        problems.append(f"shard {', '.join(map(str, unfinished))} did not finish (no gate)")
    stopped = "; ".join(problems) or next((g.stopped for g in gates if g.stopped), "")
    selected = read_selected(rundir.selected(results_dir, number))
    found = _complete(rundir.records(results_dir, number), selected, number, stopped)
    gate = evaluate_gate(
        number,
        config.phases[number],
        config,
        found,
        started_at=min((g.started_at for g in gates if g.started_at), default=""),
        launched_at=min((g.launched_at for g in gates if g.launched_at), default=""),
        duration_s=max((g.duration_s for g in gates), default=0.0),
        budget_exhausted=any(g.budget_exhausted for g in gates),
        stopped=stopped,
        quarantine=quarantine,
    )
    if problems:
        gate = dataclasses.replace(gate, status="not_met", reason=stopped)
    write_gate(results_dir, gate)
    return gate
