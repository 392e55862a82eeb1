"""The plugin's ``pytest11`` entry point: its hooks, which wire the modules of
``ci_tools.plugin`` into pytest, and its fixtures, imported here for pytest to find.

Registered on the controller only: the recorder (under pytest-xdist the controller sees every
worker's reports) and the forked workers' pool; in every process that runs tests, the
fail-fast guard and the serial tests' turns.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import pytest

from ci_tools import rundir
from ci_tools.go import MIB
from ci_tools.plugin import failfast, fixtures, options, protocol, selection
from ci_tools.plugin.fixtures import (
    ci_config,
    ci_env_name,
    ci_ssl_context,
    ci_urls,
    criterion,
    http,
    trace_id,
    ws_connect,
)
from ci_tools.plugin.recorder import RECORDER, Recorder
from ci_tools.records import RecordWriter

__all__ = [
    "ci_config",
    "ci_env_name",
    "ci_ssl_context",
    "ci_urls",
    "criterion",
    "http",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_sessionstart",
    "pytest_unconfigure",
    "trace_id",
    "ws_connect",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Registers the ``ci_tools`` option group."""
    options.add(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Registers the markers; with tests at once, the forked workers' pool; on the controller
    of a recorded run, the recorder."""
    for line in selection.MARKERS:
        config.addinivalue_line("markers", line)
    options.check(config)  # a bad option stops here, in one line
    concurrency = config.getoption("ci_tools_concurrency")
    go_fd = config.getoption("ci_tools_go_fd")
    if (concurrency > 1 or go_fd is not None) and not hasattr(config, "workerinput"):
        _fork_pool(config, concurrency, go_fd)
    if options.recording(config) and not hasattr(config, "workerinput"):
        _record(config)


def _fork_pool(config: pytest.Config, concurrency: int, go_fd: int | None) -> None:
    """Registers the pool of forked workers (held for a go, the concurrency comes with it:
    the pool is there for any count)."""
    from ci_tools.plugin import pool, throttle  # noqa: PLC0415 - only runs at once load them

    forks = pool.ForkPool(
        config,
        concurrency,
        before_fork=lambda: fixtures.before_fork(config),
        after_fork=lambda: failfast.after_fork(config),
        quiet=("ci_tools_recorder",),
        alone=lambda item: item.get_closest_marker("serial") is not None,
        throttle=throttle.unthrottled if config.getoption("ci_tools_no_throttle") else None,
        turned_away=failfast.turned_away(config),
    )
    forks.memory = config.getoption("ci_tools_memory_mb") * MIB
    config.pluginmanager.register(forks, "ci_tools_pool")
    if go_fd is not None:
        from ci_tools.plugin.held import HeldForGo  # noqa: PLC0415 - only a held run loads it

        config.pluginmanager.register(HeldForGo(go_fd, forks), "ci_tools_held")


def _record(config: pytest.Config) -> None:
    """Registers the recorder, writing into the run's folder (a module that cannot be
    collected is recorded too: its ``pytest_collectreport``)."""
    run_dir, phase, shard_index = (
        options.run_dir(config),
        options.phase(config),
        options.shard_index(config),
    )
    after = config.getoption("ci_tools_fail_fast_after")
    trips = rundir.trips(run_dir, phase, shard_index)
    if after > 0:
        trips.unlink(missing_ok=True)  # a phase re-run starts with every part trusted
    recorder = Recorder(
        RecordWriter(rundir.records(run_dir, phase, shard_index)),
        phase,
        failfast.rule_state(after, config),
        trips,
        rundir.selected(run_dir, phase, shard_index),
        rootdir=config.rootpath,
        invocation_dir=config.invocation_params.dir,
    )
    config.stash[RECORDER] = recorder
    config.pluginmanager.register(recorder, "ci_tools_recorder")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """In every process that runs tests of a fail-fast run, the guard that skips or stops the
    tests of a part declared broken."""
    config = session.config
    if not options.recording(config) or config.getoption("ci_tools_fail_fast_after") <= 0:
        return
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("dsession"):
        trips = rundir.trips(
            options.run_dir(config), options.phase(config), options.shard_index(config)
        )
        guard = failfast.FailFastGuard(trips)
        config.stash[failfast.GUARD] = guard
        config.pluginmanager.register(guard, "ci_tools_failfast_guard")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps the tests of ``--phase``/``--priority`` and of this shard, each with its
    metadata. When this process records and runs its tests itself, its recorder is given them
    through ``RecordingProtocol`` (none of them ``flaky``: pytest-rerunfailures repeats
    those)."""
    if not selection.phased(config):
        return  # not a phased run: leave the tests alone and cost nothing
    if not selection.select(config, items):
        protocol.take_over(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Flushes and unregisters the recorder, the guard, the serial turns and the pool."""
    recorder = config.stash.get(RECORDER, None)
    if recorder is not None:
        recorder.finish_all()
        recorder.writer.close()
        config.pluginmanager.unregister(name="ci_tools_recorder")
        del config.stash[RECORDER]
    guard = config.stash.get(failfast.GUARD, None)
    if guard is not None:
        guard.close()
        config.pluginmanager.unregister(guard)
        del config.stash[failfast.GUARD]
    for name in ("ci_tools_serial_turns", "ci_tools_pool", "ci_tools_sender", "ci_tools_held"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)
