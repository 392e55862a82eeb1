"""The plugin's command-line options (one table), the combinations it refuses, and what the
options say once read: whether the run records, its folder, this process's shard.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from ci_tools import rundir
from ci_tools._exceptions import ConfigError


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of the ``ci_tools`` group, as ``parser.addoption`` takes it."""

    names: tuple[str, ...]
    dest: str
    help: str
    metavar: str | None = None
    whole_number: bool = False  # type=int
    default: int | bool | None = None
    action: str | None = None

    def attrs(self) -> dict[str, Any]:
        """The keyword arguments of ``addoption`` (what is left unset is not passed)."""
        attrs: dict[str, Any] = {"dest": self.dest, "default": self.default, "help": self.help}
        if self.metavar is not None:
            attrs["metavar"] = self.metavar
        if self.whole_number:
            attrs["type"] = int
        if self.action is not None:
            attrs["action"] = self.action
        return attrs


OPTIONS = (
    Option(
        ("--env",),
        "ci_tools_env",
        "environment from [tool.ci_tools.environments] (default: its default_env)",
        metavar="NAME",
    ),
    Option(
        ("--phase",),
        "ci_tools_phase",
        "run only the tests marked phase(N) and record them as phase N",
        metavar="N",
        whole_number=True,
    ),
    Option(
        ("--priority",),
        "ci_tools_priority",
        "run only tests of these priorities",
        metavar="P1[,P2]",
    ),
    Option(
        ("--run-dir", "--results-dir"),
        "ci_tools_run_dir",
        "write one JSON record per test to the run's folder DIR (--results-dir, its old name, is "
        "kept for a release)",
        metavar="DIR",
    ),
    Option(
        ("--order",),
        "ci_tools_order",
        "a file of node ids (one a line) in the order to start them (the runner writes "
        "last run's failures first, then the longest first); the others follow as collected",
        metavar="FILE",
    ),
    Option(
        ("--shard",),
        "ci_tools_shard",
        "run only shard I of K of the selected tests (balanced by --shard-durations), writing "
        "the shard's own files (phaseN.shardI.*)",
        metavar="I/K",
    ),
    Option(
        ("--shard-durations",),
        "ci_tools_durations",
        "a JSON file of node id to seconds that --shard balances by (the runner writes it "
        "from the run store or the last run; without it the shards are balanced by count)",
        metavar="FILE",
    ),
    Option(
        ("--concurrency",),
        "ci_tools_concurrency",
        "run up to N tests at once, each in a process forked from this one (end-to-end "
        "tests mostly wait); needs --capture=sys (0 or 1: one at a time)",
        metavar="N",
        whole_number=True,
        default=0,
    ),
    Option(
        ("--no-throttle",),
        "ci_tools_no_throttle",
        "with --concurrency N: run N at once from the first test, whatever the CPU (a "
        "load of a known size); by default the count starts at the cores and grows while they "
        "have CPU to spare",
        default=False,
        action="store_true",
    ),
    Option(
        ("--memory-mb",),
        "ci_tools_memory_mb",
        "with --concurrency N: this pytest and its forked workers hold about M MiB at most: "
        "the count stops growing, and comes down, where the workers would pass it (0: no "
        "bound, the default; ci-tools run gives each phase its share of [tool.ci_tools] "
        "memory_mb)",
        metavar="M",
        whole_number=True,
        default=0,
    ),
    Option(
        ("--go-fd",),
        "ci_tools_go_fd",
        "collect, then wait for the runner's go on this file descriptor before the first "
        "test (its order and concurrency come with it; no go: no test runs); the runner starts "
        "a phase so while the phase before still runs. Needs --capture=sys",
        metavar="FD",
        whole_number=True,
    ),
    Option(
        ("--fail-fast-after",),
        "ci_tools_fail_fast_after",
        "after N failures naming the same broken part (e.g. the agent pipeline hangs), "
        "do not start, and stop, the tests that depend on it; they are recorded as not run "
        "(0: off, the default outside ci-tools run)",
        metavar="N",
        whole_number=True,
        default=0,
    ),
)


def add(parser: pytest.Parser) -> None:
    """Registers the ``ci_tools`` option group."""
    group = parser.getgroup("ci_tools", "ci_tools: phased end-to-end runs after a deploy")
    for option in OPTIONS:
        group.addoption(*option.names, **option.attrs())


def check(config: pytest.Config) -> None:
    """Refuses, in one line each, the options that cannot run: a bad ``--shard``,
    ``--no-throttle`` without tests at once, and what cannot run tests in forked workers."""
    shard_index(config)
    concurrency = config.getoption("ci_tools_concurrency")
    go_fd = config.getoption("ci_tools_go_fd")
    if config.getoption("ci_tools_no_throttle") and concurrency <= 1 and go_fd is None:
        raise pytest.UsageError(
            "--no-throttle needs --concurrency N (N > 1): it says how many run at once"
        )
    if (concurrency > 1 or go_fd is not None) and not hasattr(config, "workerinput"):
        _check_forked(config)


def _check_forked(config: pytest.Config) -> None:
    """Refuses combinations that cannot run tests at once in forked workers (held for a go,
    the concurrency comes with it: checked as for any count)."""
    if getattr(config.option, "numprocesses", None):  # pytest-xdist's -n
        raise pytest.UsageError(
            "--concurrency and pytest-xdist's -n both run tests at once: use one of them"
        )
    if config.getoption("capture") != "sys":
        raise pytest.UsageError(
            "--concurrency needs --capture=sys: tests forked from one process would share fd "
            "capture's files, and uncaptured output (-s) of tests run at once would interleave"
        )
    if not hasattr(os, "fork"):
        raise pytest.UsageError("--concurrency needs os.fork (Linux or macOS)")


def recording(config: pytest.Config) -> bool:
    """Whether the run records its tests: ``--phase`` or ``--run-dir`` was given."""
    return (
        config.getoption("ci_tools_phase") is not None
        or config.getoption("ci_tools_run_dir") is not None
    )


def phase(config: pytest.Config) -> int:
    """The phase recorded (``--phase``), 0 when none was given."""
    number: int = config.getoption("ci_tools_phase") or 0
    return number


def run_dir(config: pytest.Config) -> Path:
    """Where this run's files go: ``--run-dir``, or ``reports/adhoc``."""
    return Path(config.getoption("ci_tools_run_dir") or rundir.ADHOC)


def shard_index(config: pytest.Config) -> int | None:
    """This process's shard (``--shard I/K``): I, or None when the phase is not split."""
    spec = config.getoption("ci_tools_shard")
    if spec is None:
        return None
    from ci_tools import shard  # noqa: PLC0415 - only a split run loads it

    try:
        return shard.parse(spec)[0]
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
