"""A phase's pytest as a process: launched held for its go, waited for, stopped, cancelled.

Each phase's pytest runs in its own session (process group), so that stopping it stops the
tests it forked too. Its output (stdout and stderr, in the order written) goes to a file of the
run directory (``phaseN.log``) through ``ci_tools.redact``, line by line: the file holds no
secret of its tracebacks, and the job log holds only what the caller prints of the phase (its
progress, its gate, its first failure). The loop decides when, this module only does.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from ci_tools import forking, redact
from ci_tools.runner import warm

INTERRUPT_GRACE_S = 5.0  # after SIGINT, pytest gets this long to write what it has
CANCEL_GRACE_S = 2.0  # shorter when the whole run is cancelled: it must end within 5 s
DRAIN_S = 2.0  # after a process ended, how long its last output may take to be written
# A phase's pytest: a new process, or forked from the runner (``ci_tools.runner.warm``).
Pytest = subprocess.Popen[bytes] | warm.Forked
# By pid: the thread copying a process's output, and the file it copies it to.
_COPIES: dict[int, tuple[threading.Thread, IO[bytes]]] = {}


def environ() -> dict[str, str]:
    """The environment of a phase's pytest: the caller's, except that bytecode is written.
    Without cached bytecode (PYTHONDONTWRITEBYTECODE) every phase process and every xdist
    worker compiles the suite and re-rewrites the asserts of every pytest plugin again:
    0.3 s a process, the largest fixed cost of a phase measured here."""
    found = dict(os.environ)
    found.pop("PYTHONDONTWRITEBYTECODE", None)
    return found


def run(command: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    """Runs ``command`` in ``root`` to its end, its output captured (a collection)."""
    return subprocess.run(
        command, cwd=root, env=environ(), capture_output=True, text=True, check=False
    )


def launch(
    command_of: Callable[[int], list[str]],
    root: Path,
    output: Path,
    variables: Mapping[str, str] | None = None,
    adopt: Callable[[Pytest, int], None] = lambda _process, _go_fd: None,
) -> tuple[Pytest, int]:
    """Starts ``command_of(fd)`` in a session of its own, ``fd`` the read end of a new pipe
    that it alone holds, its output redacted into the file ``output`` (made anew); returns
    the process and the pipe's write end, the go's way in. ``variables`` are set in its
    environment over the caller's (the URLs of a revision to run against).

    ``adopt(process, go_fd)`` is called as soon as the process exists, before its output is
    copied and before ``launch`` returns: the caller keeps it there, to stop it whenever the
    run ends. On the fork path SIGINT and SIGTERM are held back from before the fork until
    then (``forking.held_back``), so a cancel cannot come between and leave it running
    unseen. A new interpreter cannot be made so (it would inherit the held signals): a
    cancel while it starts can still leave it unseen."""
    go_read, go_fd = os.pipe()
    try:
        command = command_of(go_read)
        env = {**environ(), **(variables or {})}
        forked = warm.usable(command, env)
    except BaseException:
        os.close(go_read)
        os.close(go_fd)
        raise
    with forking.held_back() if forked else contextlib.nullcontext():
        try:
            sink = output.open("wb")  # the copying thread's; closed once the output is written
        except BaseException:
            os.close(go_read)
            os.close(go_fd)
            raise
        try:
            process: Pytest = (
                warm.fork(command, root, env, go_read)
                if forked
                else subprocess.Popen(
                    command,
                    cwd=root,
                    start_new_session=True,
                    env=env,
                    pass_fds=(go_read,),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,  # one stream: a traceback beside its test's lines
                )
            )
        except BaseException:
            os.close(go_fd)
            sink.close()
            raise
        finally:
            os.close(go_read)
        adopt(process, go_fd)
        assert process.stdout is not None  # stdout=PIPE gives one (for mypy)
        try:
            copy = redact.redacting(process.stdout, sink, f"pytest {process.pid} output")
        except BaseException:
            sink.close()  # the caller, which adopted it, stops the process
            raise
        _COPIES[process.pid] = (copy, sink)
    return process, go_fd


def _drain(process: Pytest) -> None:
    """Waits (a little) for an ended process's last output to be written, then closes its
    file (a copy still going, held open by a forked test that outlived the kill, has its
    writes refused from then on and reads its pipe to the end)."""
    found = _COPIES.pop(process.pid, None)
    if found is not None:
        copy, sink = found
        copy.join(DRAIN_S)
        sink.close()


def wait(process: Pytest, timeout_s: float) -> int:
    """``process.wait(timeout_s)`` without its polling (sleeps of up to 50 ms between looks,
    which every phase's end would wait out): a pidfd becomes readable when the process ends.
    Raises ``subprocess.TimeoutExpired`` as ``wait`` does. A process already reaped (by a
    ``poll``) is not looked for again: its pid may be another process's by now."""
    if process.poll() is not None:
        return _drained(process, process.wait())
    if not hasattr(os, "pidfd_open"):
        return _drained(process, process.wait(timeout_s))
    try:
        fd = os.pidfd_open(process.pid)
    except OSError:  # already reaped, or a kernel without pidfds
        return _drained(process, process.wait(timeout_s))
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            if not selector.select(timeout_s):
                raise subprocess.TimeoutExpired(process.args, timeout_s)
    finally:
        os.close(fd)
    return _drained(process, process.wait())


def _drained(process: Pytest, returncode: int) -> int:
    """``returncode``, once the process's last output was written."""
    _drain(process)
    return returncode


def stop(process: Pytest, grace_s: float = INTERRUPT_GRACE_S) -> None:
    """SIGINT lets pytest stop cleanly; whatever still runs after the grace is killed. A
    process already reaped is not signalled: its group's id may be another's by now (a
    phase forked since leads a group of its own)."""
    if process.poll() is None:
        _end(process, grace_s)
    _drain(process)


def _end(process: Pytest, grace_s: float) -> None:
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace_s)
            if sig == signal.SIGINT:
                os.killpg(process.pid, signal.SIGKILL)  # xdist workers left behind, if any
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def cancel(process: Pytest, go_fd: int) -> None:
    """Ends a process launched held and never given its go: the pipe closes without a go
    (were the runner to die here, pytest would end on its own), then it is killed (it ran
    nothing: nothing to lose) and reaped."""
    os.close(go_fd)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    _drain(process)
