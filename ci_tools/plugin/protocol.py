"""Where pytest runs its tests itself, one after another, the recorder records from the reports
of pytest's own protocol, run by the plugin, instead of listening to four log hooks a test.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import time

import pytest
from _pytest.runner import runtestprotocol

from ci_tools.plugin.recorder import RECORDER, Recorder
from ci_tools.records import timestamp


class RecordingProtocol:
    """The recorder of a process that runs its own tests one after another, through pytest's
    own protocol alone (no forked workers, no xdist, no plugin running a test its own way):
    runs that protocol for each test and records from the reports it returns, in place of the
    recorder's four log hooks a test (on 2,000 trivial tests with pytest-rerunfailures
    installed, as it always is beside ci_tools, recording went from 1.039 to 1.015 of plain
    pytest's instructions)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """What ``_pytest.runner.pytest_runtest_protocol`` does, with the test's start
        written before ``logstart`` and its record after its last report."""
        ihook, nodeid, location = item.ihook, item.nodeid, item.location
        recorder = self.recorder
        recorder.writer.start(nodeid, timestamp(time.time()))
        ihook.pytest_runtest_logstart(nodeid=nodeid, location=location)
        reports = runtestprotocol(item, nextitem=nextitem)
        if not recorder.write_passed(nodeid, reports):
            recorder.written(recorder.build(reports))
        ihook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
        return True


def take_over(config: pytest.Config) -> None:
    """Where this process records and runs its tests itself, each through pytest's own
    protocol, its recorder is given them through ``RecordingProtocol`` (the caller checks
    that no test is marked ``flaky``: pytest-rerunfailures repeats those)."""
    recorder = config.stash.get(RECORDER, None)
    if recorder is not None and _runs_own_tests(config):
        config.pluginmanager.unregister(name="ci_tools_recorder")
        config.pluginmanager.register(RecordingProtocol(recorder), "ci_tools_recorder")


def _runs_own_tests(config: pytest.Config) -> bool:
    """Whether this process runs its tests itself, each through pytest's own protocol: no
    forked workers or xdist, and no other plugin's protocol but wrappers and
    pytest-rerunfailures' when it repeats nothing (no retries asked for here; the caller
    checks that no test is marked ``flaky``)."""
    manager = config.pluginmanager
    if manager.has_plugin("dsession") or manager.has_plugin("ci_tools_pool"):
        return False
    runner, reruns = manager.get_plugin("runner"), manager.get_plugin("rerunfailures")
    if reruns is not None and _reruns_asked(config):
        return False
    return all(
        impl.wrapper or impl.hookwrapper or impl.plugin in (runner, reruns)
        for impl in manager.hook.pytest_runtest_protocol.get_hookimpls()
    )


def _reruns_asked(config: pytest.Config) -> bool:
    """Whether pytest-rerunfailures was given a count for every test (its options or ini)."""
    if config.getoption("force_reruns", None) is not None:
        return True
    if config.getoption("reruns", None) is not None:
        return True
    try:
        return bool(str(config.getini("reruns")).strip())
    except ValueError:  # no such ini key: an older pytest-rerunfailures
        return False
