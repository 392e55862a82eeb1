"""A phase's pytest as a process: launched held for its go, waited for, stopped, cancelled.

Each phase's pytest runs in its own session (process group), so that stopping it stops the
tests it forked too. Standard library only; the loop decides when, this module only does.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

INTERRUPT_GRACE_S = 5.0  # after SIGINT, pytest gets this long to write what it has
CANCEL_GRACE_S = 2.0  # shorter when the whole run is cancelled: it must end within 5 s


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
    command_of: Callable[[int], list[str]], root: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Starts ``command_of(fd)`` in a session of its own, ``fd`` the read end of a new pipe
    that it alone holds; returns the process and the pipe's write end, the go's way in."""
    held, go_fd = os.pipe()
    try:
        process = subprocess.Popen(
            command_of(held),
            cwd=root,
            start_new_session=True,
            env=environ(),
            pass_fds=(held,),
        )
    except BaseException:
        os.close(go_fd)
        raise
    finally:
        os.close(held)
    return process, go_fd


def wait(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    """``process.wait(timeout_s)`` without its polling (sleeps of up to 50 ms between looks,
    which every phase's end would wait out): a pidfd becomes readable when the process ends.
    Raises ``subprocess.TimeoutExpired`` as ``wait`` does."""
    if not hasattr(os, "pidfd_open"):
        return process.wait(timeout_s)
    try:
        fd = os.pidfd_open(process.pid)
    except OSError:  # already reaped, or a kernel without pidfds
        return process.wait(timeout_s)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            if not selector.select(timeout_s):
                raise subprocess.TimeoutExpired(process.args, timeout_s)
    finally:
        os.close(fd)
    return process.wait()


def stop(process: subprocess.Popen[bytes], grace_s: float = INTERRUPT_GRACE_S) -> None:
    """SIGINT lets pytest stop cleanly; whatever still runs after the grace is killed."""
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


def cancel(process: subprocess.Popen[bytes], go_fd: int) -> None:
    """Ends a process launched held and never given its go: the pipe closes without a go
    (were the runner to die here, pytest would end on its own), then it is killed (it ran
    nothing: nothing to lose) and reaped."""
    os.close(go_fd)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
