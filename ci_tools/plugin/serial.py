"""Serial tests take turns across the processes of a phase (xdist workers, or pytest itself).
Loaded only where a serial test was collected.

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import pytest


class SerialTurns:
    """Serial tests take turns: while one runs (its call), another serial test of the phase,
    in whatever worker, waits. An exclusive lock on a file of the run directory, so it holds
    across xdist workers and is released by the kernel if a worker dies."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """Runs a serial test's call under the lock; any other test as it is."""
        if item.get_closest_marker("serial") is None:
            return (yield)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                return (yield)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
