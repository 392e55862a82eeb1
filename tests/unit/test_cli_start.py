"""`ci-tools run` starts every main job: what it loads before phase 1 is time to verdict."""

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
