"""Runs phases as pytest subprocesses under their budgets, then judges their gates.

Each phase is one ``pytest`` process writing its records through the plugin; its tests run as
many at once as their waiting needs, each in a process forked from the phase's (``--concurrency``,
see ``ci_tools.plugin.pool``). The runner holds the phase's time budget from outside: when it
runs out, pytest is interrupted, then killed, and the tests that started and never ended are
recorded as hung, so the report stage still gets everything. A phase whose predecessor in the
same run missed its gate is not run; it is recorded as skipped with the reason.

After the last gate, the failures of the phases that ran are re-run on the baseline revision
and the candidate at once (``ci_tools.runner.experiment``), recorded beside the phases' files.

Each phase's pytest is launched while the phase before runs (started ahead) and waits, once
collected, for its go (``ci_tools.go``); a phase that is not to run after all is discarded,
leaving no file behind. What happens is told to the caller's ``Progress``: nothing is printed.
pytest's own output goes to the run directory (``phaseN.log``); while a phase runs, the
caller hears where it is from its records file as it grows (``ci_tools.runner.watch``), and
after its gate, its first failure (``ci_tools.runner.excerpt``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ci_tools import forking, go, rundir
from ci_tools._exceptions import CIToolsError
from ci_tools.config import Config
from ci_tools.phases import GateResult, evaluate_gate, skipped_gate
from ci_tools.records import Selected, now
from ci_tools.rundir import read, write
from ci_tools.runner import experiment, process
from ci_tools.runner.command import FAILED, NO_TESTS, RunOptions, check_phase, pytest_command
from ci_tools.runner.excerpt import first_failure, output_tail
from ci_tools.runner.experiment import run_experiment
from ci_tools.runner.progress import SILENT, Excerpt, Progress
from ci_tools.runner.schedule import (
    LastRun,
    choose_workers,
    concurrency_cap,
    last_run,
    memory_share,
    shard_durations,
)
from ci_tools.runner.unfinished import complete
from ci_tools.runner.watch import Watch
from ci_tools.shard import of as shard_of

PROGRESS_EVERY_S = 0.5  # how often a running phase's records are read for its progress


@dataclasses.dataclass(frozen=True)
class _Started:
    """A phase's pytest, launched and held before its first test until its go."""

    number: int
    pytest: process.Pytest
    go_fd: int  # the runner's end of the go pipe
    launched_at: str
    last: LastRun | None = None  # read before the launch (a sharded phase needs it to split)


@dataclasses.dataclass(frozen=True)
class _Ended:
    """How a phase's pytest ended once it had its go."""

    returncode: int | None
    stop: str  # why it was stopped before its end ("" when it ended by itself)
    cancelled: BaseException | None  # the cancel (SIGINT/SIGTERM) to raise again
    started_at: str  # when it was given its go
    duration_s: float


def run_phases(
    config: Config, numbers: Sequence[int], options: RunOptions, progress: Progress = SILENT
) -> list[GateResult]:
    """Runs the phases in order; after a missed gate the rest are recorded as skipped. Each
    phase's pytest is launched while the one before runs, and held until that one's gate is
    met (``ci_tools.go``). ``progress`` is told each go, each note and each gate."""
    for number in numbers:
        check_phase(config, number)
    results: list[GateResult] = []
    held: list[_Started] = []  # launched, no go yet: stopped, leaving nothing, if the run ends
    ahead: _Started | None = None
    try:
        for place, number in enumerate(numbers):
            following = numbers[place + 1] if place + 1 < len(numbers) else None
            skipped = _blocked(config, number, options)
            excerpt: Excerpt | None = None
            if skipped is not None:
                write.gate(options.run_dir, skipped, options.shard_index)
                gate = skipped
            else:
                if ahead is None:
                    ahead = _launch(config, number, options, held)
                gate, ahead, excerpt = _run_phase(
                    config, ahead, options, following, held=held, progress=progress
                )
            results.append(gate)
            progress.gate_judged(gate)
            if excerpt is not None:
                progress.excerpt(excerpt)
        run_experiment(config, results, options, progress)
    finally:
        with forking.held_back():  # a second signal (SIGTERM after SIGINT) ends no discard
            while held:
                _discard(held[-1], options, held)
    return results


def run_phase(
    config: Config, number: int, options: RunOptions, progress: Progress = SILENT
) -> GateResult:
    """Runs phase N (unless an earlier gate of this run failed) and writes its gate. Every
    selected test ends with a record: those that never finished are recorded as hung or not
    run, with the reason. SIGINT or SIGTERM (KeyboardInterrupt) stops pytest, records what it
    can, writes the gate, and is raised again."""
    return run_phases(config, [number], options, progress)[0]


def collect(config: Config, number: int, options: RunOptions) -> list[Selected]:
    """The tests phase N selects, in collection order (pytest's own collection, through
    the plugin's selection file). A module that cannot be collected leaves its tests out (the
    phase's run records its error); a collection that fails as a whole (a bad option, a
    broken conftest) raises."""
    with tempfile.TemporaryDirectory(prefix="ci-tools-collect-") as folder:
        scratch = dataclasses.replace(options, run_dir=Path(folder), shard=None)
        command = [*pytest_command(config, number, scratch, workers=0), "--collect-only"]
        done = process.run(command, options.root)
        selected = read.selected(Path(folder), number)
    if done.returncode not in (0, FAILED, NO_TESTS):
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
        raise CIToolsError(f"phase {number}: collection failed (exit {done.returncode}): {tail[0]}")
    return list(selected)


