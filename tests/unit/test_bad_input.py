"""Bad input is refused in one line naming the value and the fix, exit 2, before anything is
written: the command line, ``[tool.ci_tools]``, the environment variables a run reads; and a
reader that goes away (``ci-tools history | head``) ends a command quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_tools import config as cfg
from ci_tools import environment, rundir
from ci_tools._exceptions import ConfigError
from ci_tools.records import RecordWriter
from ci_tools.report.github import Actions
from tests.fakes.projects import pyproject
from tests.fakes.records import make_record


def project(root: Path, backend: str = "http://127.0.0.1:9") -> Path:
    """A project with two phases and a staging environment on 127.0.0.1 (nothing listens)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        pyproject("tests", "tests", env="staging", backend=backend, password=None)
    )
    return root


def ci_tools(
    root: Path, *args: str, environ: dict[str, str] | None = None, stdout: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``ci-tools --root ROOT ARGS`` in ``root``, with its own run store, and none of the
    parent's CI_TOOLS_* or GITHUB_* variables (a CI machine sets them); stdout captured
    unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_TOOLS_", "GITHUB_"))}
    env[environment.HISTORY_URL] = environment.sqlite_url(root / "history.db")
    env.update(environ or {})
    return subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", "--root", str(root), *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content: what a refused command must leave."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr holding every word, no traceback."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("timeout", ["-5", "0", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_positive_and_finite_is_refused(tmp_path: Path, timeout: str) -> None:
    """``--timeout -5`` (or 0, nan, inf) would turn the per-test timeout off: refused in one
    line naming the value and what to give, and no run directory is made."""
    root = project(tmp_path)
    before = files(root)
    done = ci_tools(root, "run", "--timeout", timeout)
    assert_refused(done, "--timeout", repr(timeout), "positive number of seconds", "e.g. 30")
    assert files(root) == before


def test_an_unknown_phase_is_refused_with_the_configured_ones(tmp_path: Path) -> None:
    """``ci-tools run --phase 9`` names the phases there are, before it announces a run
    directory (it never makes one)."""
    root = project(tmp_path)
    before = files(root)
    done = ci_tools(root, "run", "--phase", "9")
    assert_refused(done, "--phase 9", "has 1, 2", "give one of those")
    assert files(root) == before


@pytest.mark.parametrize(
    "args",
    [
        ["shard", "--phase", "9", "--shards", "2", "--index", "1"],
        ["gate", "--phase", "0", "--run-dir", "reports/r1"],
    ],
)
def test_every_command_naming_a_phase_refuses_an_unknown_one(
    tmp_path: Path, args: list[str]
) -> None:
    """``shard`` and ``gate`` refuse a phase the project lacks as ``run`` does."""
    root = project(tmp_path)
    (root / "reports" / "r1").mkdir(parents=True)
    before = files(root)
    assert_refused(ci_tools(root, *args), f"--phase {args[2]}", "has 1, 2")
    assert files(root) == before


def test_a_usage_error_is_one_line_naming_the_help(tmp_path: Path) -> None:
    """argparse's own refusals (here a negative count) are one line too."""
    done = ci_tools(project(tmp_path), "history", "--limit", "-1")
    assert_refused(done, "--limit", "'-1'", "positive whole number", "ci-tools history --help")


# --- the environment ----------------------------------------------------------------------


def write_run(run_dir: Path) -> None:
    """A run of phase 1 with one passed test and no gate file."""
    writer = RecordWriter(rundir.records(run_dir, 1))
    writer.record(make_record("ok", priority="P1"))
    writer.close()


@pytest.mark.parametrize("attempt", ["²", "٣", "0", "two", "-1"])
def test_a_run_attempt_that_is_no_positive_ascii_number_is_refused(
    tmp_path: Path, attempt: str
) -> None:
    """``GITHUB_RUN_ATTEMPT=²`` (int() takes "٣" as 3 and fails on "²") stops the report in
    one line naming the value and the fix; no worklog, verdict or store is written."""
    root = project(tmp_path)
    write_run(root / "reports" / "r1")
    before = files(root)
    done = ci_tools(
        root, "report", "--run-dir", "reports/r1", environ={"GITHUB_RUN_ATTEMPT": attempt}
    )
    assert_refused(done, f"GITHUB_RUN_ATTEMPT: {attempt!r}", "GITHUB_RUN_ATTEMPT=1")
    assert files(root) == before


def test_the_gate_reads_the_run_attempt_before_it_writes(tmp_path: Path) -> None:
    """``ci-tools gate`` with a bad GITHUB_RUN_ATTEMPT merges no shard and writes no gate."""
    root = project(tmp_path)
    (root / "reports" / "r1").mkdir(parents=True)
    before = files(root)
    done = ci_tools(
        root, "gate", "--phase", "1", "--run-dir", "reports/r1", environ={"GITHUB_RUN_ATTEMPT": "²"}
    )
    assert_refused(done, "GITHUB_RUN_ATTEMPT: '²'")
    assert files(root) == before


@pytest.mark.parametrize(("given", "attempt"), [(None, 1), ("", 1), ("1", 1), ("12", 12)])
def test_a_run_attempt_in_ascii_digits_is_read(given: str | None, attempt: int) -> None:
    """GitHub's attempts (1, 2, ...) are read; outside Actions (unset or empty) it is 1."""
    environ = {} if given is None else {"GITHUB_RUN_ATTEMPT": given}
    assert Actions.from_environ(environ).attempt == attempt


@pytest.mark.parametrize("variable", ["CI_TOOLS_BACKEND_URL", "CI_TOOLS_AUTH_URL"])
def test_a_url_override_without_a_scheme_is_refused_before_any_phase(
    tmp_path: Path, variable: str
) -> None:
    """``CI_TOOLS_BACKEND_URL=localhost:8080`` is refused in one line naming the variable,
    the value and an example, not run as a deploy that does not answer."""
    root = project(tmp_path)
    before = files(root)
    done = ci_tools(root, "run", environ={variable: "localhost:8080"})
    assert_refused(
        done, f"{variable}: 'localhost:8080' is not an http(s) URL with a host", f"{variable}=https"
    )
    assert files(root) == before


def test_a_websocket_override_must_be_a_websocket_url() -> None:
    """``CI_TOOLS_WEBSOCKET_URL`` is ws:// or wss://; an http:// one is refused by name."""
    env = cfg.EnvironmentConfig(backend_url="https://api.example.com")
    environ = {"CI_TOOLS_WEBSOCKET_URL": "https://api.example.com/ws"}
    with pytest.raises(ConfigError) as refused:
        environment.resolve_urls("staging", env, Path(), environ)
    assert str(refused.value) == (
        "CI_TOOLS_WEBSOCKET_URL: 'https://api.example.com/ws' is not a ws(s) URL with a host; "
        "write e.g. CI_TOOLS_WEBSOCKET_URL=wss://api.example.com/ws, or unset it"
    )


def test_a_configured_url_without_a_scheme_stops_the_run(tmp_path: Path) -> None:
    """``backend_url = "localhost:8080"`` in pyproject.toml: ``ci-tools run`` exits 2 in one
    line naming the key, and makes nothing."""
    root = project(tmp_path, backend="localhost:8080")
    before = files(root)
    done = ci_tools(root, "run")
    assert_refused(
        done,
        "environments.staging.backend_url: 'localhost:8080' is not an http(s) URL with a host; "
        "write e.g. https://api.example.com",
    )
    assert files(root) == before


# --- [tool.ci_tools] ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("backend_url", "localhost:8080"),
        ("backend_url", "ftp://api.example.com"),
        ("auth_url", "https://"),
        ("frontend_url", "https://app.example.com:99999"),
        ("backend_url", "https://api example.com"),
        ("websocket_url", "https://api.example.com/ws"),
        ("websocket_url", "/ws"),
    ],
)
def test_an_environment_url_must_have_its_scheme_and_a_host(key: str, url: str) -> None:
    """An environment URL that is not http(s) (ws(s) for the WebSocket), has no host or a
    port past 65535 is refused at load, naming the key, the value and an example."""
    with pytest.raises(ConfigError) as refused:
        cfg.parse({"environments": {"staging": {key: url}}})
    message = str(refused.value)
    assert message.startswith(f"pyproject.toml: [tool.ci_tools] environments.staging.{key}: ")
    assert f"{url!r} is not a" in message
    assert "URL with a host; write e.g. " in message
    assert "(got" not in message  # the value is said once
    assert "\n" not in message


