"""Work made beside the report stage in a forked child (ci_tools.report.beside).

Each scenario runs in a new interpreter: a test process may run threads of its own (pytest's
workers do), and with threads running the work is made in the process itself, never forked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from ci_tools.report.beside import Beside

ROOT = Path(__file__).resolve().parents[2]


def _in_a_new_process(body: str, *args: str) -> Any:
    """``body`` run as a script with Beside, os and json at hand; what it printed last (an
    object or a list, as the body prints it)."""
    script = "import json, os, signal, sys, time\nfrom ci_tools.report.beside import Beside\n"
    done = subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(body), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_work_is_made_in_a_child_while_the_parent_goes_on() -> None:
    """The answer comes from another process; no child is left behind."""
    found = _in_a_new_process(
        """
        with Beside(lambda go: str(os.getpid()).encode()) as made:
            forked = made.forked
            maker = int(made.answer())
        try:
            os.waitpid(-1, os.WNOHANG)
            left = True
        except ChildProcessError:
            left = False
        print(json.dumps({"forked": forked, "elsewhere": maker != os.getpid(), "left": left}))
        """
    )
    assert found == {"forked": True, "elsewhere": True, "left": False}


def test_the_child_hears_the_parents_word() -> None:
    """``go()`` is True in the child once the answer is asked with go=True, False when it is
    asked without; a child that answered without waiting for it is no error."""
    found = _in_a_new_process(
        """
        def make(go):
            return b"go" if go() else b"no"

        with Beside(make) as first:
            said = first.answer(go=True).decode()
        with Beside(make) as second:
            unsaid = second.answer().decode()
        with Beside(lambda go: b"without it") as third:
            time.sleep(0.5)  # the child answered and ended: the word finds its pipe closed
            unheard = third.answer(go=True).decode()
        print(json.dumps([said, unsaid, unheard]))
        """
    )
    assert found == ["go", "no", "without it"]


def test_a_stage_that_fails_first_is_a_no_and_leaves_no_child(tmp_path: Path) -> None:
    """An error of the stage before it asks: the waiting child hears no (it writes nothing
    it would only write on go), and it is reaped when the block is left."""
    marker = tmp_path / "committed"
    found = _in_a_new_process(
        """
        from pathlib import Path
        marker = Path(sys.argv[1])

        def make(go):
            if go():
                marker.write_text("yes")
            return b""

        try:
            with Beside(make) as made:
                forked = made.forked
                raise RuntimeError("the files could not be written")
        except RuntimeError:
            pass
        try:
            os.waitpid(-1, os.WNOHANG)
            left = True
        except ChildProcessError:
            left = False
        print(json.dumps({"forked": forked, "left": left}))
        """,
        str(marker),
    )
    assert found == {"forked": True, "left": False}
    assert not marker.exists()


def test_a_child_that_gives_no_whole_answer_is_made_here() -> None:
    """A child that raised, or was killed before answering: the work is made in this
    process, its word passed to it as asked."""
    found = _in_a_new_process(
        """
        parent = os.getpid()

        def raising(go):
            if os.getpid() != parent:
                raise ValueError("only in the child")
            return b"here " + (b"go" if go() else b"no")

        def killed(go):
            if os.getpid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)
            return b"here"

        with Beside(raising) as one:
            first = one.answer(go=True).decode()
        with Beside(killed) as two:
            second = two.answer().decode()
        print(json.dumps([first, second]))
        """
    )
    assert found == ["here go", "here"]


def test_beside_running_threads_nothing_is_forked() -> None:
    """Another thread running (a fork would copy its locks held): made here when asked."""
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with Beside(lambda go: str(os.getpid()).encode()) as made:
            assert not made.forked
            assert int(made.answer()) == os.getpid()
    finally:
        release.set()
        other.join()


def test_work_not_worth_a_child_is_made_here_with_its_word() -> None:
    """``fork=False``: nothing forked; ``go()`` answers what ``answer`` was asked."""
    with Beside(lambda go: json.dumps([os.getpid(), go()]).encode(), fork=False) as made:
        assert not made.forked
        assert json.loads(made.answer(go=True)) == [os.getpid(), True]
