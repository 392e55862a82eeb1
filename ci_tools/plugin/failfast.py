"""Fail fast by cause, in the test processes: the trips the recorder publishes (a part declared
broken after repeated failures naming it), and the guard in every process that runs tests,
which does not start a test of a broken part and stops one already waiting on it.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ci_tools import rundir
from ci_tools.plugin import keys
from ci_tools.plugin.selection import meta

if TYPE_CHECKING:
    from ci_tools.rules import FailFast, Rule, Trip

WATCH_INTERVAL_S = 0.2  # how often a running test's process looks for a new fail-fast trip


def rule_state(after: int, config: pytest.Config) -> FailFast | None:
    """Fail-fast's rule state, once ``after`` failures of one cause declare a part broken;
    failures are matched against the project's rule table (``[tool.ci_tools.rules]``)."""
    if after <= 0:
        return None
    from ci_tools.rules import FailFast  # noqa: PLC0415 - only a fail-fast run needs them

    return FailFast(after, project_rules(config))


def project_rules(config: pytest.Config) -> tuple[Rule, ...]:
    """The rule table of the project pytest runs in: the built-ins, unless its pyproject.toml
    has ``[tool.ci_tools.rules]``; only then is the whole configuration loaded (pydantic),
    and a bad rule stops the run as a usage error in one line. Read once a process (fail-fast
    and the tests at once both ask)."""
    if RULES_TABLE not in config.stash:
        config.stash[RULES_TABLE] = _read_rules(config)
    return config.stash[RULES_TABLE]


def _read_rules(config: pytest.Config) -> tuple[Rule, ...]:
    import tomllib  # noqa: PLC0415 - only a fail-fast run reads the project's rules

    from ci_tools.rules import RULES  # noqa: PLC0415 - see above

    path = config.rootpath / "pyproject.toml"
    if not path.exists():
        return RULES  # no project (a pytester run): the built-ins
    try:
        tool: dict[str, Any] | None = tomllib.loads(path.read_text()).get("tool", {})
    except tomllib.TOMLDecodeError:
        tool = None  # the configuration's loader says what is wrong, in one line
    if tool is not None and "rules" not in tool.get("ci_tools", {}):
        return RULES
    from ci_tools.plugin.fixtures import project_config  # noqa: PLC0415 - loads pydantic

    return project_config(config).rules_table


def turned_away(config: pytest.Config) -> Callable[[str], bool]:
    """Whether a failure's line names a rule of the project's table that says the platform
    turned the request away (``pressure``: a 429, a 503): tests at once come down on it."""
    from ci_tools.rules import match  # noqa: PLC0415 - only runs at once ask

    rules = project_rules(config)

    def said(text: str) -> bool:
        found = match(text, rules)
        return found is not None and found.rule.pressure

    return said


def publish_trips(path: Path, trips: list[Trip]) -> None:
    """Writes the trips for every test process to see (atomically: they poll the file)."""
    fields = ("rule", "title", "areas", "failures", "example")
    rundir.write_atomically(path, json.dumps([{f: getattr(t, f) for f in fields} for t in trips]))


def read_trips(path: Path) -> list[Trip]:
    """The trips published so far; none when the file is absent or half-written."""
    from ci_tools import rules  # noqa: PLC0415 - only a fail-fast run reads trips

    try:
        data = json.loads(path.read_text())
        return [
            rules.Trip(d["rule"], d["title"], tuple(d["areas"]), d["failures"], d["example"])
            for d in data
        ]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return []


def after_fork(config: pytest.Config) -> None:
    """In a test's forked child: the fail-fast guard watches again (threads do not survive a
    fork)."""
    guard = config.stash.get(GUARD, None)
    if guard is not None:
        guard.after_fork()


class FailFastStopped(BaseException):
    """Raised inside a running test whose part was declared broken: it is recorded as not
    run. A BaseException, so that a test's own ``except Exception`` does not swallow it."""


class FailFastGuard:
    """In each test process: does not start a test whose areas depend on a broken part, and
    stops (by a signal to the main thread) one that is waiting on it when the part trips."""

    def __init__(self, trips_path: Path) -> None:
        self.trips_path = trips_path
        self._mtime = 0.0
        self._trips: list[Trip] = []
        self._current: pytest.Item | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._previous = signal.signal(signal.SIGUSR1, self._stop_current)
        self._watcher = self._start_watcher()

    def _start_watcher(self) -> threading.Thread:
        watcher = threading.Thread(target=self._watch, name="ci-tools-failfast", daemon=True)
        watcher.start()
        return watcher

    def after_fork(self) -> None:
        """In a forked child: fresh lock and event (the parent's may have been held), and a
        watcher of its own."""
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._current = None
        self._watcher = self._start_watcher()

    def trips(self) -> list[Trip]:
        """The trips as the file says now (read again only when it changed)."""
        try:
            mtime = self.trips_path.stat().st_mtime
        except FileNotFoundError:
            return self._trips
        if mtime != self._mtime:
            self._mtime, self._trips = mtime, read_trips(self.trips_path)
        return self._trips

    def _stopping(self, item: pytest.Item) -> Trip | None:
        areas = meta(item).get("areas", ())
        return next((trip for trip in self.trips() if trip.stops(areas)), None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """A test of a broken part is not started."""
        trip = self._stopping(item)
        if trip is not None:
            item.user_properties.append((keys.NOT_RUN, trip.reason))
            pytest.skip(trip.reason)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """Marks the test as stoppable while its body runs."""
        with self._lock:
            self._current = item
        try:
            return (yield)
        finally:
            with self._lock:
                self._current = None

    def _watch(self) -> None:
        while not self._done.wait(WATCH_INTERVAL_S):
            with self._lock:
                item = self._current
            if item is not None and self._stopping(item) is not None:
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    def _stop_current(self, signum: int, frame: object) -> None:
        with self._lock:
            item = self._current
        if item is None:
            return  # it finished in the meantime
        trip = self._stopping(item)
        if trip is None:
            return
        reason = trip.reason.replace("not run:", "stopped while waiting:", 1)
        item.user_properties.append((keys.NOT_RUN, reason))
        with self._lock:
            self._current = None  # one stop per test
        raise FailFastStopped(reason)

    def close(self) -> None:
        """Stops the watcher and gives SIGUSR1 back."""
        self._done.set()
        self._watcher.join(timeout=1)
        signal.signal(signal.SIGUSR1, self._previous)


GUARD: pytest.StashKey[FailFastGuard] = pytest.StashKey()  # a fail-fast run's, where tests run
RULES_TABLE: pytest.StashKey[tuple[Rule, ...]] = pytest.StashKey()  # see project_rules
