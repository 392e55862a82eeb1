"""What a run asks for (``RunOptions``) and the pytest command line of one of its phases."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from ci_tools import rundir
from ci_tools._exceptions import ConfigError
from ci_tools.config import Config
from ci_tools.quarantine import NONE as NO_QUARANTINE
from ci_tools.quarantine import Quarantine

NO_TESTS = 5  # pytest's exit code when it selected no test (a shard past the phase's tests)
# ... when a test failed, or (collection errors going on) a module could not be collected
FAILED = 1


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What to run and where its files go."""

    root: Path  # the project root (where pyproject.toml is)
    run_dir: Path  # this run's folder: reports/<run-id>
    env: str
    pytest_args: tuple[str, ...] = ()
    timeout_s: float | None = None  # per-test timeout; default from config
    priority: str | None = None  # e.g. "P1": only those tests
    exitfirst: bool = False
    quarantine: Quarantine = NO_QUARANTINE  # tests whose results do not count for the gate
    history_url: str | None = None  # the run store: a phase's order and workers from its last run
    shard: tuple[int, int] | None = None  # (I, K): run only shard I of K of each phase
    experiment: bool = True  # failures re-run on the baseline and the candidate (if config says)

    @property
    def shard_index(self) -> int | None:
        """This run's shard index (its files are ``phaseN.shardI.*``), or None unsplit."""
        return self.shard[0] if self.shard else None


def check_phase(config: Config, number: int) -> None:
    """Stops with a config error when the project has no phase ``number``."""
    if number not in config.phases:
        raise ConfigError(
            f"no phase {number}: [tool.ci_tools.phases] has {', '.join(map(str, config.phases))}"
        )


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
    return [
        *_base(config, number, options),
        *(["-m", phase.markers] if phase.markers else []),
        *_at_once(phase.workers if workers is None else workers, go_fd),
        *_selection(config, options),
        *_order_and_shard(number, options, go_fd),
        *_retries(config),
        *options.pytest_args,
    ]


# The plugins every phase's pytest goes without: the cache (a run records its own), and
# Hypothesis's plugin, which imports all of Hypothesis at every session's end (0.7 s of CPU:
# hypothesis 6.170), and anyio's, 0.2 s at every process's start; no e2e test uses either.
WITHOUT_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio")


def _base(config: Config, number: int, options: RunOptions) -> list[str]:
    """What every phase's pytest is given: its tests, its phase, where it writes, its timeout,
    the plugins it goes without, and that a module which cannot be collected stops nothing."""
    phase = config.phases[number]
    return [
        sys.executable,
        "-m",
        "pytest",
        *phase.paths,
        *_recorded(config, number, options, options.run_dir),
        # A module that cannot be imported is one error (the plugin records it), not the end
        # of the phase: without this pytest stops at collection and no test of it runs.
        "--continue-on-collection-errors",
    ]


def _recorded(config: Config, number: int, options: RunOptions, run_dir: Path) -> list[str]:
    """How a pytest of phase N records into ``run_dir``: its phase, environment, timeout,
    the plugins it goes without."""
    phase = config.phases[number]
    timeout = options.timeout_s or phase.timeout_s or config.test_timeout_s
    return [
        "--phase",
        str(number),
        "--env",
        options.env,
        "--run-dir",
        str(run_dir),
        "--timeout",
        f"{timeout:g}",
        *WITHOUT_PLUGINS,
        "-q",
        "-rfE",
    ]


def rerun_command(
    config: Config, number: int, options: RunOptions, nodeids: Sequence[str], run_dir: Path
) -> list[str]:
    """The pytest command line that runs the failures ``nodeids`` of phase N again, all at
    once, recorded in ``run_dir`` (one arm of the experiment): no fail-fast, no retries, no
    order (each test's own outcome is the answer). All at once, not as the throttle would
    grow them: on busy cores a throttled re-run starts hung tests a few at a time, and the
    experiment would wait out one hang after another."""
    at_once = ["--concurrency", str(len(nodeids)), "--no-throttle"] if len(nodeids) > 1 else []
    return [
        sys.executable,
        "-m",
        "pytest",
        *nodeids,
        *_recorded(config, number, options, run_dir),
        *at_once,
        "--capture=sys",
    ]


def _at_once(workers: int, go_fd: int | None) -> list[str]:
    """How many tests run at once: given by the go when there is one, else ``workers``."""
    if go_fd is not None:  # the go may bring any count: sys capture, as below
        return ["--go-fd", str(go_fd), "--capture=sys"]
    if workers > 1:  # sys capture: forked tests would share fd capture's files
        return ["--concurrency", str(workers), "--capture=sys"]
    return []


def _selection(config: Config, options: RunOptions) -> list[str]:
    """Which tests run, and when the phase stops early: a priority, ``-x``, fail-fast."""
    args = ["--priority", options.priority] if options.priority else []
    if options.exitfirst:
        args.append("-x")
    if config.failfast.enabled:
        args += ["--fail-fast-after", str(config.failfast.after)]
    return args


def _order_and_shard(number: int, options: RunOptions, go_fd: int | None) -> list[str]:
    """The order to start the tests in (a go brings its own), and the run's shard with the
    durations it is split by."""
    args: list[str] = []
    order = rundir.order(options.run_dir, number, options.shard_index)
    if order.exists() and go_fd is None:
        args += ["--order", str(order)]
    if options.shard:
        args += ["--shard", f"{options.shard[0]}/{options.shard[1]}"]
        durations = rundir.durations(options.run_dir, number)
        if durations.exists():
            args += ["--shard-durations", str(durations)]
    return args


def _retries(config: Config) -> list[str]:
    """pytest-rerunfailures' options: transient failures are run again."""
    if not (config.retries.max and config.retries.transient):
        return []
    args = ["--reruns", str(config.retries.max)]
    for pattern in config.retries.transient:
        args += ["--only-rerun", pattern]
    return args
