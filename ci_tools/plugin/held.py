"""``--go-fd``: a phase's pytest started and collected ahead of its turn, held until the
runner's go (see ``ci_tools.go``). Loaded only by runs given ``--go-fd``.

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from ci_tools.go import MIB
from ci_tools.plugin.selection import ORDERED, by_rank, ranks

if TYPE_CHECKING:
    from ci_tools.plugin.pool import ForkPool


class HeldForGo:
    """``--go-fd``: the phase's pytest has started up and collected ahead of its turn, and
    waits for the runner's go before its first test (see ``ci_tools.go``)."""

    def __init__(self, fd: int, pool: ForkPool) -> None:
        self.fd = fd
        self.pool = pool  # the go says how many tests it runs at once

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, bool, bool]:
        """Waits for the go, then lets the test loop (the pool's or pytest's) run."""
        from ci_tools import go  # noqa: PLC0415 - only a held run loads it

        self.pool.prepare()  # while it waits: what its workers share (about 60 ms here)
        order = go.receive(self.fd)
        if order is None:
            raise session.Interrupted("the runner did not start this phase (no go)")
        rank = ranks(order.order)
        by_rank(session.items, rank)
        session.config.stash[ORDERED] = bool(rank)
        self.pool.concurrency = order.concurrency
        self.pool.start = order.start
        self.pool.memory = order.memory_mb * MIB
        return (yield)
