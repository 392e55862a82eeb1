"""Secrets are masked by value and by shape everywhere a run's text goes: its records, every
file of its directory, the run store, and the terminal (the job log), where GitHub Actions is
also told every secret value with ``::add-mask::`` before anything else."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_tools import redact
from ci_tools.environment import PASSWORD_VARIABLE
from ci_tools.report import github
from tests.fakes import leaky
from tests.fakes.leaky import LEAKY, SIGNATURE, Ran, occurrences
from tests.plugin.conftest import run_phase1


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A random test users' password in the environment (and registered here)."""
    value = secrets.token_urlsafe(16)
    monkeypatch.setenv(PASSWORD_VARIABLE, value)
    redact.register_environment()
    yield value
    monkeypatch.undo()
    redact.register_environment()


def run_and_report(pytester: pytest.Pytester, **environ: str) -> Ran:
    """``ci-tools run`` then ``ci-tools report`` of the LEAKY suite, their run store a SQLite
    file in the project."""
    tests = {"test_one.py": LEAKY, "test_two.py": "def test_two(): pass"}
    ran = leaky.run_and_report(pytester.path, tests, environ)
    assert ran.run.returncode == 1, ran.run.stderr  # phase 1's gate is not met
    assert ran.report.returncode == 0, ran.report.stderr
    return ran


def test_the_password_is_in_no_file_no_store_and_no_terminal(
    pytester: pytest.Pytester, password: str
) -> None:
    """A failing test whose assertion message, captured output and traceback hold the test
    users' password: the value is in no file of the run's directory (records, junit.xml,
    worklog.md, verdict.json...), not in the run store, not in what the run and the report
    printed; the JWT of its traceback shows no signature in the terminal."""
    ran = run_and_report(pytester)
    output = (ran.folder / "reports" / "latest" / "phase1.log").read_text()
    assert "FAILED test_one.py::test_login" in output  # pytest's output, in the run's folder
    assert "login refused for [REDACTED]" in ran.run.stdout  # its first failure, printed
    assert (ran.folder / "history.db").exists()
    assert occurrences(ran.folder, password) == {}
    terminal = ran.run.stdout + ran.run.stderr + ran.report.stdout + ran.report.stderr
    assert password not in terminal
    assert password[:8] not in terminal  # nor cut short by pytest's summary line
    assert SIGNATURE not in terminal
    assert SIGNATURE[-8:] not in terminal


def test_in_github_actions_every_secret_is_masked_before_anything_is_printed(
    pytester: pytest.Pytester, password: str, tmp_path: Path
) -> None:
    """With GITHUB_ACTIONS=true, ``ci-tools run`` and ``ci-tools report`` print
    ``::add-mask::`` for the password (and its other forms) first; the value shows nowhere
    else, the step summary included."""
    summary = tmp_path / "summary.md"
    ran = run_and_report(pytester, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    for printed in (ran.run.stdout, ran.report.stdout):
        lines = printed.splitlines()
        masks = [line for line in lines if line.startswith("::add-mask::")]
        assert masks
        assert lines[: len(masks)] == masks, lines[:5]
        assert f"::add-mask::{password}" in masks
        assert password not in "\n".join(lines[len(masks) :])
    assert summary.exists()
    assert password not in summary.read_text()


def test_a_mask_command_is_one_line_per_line_of_a_value_and_none_outside_actions() -> None:
    """``::add-mask::`` lines are GitHub-escaped, one per line of a multi-line value; outside
    Actions none is made (it would only show the value)."""
    values = ["pa%ss-word", "-----BEGIN KEY-----\nAbCdEf123\n"]
    assert github.mask_commands({"GITHUB_ACTIONS": "true"}, values) == [
        "::add-mask::-----BEGIN KEY-----",
        "::add-mask::AbCdEf123",
        "::add-mask::pa%25ss-word",
    ]
    assert github.mask_commands({}, values) == []


def test_the_plugin_s_records_hold_no_password(pytester: pytest.Pytester, password: str) -> None:
    """The records the plugin writes (message and traceback of a failure) mask the test
    users' password by value, though nothing in its shape says it is one."""
    pytester.makepyfile(test_one=LEAKY)
    result = run_phase1(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    written = (pytester.path / "out" / "phase1.jsonl").read_text()
    assert "login refused for [REDACTED]" in written
    assert password not in written
    assert SIGNATURE not in written
