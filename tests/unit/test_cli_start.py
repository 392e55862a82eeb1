"""What `ci-tools run` and the plugin load at start: time to verdict in every run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

from ci_tools import cli
from ci_tools.environment import HISTORY_URL, sqlite_url

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_loads_neither_the_report_nor_the_run_store_to_run_phases() -> None:
    """Importing the CLI leaves the report package, SQLAlchemy, Alembic and Jinja unloaded
    (0.3 s of every run's start when they slip in at the top of cli.py)."""
    heavy = ("ci_tools.report", "sqlalchemy", "alembic", "jinja2")
    probe = f"import sys, ci_tools.cli; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_plugin_loads_forked_workers_and_sharding_only_when_asked() -> None:
    """The plugin loads in every pytest process: ``--concurrency``'s modules (pickle, psutil)
    and ``--shard``'s (statistics) load only in the runs that use them."""
    heavy = (
        "ci_tools.plugin.pool",
        "ci_tools.plugin.worker",
        "ci_tools.plugin.throttle",
        "ci_tools.plugin.held",
        "ci_tools.shard",
        "pickle",
        "statistics",
    )
    probe = f"import sys, ci_tools.plugin.hooks; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_run_forks_its_first_phase_before_loading_the_run_store_or_the_context(
    tmp_path: Path,
) -> None:
    """`ci-tools run` forks its first phase's pytest before it loads SQLAlchemy (0.1 s), the
    deployment context's package or urllib's HTTP client: they load while that phase starts
    up, not before it. The store is a SQLite file named by $CI_TOOLS_HISTORY_URL, as in CI."""
    probe = textwrap.dedent(
        """
        import os, sys
        def fork():
            heavy = ("sqlalchemy", "ci_tools.context", "urllib.request")
            print([m for m in heavy if m in sys.modules], flush=True)
            os._exit(0)
        os.fork = fork
        from ci_tools import cli
        cli.main(sys.argv[1:])
        """
    )
    env = {**os.environ, HISTORY_URL: sqlite_url(tmp_path / "history.db")}
    for name in ("BACKEND", "WEBSOCKET", "AUTH"):  # a platform somewhere, never reached
        scheme = "ws" if name == "WEBSOCKET" else "http"
        env[f"CI_TOOLS_{name}_URL"] = f"{scheme}://127.0.0.1:9"
    argv = ["--root", str(ROOT), "run", "--run-dir", str(tmp_path / "run"), "--phase", "1"]
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env, check=False
    )
    assert done.stdout.splitlines()[-1:] == ["[]"], done.stdout + done.stderr


def test_the_version_is_read_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    """``ci-tools --version`` prints the installed version on stdout and exits 0."""
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"ci-tools {version('ci_tools')}\n"
