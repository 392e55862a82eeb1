"""A tiny project whose failing tests hold the test users' password (and a JWT), run as a user
runs it: ``ci-tools run`` then ``ci-tools report``, the run store a SQLite file in the
project. Then where to look for the value: every file under the project (the run's
directory, the store) and what the commands printed. Shared by
``tests/plugin/test_masking.py`` and ``benchmarks/trust.py``."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from ci_tools.environment import HISTORY_URL, PASSWORD_VARIABLE, sqlite_url
from tests.fakes import secret_shapes
from tests.fakes.projects import pyproject

# Two phases on 127.0.0.1:9, where nothing listens: phase 1 fails, phase 2 is skipped; one
# test at a time, in the file's order.
PROJECT = pyproject("test_one.py", "test_two.py", workers=0)
SIGNATURE = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
# The password in a failing assertion's message, its captured output and its traceback's
# locals; a JWT in another's.
LEAKY = f"""
import os
import pytest

pytestmark = pytest.mark.phase(1)
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{SIGNATURE}"

def test_login():
    secret = os.environ["{PASSWORD_VARIABLE}"]
    headers = {{"X-Custom": secret, "Authorization": "Bearer " + JWT}}
    print(f"X-Custom: {{secret}}")
    assert secret == "wrong", f"login refused for {{secret}} with {{headers}}"

def test_token():
    token = JWT
    assert token == "x"
"""
# One failing test per shape of the password (``secret_shapes``), printing it and failing on
# an assertion whose message holds it.
SHAPED = f"""
import os
import pytest
from secret_shapes import shapes

pytestmark = pytest.mark.phase(1)
SHAPES = shapes(os.environ["{PASSWORD_VARIABLE}"])

@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape(name):
    text = SHAPES[name]
    print(f"calling with {{text}}")
    assert text == "accepted", f"{{name}} refused: {{text}}"
"""


@dataclasses.dataclass(frozen=True)
class Ran:
    """What ``ci-tools run`` and ``ci-tools report`` printed, and where they wrote."""

    run: subprocess.CompletedProcess[str]
    report: subprocess.CompletedProcess[str]
    folder: Path  # the project: its reports/ and the run store's file

    @property
    def terminal(self) -> str:
        """Everything both commands printed, stdout and stderr."""
        return self.run.stdout + self.run.stderr + self.report.stdout + self.report.stderr


def write_project(folder: Path, tests: Mapping[str, str]) -> None:
    """The project: its pyproject.toml, ``tests`` (file name: source) and ``secret_shapes``
    for the tests to import."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(PROJECT)
    shutil.copyfile(secret_shapes.__file__, folder / "secret_shapes.py")
    for name, source in tests.items():
        (folder / name).write_text(source)


def run_and_report(folder: Path, tests: Mapping[str, str], environ: Mapping[str, str]) -> Ran:
    """Writes the project in ``folder`` and runs ``ci-tools run`` then ``ci-tools report``
    there as a user would, with ``environ`` over this process's environment (without its
    GITHUB_* variables), the run store a SQLite file in the project."""
    write_project(folder, tests)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({HISTORY_URL: sqlite_url(folder / "history.db"), **environ})
    cli = [sys.executable, "-m", "ci_tools.cli", "--root", str(folder)]
    run, report = [
        subprocess.run(
            [*cli, command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        for command in ("run", "report")
    ]
    return Ran(run, report, folder)


def occurrences(folder: Path, value: str) -> dict[str, int]:
    """How often ``value`` is in each file under ``folder`` that has it."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            count = path.read_bytes().count(value.encode())
            if count:
                found[str(path.relative_to(folder))] = count
    return found
