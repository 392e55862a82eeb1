"""A fork with signals held back across it: the runner's phases (``runner.warm``), the
plugin's test workers (``plugin.pool``) and the report's work beside (``report.beside``) are
all made this way. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence

# What a cancel sends (GitHub: SIGINT, then SIGTERM): held back while a process is made and
# handed to whoever stops it (``held_back``).
CANCELS = frozenset({signal.SIGINT, signal.SIGTERM})


def fork(blocked: Iterable[signal.Signals], fds: Sequence[int]) -> tuple[int, set[int]]:
    """``os.fork()`` with ``blocked`` held back across it, after stdout and stderr are flushed
    (a child must not write its parent's buffer again). Returns the pid (0 in the child) and
    the mask from before, which each side restores once it is ready for those signals (the
    run's SIGINT goes to the whole process group: a child must not raise it in its parent's
    code). When the fork fails, the mask is restored, ``fds`` (the pipes made for the child)
    are closed and the OSError raised."""
    sys.stdout.flush()
    sys.stderr.flush()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, set(blocked))
    try:
        return os.fork(), held
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        for fd in fds:
            os.close(fd)
        raise


@contextlib.contextmanager
def held_back(signals: Iterable[signal.Signals] = CANCELS) -> Iterator[None]:
    """Holds ``signals`` back for the block, then lets any that came meanwhile through: a
    cancel lands before or after steps that belong together, never between them (a process
    forked and handed to whoever stops it; a phase given its go and no longer counted as
    held). Nothing ``exec``'d may start inside: it would inherit the held signals (a forked
    child unblocks them itself)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
