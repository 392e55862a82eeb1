"""What `ci-tools run` and the plugin load at start: time to verdict in every run."""

from __future__ import annotations

import subprocess
import sys


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
