"""The noxfile's housekeeping: a session installs the package only when what it depends on
changed, and only the main job points ``reports/latest`` at its run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT: dict[str, Any] = {
    "build-system": {"requires": ["setuptools>=69"]},
    "project": {
        "name": "ci_tools",
        "version": "0.1.0",
        "dependencies": ["pytest>=8.0"],
        "optional-dependencies": {"test": ["hypothesis>=6.100"], "lint": ["ruff>=0.6"]},
    },
    "tool": {"ci_tools": {"phases": {"1": {"title": "One"}}}},
}


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    """The project's noxfile, loaded as nox loads it (from the project root)."""
    spec = importlib.util.spec_from_file_location("_noxfile_under_test", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # it reads pyproject.toml beside itself
        spec.loader.exec_module(module)
    return module


class FakeSession:
    """What the noxfile's helpers call on a session, recorded; the install step runs."""

    def __init__(self, venv: Path | None) -> None:
        self.virtualenv = SimpleNamespace(location=str(venv) if venv else None)
        self.installed: list[tuple[str, ...]] = []
        self.ran: list[tuple[str, ...]] = []

    def install(self, *args: str) -> None:
        """Records what would be installed."""
        self.installed.append(args)

    def run_install(self, *args: str, **_: object) -> None:
        """Runs the install step's command with this interpreter (it writes the stamp)."""
        assert args[0] == "python"
        subprocess.run([sys.executable, *args[1:]], check=True)

    def run(self, *args: str, **_: object) -> None:
        """Records a command."""
        self.ran.append(args)

    def log(self, *_: object) -> None:
        """Says nothing."""


def stamped(noxfile: ModuleType, venv: Path, pyproject: dict[str, Any], *extras: str) -> Path:
    """A virtualenv folder holding the stamp of an install for ``pyproject`` and ``extras``."""
    venv.mkdir(parents=True, exist_ok=True)
    (venv / noxfile.INSTALL_STAMP).write_text(noxfile.requirements_hash(pyproject, extras))
    return venv


def changed(section: str, key: str, value: object) -> dict[str, Any]:
    """PYPROJECT with one key of one table changed."""
    return {**PYPROJECT, section: {**PYPROJECT[section], key: value}}


def test_the_same_requirements_skip_the_install(noxfile: ModuleType, tmp_path: Path) -> None:
    """A virtualenv installed for the same [project], build system and extras: no install."""
    venv = stamped(noxfile, tmp_path / "venv", PYPROJECT, "test")
    assert not noxfile.install_needed(venv, noxfile.requirements_hash(PYPROJECT, ["test"]))


@pytest.mark.parametrize(
    "pyproject",
    [
        changed("project", "dependencies", ["pytest>=8.0", "httpx>=0.27"]),
        changed("project", "version", "0.2.0"),
        changed("project", "optional-dependencies", {"test": ["hypothesis>=6.101"]}),
        changed("project", "entry-points", {"pytest11": {"ci_tools": "ci_tools.plugin"}}),
        changed("build-system", "requires", ["setuptools>=70"]),
    ],
)
def test_changed_requirements_install_again(
    noxfile: ModuleType, tmp_path: Path, pyproject: dict[str, Any]
) -> None:
    """A new dependency, version, extra's requirement, entry point or build system: install."""
    venv = stamped(noxfile, tmp_path / "venv", PYPROJECT, "test")
    assert noxfile.install_needed(venv, noxfile.requirements_hash(pyproject, ["test"]))


def test_other_extras_install_and_unused_ones_do_not(noxfile: ModuleType, tmp_path: Path) -> None:
    """Asking for another extra installs; a change to an extra the session does not use, or
    to [tool], does not."""
    venv = stamped(noxfile, tmp_path / "venv", PYPROJECT, "test")
    assert noxfile.install_needed(venv, noxfile.requirements_hash(PYPROJECT, ["test", "lint"]))
    extras = {**PYPROJECT["project"]["optional-dependencies"], "lint": ["ruff>=0.7"]}
    other = changed("project", "optional-dependencies", extras)
    other["tool"] = {"ci_tools": {"phases": {}}}
    assert not noxfile.install_needed(venv, noxfile.requirements_hash(other, ["test"]))


def test_a_missing_virtualenv_or_stamp_installs(noxfile: ModuleType, tmp_path: Path) -> None:
    """No virtualenv yet, one never installed into, or none of its own (--no-venv): install."""
    requirements = noxfile.requirements_hash(PYPROJECT, [])
    assert noxfile.install_needed(tmp_path / "absent", requirements)
    (tmp_path / "fresh").mkdir()
    assert noxfile.install_needed(tmp_path / "fresh", requirements)
    assert noxfile.install_needed(None, requirements)


def test_a_session_installs_once_then_reuses(noxfile: ModuleType, tmp_path: Path) -> None:
    """The first session in a new virtualenv installs and stamps it; the next one skips."""
    (tmp_path / "venv").mkdir()
    first, second = FakeSession(tmp_path / "venv"), FakeSession(tmp_path / "venv")
    noxfile._install(first, "test")
    noxfile._install(second, "test")
    assert first.installed == [("-e", ".[test]")]
    assert second.installed == []
    no_venv = FakeSession(None)
    noxfile._install(no_venv)
    assert no_venv.installed == [("-e", ".")]


@pytest.mark.parametrize(
    ("posargs", "main_job", "flags"),
    [
        ([], False, ["--no-link-latest"]),
        ([], True, ["--link-latest"]),
        (["--link-latest"], False, ["--no-link-latest", "--link-latest"]),
        (["--run-dir", "out"], False, []),
    ],
)
def test_only_the_main_job_moves_latest(
    noxfile: ModuleType, posargs: list[str], main_job: bool, flags: list[str]
) -> None:
    """A phase, quick or full session runs ci-tools with --no-link-latest, the main job with
    --link-latest; a --link-latest given after -- wins; a --run-dir run says neither."""
    session = FakeSession(None)
    noxfile._run(session, posargs, "--phase", "2", main_job=main_job)
    [command] = session.ran
    assert [a for a in command if "link-latest" in a] == flags
    assert command[:4] == ("ci-tools", "run", "--phase", "2")


def test_the_experiment_switch_goes_to_ci_tools_not_to_pytest(noxfile: ModuleType) -> None:
    """``nox -s e2e -- --no-experiment -k x``: the switch is ci-tools run's (before ``--``),
    pytest's own arguments after it."""
    session = FakeSession(None)
    noxfile._run(session, ["--no-experiment", "-k", "x"], main_job=True)
    [command] = session.ran
    split = command.index("--")
    assert "--no-experiment" in command[:split]
    assert list(command[split + 1 :]) == ["-k", "x"]