def test_the_brief_example_of_a_url_error_reads_as_written() -> None:
    """The backend URL's error is the one line the issue asks for."""
    with pytest.raises(ConfigError) as refused:
        cfg.parse({"environments": {"staging": {"backend_url": "localhost:8080"}}}, "p.toml")
    assert str(refused.value) == (
        "p.toml: [tool.ci_tools] environments.staging.backend_url: 'localhost:8080' is not an "
        "http(s) URL with a host; write e.g. https://api.example.com"
    )


def test_urls_with_their_scheme_and_a_host_are_taken() -> None:
    """https, http with a port, wss with a path and query: each is kept as written."""
    env = cfg.parse(
        {
            "environments": {
                "staging": {
                    "backend_url": "http://127.0.0.1:8080",
                    "websocket_url": "wss://api.example.com/ws?v=2",
                    "auth_url": "https://auth.example.com",
                }
            }
        }
    ).environments["staging"]
    assert env.backend_url == "http://127.0.0.1:8080"
    assert env.websocket_url == "wss://api.example.com/ws?v=2"


@pytest.mark.parametrize("paths", [[], [""], ["tests", "  "]])
def test_a_phase_with_empty_paths_is_refused(paths: list[str]) -> None:
    """``paths = []`` (or an empty path) would collect the whole repository: refused,
    naming the phase's key and an example."""
    with pytest.raises(ConfigError) as refused:
        cfg.parse({"phases": {"1": {"title": "One", "paths": paths}}})
    message = str(refused.value)
    assert message.startswith("pyproject.toml: [tool.ci_tools] phases.1.paths: ")
    assert "whole repository" in message
    assert 'e.g. paths = ["tests/e2e/phase1_infrastructure"]' in message
    assert "Value error" not in message


