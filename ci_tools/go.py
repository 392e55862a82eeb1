"""The runner's go to a phase's pytest started ahead of its turn: one JSON line on a pipe.

A phase's fixed start-up (interpreter, imports, collection: about half a second here, as long
as many phases' longest test) is paid while the phase before still runs: the runner starts the
next phase's pytest with ``--go-fd FD``; it collects, writes its selection, and waits on FD
before its first test. When the phase before has met its gate the runner writes the go (the
order to start the tests in, and how many run at once, both from the last run) and closes the
pipe; when it has not, the runner closes the pipe without a go and the waiting pytest ends
without running a test. No test of a phase starts before the gate of the phase before is met,
as without the head start. Standard library only: the runner and the plugin both read it.
"""

from __future__ import annotations

import dataclasses
import json
import os

MIB = 1024 * 1024  # bytes in a MiB: memory_mb's unit, the plugin's --memory-mb's too


@dataclasses.dataclass(frozen=True)
class Go:
    """What the runner decided for the phase once it may run."""

    concurrency: int = 0  # at most this many tests at once, in forked workers (0 or 1: one at
    # a time, in the pytest process)
    order: str | None = None  # a file of node ids in the order to start them, if any
    start: int = 0  # how many at once to start with (0: as many as the cores); the count then
    # follows what the run waits on (ci_tools.plugin.throttle)
    memory_mb: int = 0  # what the phase's pytest and its workers may hold (0: no bound)


def cores() -> list[int]:
    """The cores this process may run on (every core where the system cannot say): a go's
    ``start`` is never above their count."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def send(fd: int, go: Go | None) -> None:
    """Writes the go (None: no go, the phase is not to run) and closes ``fd``. A pytest that
    has already ended (its end of the pipe closed) needs no go: its exit code tells the rest."""
    try:
        if go is not None:
            os.write(fd, (json.dumps(dataclasses.asdict(go)) + "\n").encode())
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def receive(fd: int) -> Go | None:
    """Waits for the runner's go on ``fd``; None when the pipe ends without one."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    os.close(fd)
    if not data.strip():
        return None
    fields = json.loads(data)
    return Go(
        concurrency=int(fields["concurrency"]),
        order=fields.get("order"),
        start=int(fields.get("start", 0)),
        memory_mb=int(fields.get("memory_mb", 0)),
    )