def _blocked(config: Config, number: int, options: RunOptions) -> GateResult | None:
    """The skipped gate of phase N when the gate before it in this run (or, in a sharded run,
    this shard's own gate of the phase before) was not met; None when it may run."""
    for earlier in range(number - 1, 0, -1):
        previous = read.gate(options.run_dir, earlier) or read.gate(
            options.run_dir, earlier, options.shard_index
        )
        if previous is not None:
            return None if previous.met else skipped_gate(number, config.phases[number], previous)
    return None


def _launch(config: Config, number: int, options: RunOptions, held: list[_Started]) -> _Started:
    """Clears phase N's files of an earlier attempt and starts its pytest, which starts up and
    collects while the runner goes on (reading the run store, or running the phase before),
    then waits for its go. It joins ``held`` as it is made: when it is forked, before a cancel
    can come between (``process.launch``), so the run's end discards it, whenever the
    cancel came."""
    options.run_dir.mkdir(parents=True, exist_ok=True)
    for path in rundir.of_an_attempt(options.run_dir, number, options.shard_index):
        path.unlink(missing_ok=True)  # a re-run replaces
    experiment.clear(options, number)
    last = None
    if options.shard:  # every shard of the run splits by the same durations, before collection
        last = last_run(options, number)
        rundir.write_atomically(
            rundir.durations(options.run_dir, number),
            json.dumps(shard_durations(options, number, last)),
        )
    launched_at = now()
    process.launch(
        lambda fd: pytest_command(config, number, options, go_fd=fd),
        options.root,
        rundir.output(options.run_dir, number, options.shard_index),
        adopt=lambda pytest, go_fd: held.append(_Started(number, pytest, go_fd, launched_at, last)),
    )
    return held[-1]  # adopted last


def _discard(started: _Started, options: RunOptions, held: list[_Started]) -> None:
    """A phase started ahead that is not to run leaves ``held``, gets no go (it ends without
    a test), is stopped and the files it wrote are removed (the phase is recorded as skipped
    instead): one step for a cancel, which would otherwise find it discarded but still held
    (and discard it again), or out of ``held`` and still running."""
    with forking.held_back():
        held.remove(started)
        process.cancel(started.pytest, started.go_fd)
        for path in rundir.of_an_attempt(options.run_dir, started.number, options.shard_index):
            path.unlink(missing_ok=True)


def _start_ahead(
    config: Config,
    number: int,
    following: int,
    options: RunOptions,
    *,
    held: list[_Started],
    progress: Progress,
) -> _Started | None:
    """Launches the phase after ``number`` to start up while it runs, into ``held``; None
    when that phase is blocked, or when it cannot be launched now (it is then launched after
    this one: a head start is worth less than the running phase)."""
    try:
        if _blocked(config, following, options) is not None:
            return None
        return _launch(config, following, options, held)
    except (OSError, CIToolsError) as exc:
        progress.note(
            f"phase {following} could not start up ahead ({exc}); it starts after phase {number}"
        )
        return None


def _run_phase(
    config: Config,
    started: _Started,
    options: RunOptions,
    following: int | None,
    *,
    held: list[_Started],
    progress: Progress,
) -> tuple[GateResult, _Started | None, Excerpt | None]:
    """Gives the started phase its go and judges it; the phase after it (``following``) is
    launched as soon as this one has its go, so its start-up overlaps this phase's tests.
    Returns the gate, the phase started ahead (None when this gate is not met) and what to
    read first of the phase when it went wrong. ``held``: the phases launched and not yet
    given a go, which the caller discards if the run ends early; this phase leaves it with
    its go, the one started ahead joins it."""
    ended, ahead = _go_and_wait(config, started, options, following, held=held, progress=progress)
    gate = _judge(config, started, options, ended)
    write.gate(options.run_dir, gate, options.shard_index)
    excerpt = _excerpt(started.number, options, ended, gate)
    if ahead is not None and (ended.cancelled is not None or not gate.met):
        _discard(ahead, options, held)
        ahead = None
    if ended.cancelled is not None:
        raise ended.cancelled
    return gate, ahead, excerpt


def _excerpt(number: int, options: RunOptions, ended: _Ended, gate: GateResult) -> Excerpt | None:
    """The phase's first failure, from its records; else, when its pytest ended on its own
    without running its tests through (it could not start, it stopped early), the end of its
    output; None for a phase that went well."""
    output = rundir.output(options.run_dir, number, options.shard_index)
    found = read.records(options.run_dir, number, options.shard_index).records
    first = first_failure(found, number, output)
    if first is not None:
        return first
    if not ended.stop and ended.returncode not in (0, FAILED, NO_TESTS):
        heading = gate.reason or f"pytest ended with exit {ended.returncode}"
        return output_tail(number, heading, output)
    return None