@pytest.mark.parametrize(
    "table",
    [
        {"test_timeout_s": float("nan")},
        {"test_timeout_s": float("inf")},
        {"phases": {"1": {"title": "One", "timeout_s": float("nan")}}},
        {"phases": {"1": {"title": "One", "budget_s": float("inf")}}},
    ],
)
def test_a_timeout_or_budget_of_nan_or_inf_is_refused(table: dict[str, object]) -> None:
    """nan or inf (both valid TOML) would turn a timeout or budget off: refused at load."""
    with pytest.raises(ConfigError, match="finite number"):
        cfg.parse(table)


def test_a_toml_syntax_error_names_the_file_line_and_fix(tmp_path: Path) -> None:
    """A pyproject.toml that is not TOML: one line with the file, the line and the fix."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[tool.ci_tools\n')
    with pytest.raises(ConfigError) as refused:
        cfg.load(pyproject)
    assert str(refused.value) == (
        f"{pyproject} is not valid TOML at line 3, column 15 (Expected ']' at the end of a "
        "table declaration): fix the syntax there"
    )


# --- a reader gone ------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["history"], ["history", "--json"]])
def test_a_reader_gone_ends_a_command_quietly(tmp_path: Path, args: list[str]) -> None:
    """``ci-tools history | head``: once the reader has closed the pipe, the command ends
    without a traceback or any line on stderr."""
    root = project(tmp_path)
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first line
    try:
        done = ci_tools(root, *args, stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")


def test_a_run_goes_on_when_its_reader_has_gone() -> None:
    """A run's progress lines to a closed pipe do not stop the run: it carries on silently
    (its phases and gates are still recorded)."""
    script = (
        "import sys\n"
        "from ci_tools import cli\n"
        "from ci_tools.phases import GateResult\n"
        "terminal = cli._Terminal()\n"
        "for number in (1, 2):\n"
        "    terminal.phase_started(number, 0, 'no earlier run')\n"
        "    terminal.gate_judged(GateResult(number, 'One', 'met', '', passed=1))\n"
        "print('carried on', file=sys.stderr)\n"
    )
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "carried on\n")


def test_an_error_quoting_hostile_text_is_no_workflow_command(tmp_path: Path) -> None:
    """stderr is read by the Actions runner too: a value an error quotes (here a project
    folder named like a legacy command) is made inert."""
    from tests.fakes.payloads import workflow_commands  # noqa: PLC0415

    done = ci_tools(project(tmp_path / "##[error]x"), "report")
    assert done.returncode == 2, done.stderr
    assert "[error]x" in done.stderr
    assert not workflow_commands(done.stderr)
