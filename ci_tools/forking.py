"""A fork with signals held back across it: the runner's phases (``runner.warm``), the
plugin's test workers (``plugin.pool``) and the report's work beside (``report.beside``) are
all made this way. Standard library only.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Sequence


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
