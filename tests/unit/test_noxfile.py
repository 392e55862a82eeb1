"""The noxfile loads pyproject.toml to make its phase sessions: a file it cannot use ends
``nox -l`` in one line naming the file, where, and the fix, exit 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NOXFILE = Path(__file__).resolve().parents[2] / "noxfile.py"


def nox_list(project: Path, pyproject: str | None) -> subprocess.CompletedProcess[str]:
    """``nox -l`` in a copy of the noxfile beside ``pyproject`` (none: no pyproject.toml)."""
    shutil.copy(NOXFILE, project / "noxfile.py")
    if pyproject is not None:
        (project / "pyproject.toml").write_text(pyproject)
    return subprocess.run(
        [sys.executable, "-m", "nox", "-l", "-f", str(project / "noxfile.py")],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_valid_pyproject_lists_a_session_per_phase(tmp_path: Path) -> None:
    """Each phase of [tool.ci_tools.phases] is a session ``phaseN`` with its title."""
    done = nox_list(tmp_path, '[tool.ci_tools.phases.1]\ntitle = "Infrastructure health"\n')
    assert done.returncode == 0, done.stderr
    assert "phase1 -> Phase 1: Infrastructure health" in done.stdout


@pytest.mark.parametrize(
    ("pyproject", "line"),
    [
        (
            '[project]\nname = "x"\n[tool.ci_tools\n',
            "nox: pyproject.toml is not valid TOML at line 3, column 15 (Expected ']' at the end "
            "of a table declaration): fix the syntax there",
        ),
        (
            '[project]\nname = "x"\n',
            "nox: pyproject.toml has no [tool.ci_tools.phases]: declare the phases, e.g. "
            '[tool.ci_tools.phases.1] title = "Infrastructure health"',
        ),
        (
            "[tool.ci_tools.phases.1]\nbudget_s = 5\n",
            "nox: pyproject.toml: [tool.ci_tools.phases.1] needs a title, e.g. "
            '[tool.ci_tools.phases.1] title = "Infrastructure health"',
        ),
        (
            None,
            "nox: cannot read pyproject.toml beside noxfile.py (No such file or directory): "
            "put it back",
        ),
    ],
)
def test_a_pyproject_nox_cannot_use_is_one_line(
    tmp_path: Path, pyproject: str | None, line: str
) -> None:
    """A TOML syntax error (or no phases, a phase without a title, no file) ends ``nox -l``
    with exit 2 and one line naming the file, the line and the fix; no traceback."""
    done = nox_list(tmp_path, pyproject)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [line]
