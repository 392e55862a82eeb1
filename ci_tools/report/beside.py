"""Work the report stage hands to a forked child, done beside its own on another core: the
JUnit XML, which needs only the records, is made while the run is diagnosed; the run is
written to the store while the files are rendered, and committed once they are written.

The answer is the same either way. Where a fork is unsafe or fails (no ``os.fork``, other
threads running, whose locks a child would inherit held), or when the child gives no whole
answer (it raised, it was killed), the work is done in this process when its answer is asked
for. The child never returns into the stage's code: it ends with ``os._exit``, its SIGINT and
SIGTERM held back (it ends within moments on its own, and its parent's end closes its pipe).
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import threading
from collections.abc import Callable
from types import TracebackType

from ci_tools import forking

__all__ = ["Beside"]

_LENGTH = struct.Struct("!Q")  # the answer's length, before it: a cut answer is no answer


class Beside:
    """``make(go)`` started in a forked child; :meth:`answer` waits for what it made. ``go()``
    in the child waits for the parent's word: True once :meth:`answer` is asked with
    ``go=True``, False when it is asked without, or never (the stage failed first). Used as a
    context manager: leaving it, an error of the stage included, closes the pipes and reaps
    the child."""

    def __init__(self, make: Callable[[Callable[[], bool]], bytes], *, fork: bool = True) -> None:
        """``fork``: False when the work is not worth a child (it is made here when asked)."""
        self._make = make
        self._pid = 0
        self._answers = self._word = -1
        if not fork or not hasattr(os, "fork") or threading.active_count() > 1:
            return
        answers, answered = os.pipe()
        heard, word = os.pipe()
        try:
            pid, held = forking.fork(forking.CANCELS, (answers, answered, heard, word))
        except OSError:
            return  # made here when asked
        if pid == 0:
            os.close(answers)
            os.close(word)
            _child(make, heard, answered)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(answered)
        os.close(heard)
        self._pid, self._answers, self._word = pid, answers, word

    @property
    def forked(self) -> bool:
        """Whether a child is making it (False: it is made here when asked)."""
        return self._pid != 0

    def answer(self, *, go: bool = False) -> bytes:
        """What ``make`` made, its ``go()`` answered with ``go``: the child's, or made here
        when the child gave no whole answer."""
        if self._pid:
            if go:
                # A child that answered without waiting for the word no longer hears it.
                with contextlib.suppress(BrokenPipeError):
                    os.write(self._word, b"1")
            self._close_word()
            with open(self._answers, "rb") as pipe:
                self._answers = -1
                told = pipe.read()
            self._reap()
            if len(told) >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(told)
                if len(told) == _LENGTH.size + length:
                    return told[_LENGTH.size :]
        return self._make(lambda: go)

    def __enter__(self) -> Beside:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._close_word()  # a child waiting for the word hears no
        if self._answers >= 0:
            os.close(self._answers)  # a child still writing ends on the closed pipe
            self._answers = -1
        self._reap()

    def _close_word(self) -> None:
        if self._word >= 0:
            os.close(self._word)
            self._word = -1

    def _reap(self) -> None:
        if self._pid:
            pid, self._pid = self._pid, 0
            os.waitpid(pid, 0)


def _child(make: Callable[[Callable[[], bool]], bytes], heard: int, answered: int) -> None:
    """The child's whole life: the answer, its length first, on the pipe; then ``_exit``."""
    code = 1
    try:
        made = make(lambda: os.read(heard, 1) == b"1")
        with open(answered, "wb") as pipe:
            pipe.write(_LENGTH.pack(len(made)))
            pipe.write(made)
        code = 0
    finally:
        os._exit(code)  # never back into the stage's code, whatever was raised
