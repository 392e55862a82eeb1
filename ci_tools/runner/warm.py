"""A phase's pytest forked from the runner, which has imported pytest and its plugins once,
instead of a new interpreter that imports them again for every phase and every re-run.

A new interpreter costs about half a second of CPU before its first test (the interpreter,
pytest, the plugins found by their entry points); five phases and the experiment's re-runs pay
it again and again, on the cores the tests need. A fork of the runner, warm, starts at
collection. The child is made to look like ``python -m pytest ARGS`` started in ``root``: its
own session, stdout and stderr on the pipe given, the environment given, the current folder
first on ``sys.path``, no file descriptor of the runner's but the go's, the runner's signal
handlers and exit handlers gone, what the runner held frozen away from the child's cycle
collector (a finaliser of the runner's garbage must not close a descriptor number the child
has reused).

Used only where it is safe (``usable``): a runner that is not itself inside a pytest session,
on a system with ``fork``, for a command that is this interpreter's ``-m pytest``. Elsewhere,
and with ``CI_TOOLS_FORK_PHASES=0``, each pytest is a new process as before.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import io
import os
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from ci_tools import forking, redact

SWITCH = "CI_TOOLS_FORK_PHASES"  # "0": every phase's pytest a new interpreter


def usable(command: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether ``command`` may run as a fork of this process: it is ``python -m pytest`` of
    this very interpreter, fork exists, the switch is not off, and this process had not
    imported pytest before the first launch (then it may be a pytest session itself, whose
    state a child must not inherit). The first call that says yes imports pytest, once."""
    if environ.get(SWITCH, "1") == "0" or not hasattr(os, "fork") or not forkable(command):
        return False
    return _warmed()


def forkable(command: Sequence[str]) -> bool:
    """Whether ``command`` is this very interpreter's ``-m pytest``."""
    return list(command[:3]) == [sys.executable, "-m", "pytest"]


@functools.cache
def _warmed() -> bool:
    """Whether this process may fork pytest, decided at its first launch: only when it had
    not imported pytest itself; it then imports it, and what it loads at start-up, once.
    Not the plugins pytest's entry points name: pytest marks those for assertion rewriting
    at each start, and warns of one imported before."""
    if "pytest" in sys.modules:
        return False
    import pytest  # noqa: F401, PLC0415 - only a runner that forks pays for it

    return True


class Forked:
    """A forked pytest, with what the runner uses of ``subprocess.Popen``."""

    def __init__(self, args: Sequence[str], pid: int, stdout: IO[bytes]) -> None:
        self.args = list(args)
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once it ended (a signal as its negative number), else None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: nothing more to know
                self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Waits for its end; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            left = 0.05 if deadline is None else max(0.0, deadline - time.monotonic())
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        assert self.returncode is not None  # poll set it (for mypy)
        return self.returncode


def fork(command: Sequence[str], root: Path, environ: Mapping[str, str], keep: int) -> Forked:
    """Forks ``command`` (``python -m pytest ...``) in ``root`` with ``environ``; ``keep`` is
    the one descriptor of this process's the child keeps (the go's pipe)."""
    read_end, write_end = os.pipe()
    ready_read, ready_write = os.pipe()  # closed by the child once it leads its own group
    with warnings.catch_warnings():
        # Python 3.12+ warns of a fork beside threads (the runner's output copiers): the
        # child runs none of their code, and makes its own stdout and stderr.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid, held = forking.fork(forking.CANCELS, (read_end, write_end, ready_read, ready_write))
    if pid == 0:  # the child: never returns
        os.close(ready_read)
        _child(list(command[3:]), root, environ, fds=(keep, write_end, ready_write), mask=held)
    os.close(write_end)
    os.close(ready_write)
    # Until the child has its own session, stopping its group would miss it: wait for that
    # (the pipe ends when it does, or when the child died before).
    os.read(ready_read, 1)
    os.close(ready_read)
    forked = Forked(command, pid, open(read_end, "rb"))  # noqa: SIM115 - its reader closes it
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return forked


def _child(
    args: list[str],
    root: Path,
    environ: Mapping[str, str],
    *,
    fds: tuple[int, int, int],
    mask: set[signal.Signals | int],
) -> None:
    """Becomes ``python -m pytest ARGS`` in ``root`` and exits with its code; ``fds``: the
    one descriptor it keeps (the go's), where its output goes, and the pipe it closes once
    it leads a session of its own."""
    keep, output, ready = fds
    code = 1
    try:
        gc.freeze()  # the runner's objects: out of reach of the cycle collector here
        atexit._clear()  # the runner's exit handlers are not the child's
        if "logging" in sys.modules:  # logging's own, registered once at its import
            atexit.register(sys.modules["logging"].shutdown)
        redact.forget()  # a new process's registry (the runner's lock may be held now)
        os.setsid()
        os.close(ready)
        os.dup2(output, 1)
        os.dup2(output, 2)
        sys.stdout = _stream(1, sys.stdout, lines=False)
        sys.stderr = _stream(2, sys.stderr, lines=True)
        _close_all_but(keep)
        os.chdir(root)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # The runner's mask, but the run's SIGINT stops this pytest (its budget, a cancel),
        # whatever the runner held back while it launched it (``forking.held_back``).
        signal.pthread_sigmask(signal.SIG_SETMASK, set(mask) - forking.CANCELS)
        os.environ.clear()
        os.environ.update(environ)
        sys.dont_write_bytecode = bool(environ.get("PYTHONDONTWRITEBYTECODE"))
        sys.path[0] = os.getcwd()  # as ``python -m`` puts it
        import pytest  # noqa: PLC0415 - imported already: the warm part

        sys.argv = [str(Path(pytest.__file__).with_name("__main__.py")), *args]  # as -m has it
        code = pytest.console_main()
    except SystemExit as exc:  # as the interpreter reads it: None is 0, a text is said, 1
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - a child must exit, whatever it met
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        # No signal from here: a KeyboardInterrupt raised past this point would carry the
        # child back into the runner's code.
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals))
        try:
            with contextlib.suppress(Exception):
                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
        finally:
            os._exit(code)


def _stream(fd: int, like: IO[str], *, lines: bool) -> IO[str]:
    """A new text stream on ``fd`` with the encoding of ``like`` (the runner's may hold a
    lock another of its threads took), buffered as a new interpreter's on a pipe: stdout in
    blocks, stderr by lines."""
    encoding = getattr(like, "encoding", None) or "utf-8"
    errors = getattr(like, "errors", None) or "strict"
    raw = io.BufferedWriter(io.FileIO(fd, "w", closefd=False))
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, line_buffering=lines)


def _close_all_but(keep: int) -> None:
    """Closes every descriptor above stderr but ``keep`` (the runner's pipes to its other
    phases, their output files: a go's pipe held open here would never end for its phase)."""
    top = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536
    os.closerange(3, keep)
    os.closerange(keep + 1, max(top, keep + 2))
