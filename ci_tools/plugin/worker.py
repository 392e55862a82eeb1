"""A forked worker's side of ``pool``: it reads the index of each test it is to run from one
pipe, runs the test's whole protocol, and sends the test's log hooks back on another; and the
two pipes' messages, which both sides read and write here: on the reports pipe each message
pickled behind its length, on the orders pipe each order a test's index (``STOP``: no more).
Loaded only by runs with tests at once (``--concurrency``, ``--go-fd``).

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import pytest

HEADER = struct.Struct("!I")  # the length of each pickled message on a worker's pipe
ORDER = struct.Struct("!i")  # the index of the next test to run; STOP: no more
STOP = -1


class Sender:
    """In a worker: sends the test's log hooks to the parent. Registered once, before the
    forks (registering a plugin costs more than a fork); silent until ``open`` in a worker."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.pipe: Any = None
        self.current = STOP  # the index of the test running

    def open(self, fd: int) -> None:
        """In the worker: from now on the log hooks go to the parent through ``fd``."""
        self.pipe = os.fdopen(fd, "wb")

    def send(self, kind: str, payload: object = None) -> None:
        """One message about the current test."""
        if self.pipe is None:  # the parent, replaying
            return
        data = pickle.dumps((kind, self.current, payload))
        self.pipe.write(HEADER.pack(len(data)) + data)
        self.pipe.flush()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """The test (or its repeated attempt) starts."""
        self.send("logstart")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """One phase's report, serialised as pytest-xdist does."""
        if self.pipe is not None:
            data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
            self.send("report", data)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """The test (or its attempt) ended."""
        self.send("logfinish")


def read_order(fd: int) -> int:
    """The index of the next test the parent sent (it sends one at a time); STOP at the end
    of the pipe too."""
    data = os.read(fd, ORDER.size)  # a 4-byte write to a pipe arrives whole
    return ORDER.unpack(data)[0] if len(data) == ORDER.size else STOP


def serve(
    session: pytest.Session,
    sender: Sender,
    *,
    reports: int,
    orders: int,
    mask: set[int | signal.Signals],
    quiet: tuple[str, ...],
    after_fork: Callable[[], None],
) -> NoReturn:
    """The worker: runs the tests it is handed until STOP, then exits. ``quiet`` names the
    plugins it unregisters first (the recorder: only the parent writes records), then it
    calls ``after_fork``."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the parent's terminal reports the tests, not the worker's
        config = session.config
        for name in quiet:
            plugin = config.pluginmanager.get_plugin(name)
            if plugin is not None:
                config.pluginmanager.unregister(plugin)
        sender.open(reports)
        after_fork()
        while (index := read_order(orders)) != STOP:
            sender.current = index
            config.hook.pytest_runtest_protocol(item=session.items[index], nextitem=None)
            sender.send("done")
    except BaseException:  # noqa: BLE001 - the parent reports the test it ran as crashed
        code = 3
    finally:
        with contextlib.suppress(BaseException):
            sys.stderr.flush()
        os._exit(code)