def _go_and_wait(
    config: Config,
    started: _Started,
    options: RunOptions,
    following: int | None,
    *,
    held: list[_Started],
    progress: Progress,
) -> tuple[_Ended, _Started | None]:
    """Gives the started phase its go, launches the one after it (``following``) ahead, and
    waits for the phase's end within its budget: how it ended, and the phase started ahead."""
    number = started.number
    decided, why = _decide(config, started, options, ahead=following is not None)
    progress.phase_started(number, decided.concurrency, why)
    started_at = now()
    begun = time.monotonic()
    ahead = None
    cancelled: BaseException | None
    try:
        # Its go and its leaving ``held`` are one step for a cancel: a phase with its go is
        # stopped and judged, one without is discarded, never both.
        with forking.held_back():
            go.send(started.go_fd, decided)
            held.remove(started)
        if following is not None:
            ahead = _start_ahead(config, number, following, options, held=held, progress=progress)
        watch = Watch(options.run_dir, number, options.shard_index)
        budget_s = config.phases[number].budget_s
    except KeyboardInterrupt as interrupt:  # cancelled while launching: judged as cancelled
        process.stop(started.pytest, process.CANCEL_GRACE_S)
        returncode, stop, cancelled = started.pytest.returncode, "the run was cancelled", interrupt
    else:
        returncode, stop, cancelled = _wait(started, budget_s, watch, progress)
    duration = time.monotonic() - begun
    return _Ended(returncode, stop, cancelled, started_at, duration), ahead


def _decide(
    config: Config, started: _Started, options: RunOptions, *, ahead: bool
) -> tuple[go.Go, str]:
    """The phase's go: at most how many tests at once (its cap), how many to start with and
    the order to start them in, both from its last run (the order written to the order file),
    and why. History only seeds the count: a run slower than its last (a slow database, a
    hung part) grows it while its tests wait with the CPU idle."""
    number = started.number
    last = started.last or last_run(options, number)
    durations = last.durations
    if options.shard:
        durations = {n: durations[n] for n in shard_of(list(durations), durations, *options.shard)}
    seed, why = choose_workers(config, number, options.env, list(durations.values()))
    cap = concurrency_cap(config, number, options.env)
    order = rundir.order(options.run_dir, number, options.shard_index)
    if last.durations or last.failed:
        rundir.write_atomically(order, "".join(f"{nodeid}\n" for nodeid in last.order()))
    if cap <= 1:
        return go.Go(0, str(order) if order.exists() else None), why
    start = max(seed, 1)
    why = f"from {min(start, len(go.cores()))} while they wait: {why}"
    memory = memory_share(config, started.pytest.pid, ahead=ahead)
    if memory:
        why += f"; its workers within {memory:,} MiB"
    return go.Go(cap, str(order) if order.exists() else None, start, memory), why


def _wait(
    started: _Started, budget_s: float, watch: Watch, progress: Progress
) -> tuple[int | None, str, BaseException | None]:
    """Waits for the phase's pytest within its budget, telling ``progress`` where the phase
    is every ``PROGRESS_EVERY_S`` (from its records, through ``watch``): its exit code, why it
    was stopped ("" when it ended by itself), and the cancel (SIGINT/SIGTERM) to raise again."""
    try:
        deadline = time.monotonic() + budget_s
        while (left := deadline - time.monotonic()) > 0:
            try:  # the wait returns as soon as pytest ends, whatever the tick
                return process.wait(started.pytest, min(left, PROGRESS_EVERY_S)), "", None
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):  # an unreadable file costs a line, not the run
                    progress.tests_running(watch.tally())
        progress.note(f"phase {started.number} budget of {budget_s:g} s ran out; stopping it")
        process.stop(started.pytest)
        return started.pytest.returncode, f"budget of {budget_s:g} s ran out", None
    except KeyboardInterrupt as interrupt:  # SIGINT, or SIGTERM turned into one by the CLI
        process.stop(started.pytest, process.CANCEL_GRACE_S)
        return started.pytest.returncode, "the run was cancelled", interrupt


def _judge(config: Config, started: _Started, options: RunOptions, ended: _Ended) -> GateResult:
    """The phase's gate from its records, one written first for every selected test that has
    none; an empty shard meets its gate, a pytest that could not run at all says so."""
    number, returncode, stop = started.number, ended.returncode, ended.stop
    empty_shard = options.shard is not None and returncode == NO_TESTS
    if not stop and returncode not in (0, 1) and not empty_shard:
        stop = f"pytest stopped early (exit {returncode})"
    elif not stop and options.exitfirst:
        stop = "the run stopped at the first failure (-x)"
    index = options.shard_index
    found = complete(options.run_dir, number, index, stop)
    gate = evaluate_gate(
        number,
        config.phases[number],
        config,
        found,
        started_at=ended.started_at,
        launched_at=started.launched_at,
        duration_s=ended.duration_s,
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
            gate,
            reason=f"pytest could not run (exit {returncode}); its error is at the end of "
            f"{rundir.output(options.run_dir, number, index).name}",
        )
    return gate
