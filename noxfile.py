"""The one entry point for people and CI: ``nox -l`` lists the sessions."""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.4.15"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

PYTHON = "3.11"


def _install(session: nox.Session, *extras: str) -> None:
    """Installs the package (editable, so sessions run the working tree) with extras."""
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the package's own tests (unit and integration against real servers)."""
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and type-check: ruff and mypy --strict."""
    _install(session, "test", "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=PYTHON)
def stack(session: nox.Session) -> None:
    """Start, stop or inspect the reference platform: nox -s stack -- start|stop|status."""
    _install(session)
    # Exit 3 is `status` saying that nothing runs: an answer, not a failure.
    session.run(
        "python", "-m", "reference_platform", *(session.posargs or ["--help"]), success_codes=[0, 3]
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks; each prints its figure."""
    _install(session, "test")
    for script in sorted(session.posargs or ["benchmarks/stack_start.py"]):
        session.run("python", script)
