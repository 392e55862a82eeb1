"""A phase's pytest forked from the runner, warm (``ci_tools.runner.warm``): it behaves as a new
``python -m pytest`` would, and holds nothing of the runner's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_tools.runner import process, warm

PROJECT = """
import json, os, signal, sys, time, pytest
pytestmark = pytest.mark.phase(1)
def test_where_it_runs():
    seen = {
        "cwd": os.getcwd(),
        "extra": os.environ.get("EXTRA"),
        "path": sys.path[0],
        "sigint": signal.getsignal(signal.SIGINT).__name__,
        "bytecode": not sys.dont_write_bytecode,
    }
    with open(f"seen-{os.environ.get('EXTRA')}.json", "w") as out:
        json.dump(seen, out)
def test_waits_when_told():
    if os.environ.get("WAIT"):
        time.sleep(30)
"""

# Launches two phases held for their go, as the runner does; ends the first without a go
# while the second still waits (a go pipe of the first held open by the second would keep the
# first waiting), then gives the second its go. Prints what each process was and its exit.
DRIVER = """
import json, sys, time
from pathlib import Path
from ci_tools import go
from ci_tools.runner import process
root = Path(sys.argv[1])
def held(name):
    return process.launch(
        lambda fd: [sys.executable, "-m", "pytest", "--go-fd", str(fd), "--capture=sys",
                    "--phase", "1", "--run-dir", name, "-p", "no:cacheprovider", "-q"],
        root, root / f"{name}.log", {"EXTRA": name},
    )
first, first_go = held("first")
second, second_go = held("second")
time.sleep(1.0)  # both collect and wait
go.send(first_go, None)
first_code = process.wait(first, 20)
go.send(second_go, go.Go(concurrency=0))
print(json.dumps({
    "kinds": [type(first).__name__, type(second).__name__],
    "codes": [first_code, process.wait(second, 20)],
}))
"""


def _runner(script: str, tmp_path: Path, **variables: str) -> str:
    """Runs ``script`` as a runner would run (a process that has not imported pytest) with
    PROJECT in ``tmp_path``, its folder as its argument; what it printed. The switch is
    the caller's ``variables`` only."""
    (tmp_path / "test_project.py").write_text(PROJECT)
    env = {k: v for k, v in os.environ.items() if k != warm.SWITCH} | variables
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _drive(tmp_path: Path, **variables: str) -> dict[str, list[object]]:
    found: dict[str, list[object]] = json.loads(
        _runner(DRIVER, tmp_path, **variables).splitlines()[-1]
    )
    return found


def test_a_forked_phase_runs_as_a_new_pytest_would(tmp_path: Path) -> None:
    """From a runner that has not imported pytest, phases are forked: each runs in the project
    folder with its own variables, the folder first on sys.path, pytest's own SIGINT and
    bytecode written; one ended without a go ends while another still waits for its own."""
    found = _drive(tmp_path)
    assert found == {"kinds": ["Forked", "Forked"], "codes": [2, 0]}
    seen = json.loads((tmp_path / "seen-second.json").read_text())
    assert seen == {
        "cwd": str(tmp_path),
        "extra": "second",
        "path": str(tmp_path),
        "sigint": "default_int_handler",
        "bytecode": True,
    }
    assert "2 passed" in (tmp_path / "second.log").read_text()
    assert not (tmp_path / "seen-first.json").exists()
    assert "no go" in (tmp_path / "first.log").read_text()


def test_the_switch_turns_the_fork_off(tmp_path: Path) -> None:
    """CI_TOOLS_FORK_PHASES=0: each phase a new interpreter, with the same results."""
    found = _drive(tmp_path, **{warm.SWITCH: "0"})
    assert found == {"kinds": ["Popen", "Popen"], "codes": [2, 0]}
    assert "2 passed" in (tmp_path / "second.log").read_text()


def test_a_runner_inside_a_pytest_session_starts_new_processes(tmp_path: Path) -> None:
    """This very process runs pytest: a fork would carry its session into the phase, so a
    launch from here is a new interpreter."""
    (tmp_path / "test_project.py").write_text(PROJECT)
    launched, go_fd = process.launch(
        lambda fd: [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        tmp_path,
        tmp_path / "out.log",
    )
    os.close(go_fd)
    assert isinstance(launched, subprocess.Popen)
    assert process.wait(launched, 60) == 0


def test_a_forked_phase_is_stopped_by_its_process_group(tmp_path: Path) -> None:
    """The budget's stop (SIGINT to the phase's process group, then SIGKILL) ends a forked
    phase whose test waits, as it ends a new process."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from ci_tools.runner import process\n"
        "root = Path(sys.argv[1])\n"
        "pytest, go_fd = process.launch(lambda fd: [sys.executable, '-m', 'pytest', '-q',\n"
        "    '-p', 'no:cacheprovider', '-k', 'waits'], root, root / 'out.log', {'WAIT': '1'})\n"
        "time.sleep(1.5)\n"
        "started = time.monotonic()\n"
        "process.stop(pytest, 2.0)\n"
        "print(type(pytest).__name__, pytest.poll(), round(time.monotonic() - started, 1))\n"
    )
    kind, code, took = _runner(script, tmp_path).split()
    assert kind == "Forked"
    assert code == "2"  # pytest's exit code when interrupted
    assert float(took) < 2.0
    assert "KeyboardInterrupt" in (tmp_path / "out.log").read_text()


@pytest.mark.parametrize(
    ("command", "forked"),
    [
        ([sys.executable, "-m", "pytest", "tests"], True),
        (["python3", "-m", "pytest"], False),
        ([sys.executable, "-m", "coverage", "run"], False),
        ([sys.executable, "-c", "pass"], False),
    ],
)
def test_only_this_interpreters_pytest_is_forked(command: list[str], forked: bool) -> None:
    """Another interpreter, another module: a new process, whatever the switch says."""
    assert warm.forkable(command) is forked
