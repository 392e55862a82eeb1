"""The one entry point for people and CI: ``nox -l`` lists the sessions.

The phase sessions are generated from ``[tool.ci_tools.phases]`` in pyproject.toml, so a phase
is declared once. Arguments after ``--`` reach pytest (and, for ``e2e``, the platform's
``--fault`` switches).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import signal
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import nox
import nox.command

nox.needs_version = ">=2024.4.15"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = True

# The interpreter that runs nox (any 3.11+): a pinned version that is missing would make nox
# skip the session and exit 0, a test command that passes without testing.
PYTHON: str | None = None


def _load_pyproject(pyproject: str) -> dict[str, Any]:
    """pyproject.toml, whose ``[tool.ci_tools]`` the phase sessions are made from (and whose
    ``[project]`` says when to install: ``requirements_hash``). A file nox cannot read
    ends nox here, exit 2, in one line naming the file, the line and the fix (this file runs
    under whichever nox, where ci_tools may not be installed: ci_tools.config.toml_error
    words it the same way)."""
    try:
        table = nox.project.load_toml(pyproject)
    except tomllib.TOMLDecodeError as exc:
        found = re.fullmatch(r"(.*) \(at (line \d+, column \d+|end of document)\)", str(exc))
        what, where = (found[1], f" at {found[2]}") if found else (str(exc), "")
        _stop(f"{pyproject} is not valid TOML{where} ({what}): fix the syntax there")
    except OSError as exc:
        _stop(f"cannot read {pyproject} beside noxfile.py ({exc.strerror}): put it back")
    example = '[tool.ci_tools.phases.1] title = "Infrastructure health"'
    ci_tools = table.get("tool", {}).get("ci_tools")
    if not isinstance(ci_tools, dict) or not isinstance(ci_tools.get("phases"), dict):
        _stop(f"{pyproject} has no [tool.ci_tools.phases]: declare the phases, e.g. {example}")
    for number, phase in ci_tools["phases"].items():
        if not isinstance(phase, dict) or not isinstance(phase.get("title"), str):
            _stop(f"{pyproject}: [tool.ci_tools.phases.{number}] needs a title, e.g. {example}")
    return table


def _stop(message: str) -> NoReturn:
    """Ends nox while it loads this file: one line on stderr, exit 2 (a usage error)."""
    print(f"nox: {message}", file=sys.stderr)
    raise SystemExit(2)


PYPROJECT = _load_pyproject("pyproject.toml")
CI_TOOLS: dict[str, object] = PYPROJECT["tool"]["ci_tools"]
PHASES: dict[str, dict[str, object]] = CI_TOOLS["phases"]  # type: ignore[assignment]
DEFAULT_ENV = str(CI_TOOLS.get("default_env", "local"))
E2E_STACK_DIR = ".stack/e2e"  # the main job's own platform, apart from one started by hand
PLATFORM = ("python", "-m", "reference_platform")
# In a session's virtualenv: the requirements the package was installed for.
INSTALL_STAMP = "ci-tools-install.sha256"
MERMAID = "mermaid@11"  # what GitHub renders Markdown charts with
# On a cancel, ci-tools needs a few seconds to stop pytest, record the tests still running and
# write the gate; nox's defaults (0.3 s, then 0.2 s) would kill it first. A SIGINT from a
# terminal reaches ci-tools itself; one sent to nox alone reaches it as nox's SIGTERM.
CANCEL_INTERRUPT_S, CANCEL_TERMINATE_S = 0.5, 3.5


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While a session holds a platform, SIGTERM (GitHub's cancel sends SIGINT, then
    SIGTERM) is a KeyboardInterrupt as SIGINT is, so the platform is stopped on the way out
    instead of being left running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def requirements_hash(pyproject: Mapping[str, Any], extras: Sequence[str]) -> str:
    """What an install of the package with ``extras`` depends on, hashed: ``[build-system]``
    and ``[project]`` (its version, dependencies, entry points) with the optional dependencies
    of those extras only. Code is not in it: the package is installed editable."""
    project = dict(pyproject.get("project", {}))
    optional = project.pop("optional-dependencies", {})
    wanted = {
        "build-system": pyproject.get("build-system"),
        "project": project,
        "extras": {extra: optional.get(extra) for extra in sorted(set(extras))},
    }
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()


def install_needed(venv: Path | None, requirements: str) -> bool:
    """Whether a session installs the package: unless its virtualenv (None: none of its
    own, as under ``--no-venv``) holds the stamp of an install for the same requirements."""
    if venv is None:
        return True
    try:
        return (venv / INSTALL_STAMP).read_text().strip() != requirements
    except OSError:  # no virtualenv yet, or never installed into: install
        return True


def _install(session: nox.Session, *extras: str) -> None:
    """Installs the package (editable, so sessions run the working tree) with extras, unless
    the session's virtualenv has it for the same requirements (``requirements_hash``): a
    session then starts at once. ``nox --reuse-venv=no`` installs afresh."""
    location = getattr(session.virtualenv, "location", None)  # none under --no-venv
    venv = Path(location) if location else None
    requirements = requirements_hash(PYPROJECT, extras)
    if not install_needed(venv, requirements):
        session.log("requirements unchanged since the last install: skipping it")
        return
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")
    if venv is not None:
        # An install step (run_install): under --no-install nox installs nothing, and this
        # stamp, then untrue, is not written either.
        write = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
        stamp = str(venv / INSTALL_STAMP)
        session.run_install("python", "-c", write, stamp, requirements, silent=True, log=False)


def _split_stack_args(posargs: list[str]) -> tuple[list[str], list[str]]:
    """``--fault X`` pairs for the platform; everything else for the run."""
    stack: list[str] = []
    rest: list[str] = []
    args = iter(posargs)
    for arg in args:
        if arg == "--fault":
            stack += [arg, next(args, "")]
        elif arg.startswith("--fault="):
            stack.append(arg)
        else:
            rest.append(arg)
    return stack, rest


def _env_of(run_args: list[str]) -> str:
    """The environment a run targets: its ``--env``, else the configured default."""
    for at, arg in enumerate(run_args):
        if arg == "--env" and at + 1 < len(run_args):
            return run_args[at + 1]
        if arg.startswith("--env="):
            return arg.split("=", 1)[1]
    return DEFAULT_ENV


@contextlib.contextmanager
def _local_platform(session: nox.Session, run_args: list[str]) -> Iterator[None]:
    """For a run against ``local`` with no platform running, starts one and stops it after,
    so that ``nox -s phase2`` works on a laptop as it is; a running platform (started with
    ``nox -s stack -- start``, perhaps with faults) is used and left running. The platform
    it starts has the faults ``$CI_TOOLS_FAULTS`` names (e.g. ``redis_down``; space-separated),
    which is how a workflow played with ``environment: local`` injects one."""
    if _env_of(run_args) != "local":
        yield
        return
    status = str(session.run(*PLATFORM, "status", silent=True, success_codes=[0, 1, 3]))
    if "not running" not in status:
        if "STOPPED" in status:
            session.warn(
                "part of the local platform has stopped; restart it with "
                "nox -s stack -- stop, then nox -s stack -- start"
            )
        yield
        return
    session.log("the local platform is not running: starting it for this session")
    faults = [a for f in os.environ.get("CI_TOOLS_FAULTS", "").split() for a in ("--fault", f)]
    with _sigterm_as_interrupt():
        session.run(*PLATFORM, "start", "--baseline", *faults)
        try:
            yield
        finally:
            session.run(*PLATFORM, "stop")


def _run(
    session: nox.Session,
    posargs: list[str],
    *ci_tools_args: str,
    env: dict[str, str] | None = None,
    main_job: bool = False,
) -> None:
    """``ci-tools run``: ``--env``, ``--run-id``, ``--timeout``, ``--run-dir``, ``--shard``,
    ``--exit-zero``, ``--[no-]link-latest`` and ``--[no-]experiment`` go to ci-tools; the rest
    to pytest. Only the
    main job points ``reports/latest`` at its run, unless the arguments say otherwise."""
    own: list[str] = []
    rest: list[str] = []
    args = iter(posargs)
    for arg in args:
        if arg in ("--env", "--run-id", "--timeout", "--run-dir", "--results-dir", "--shard"):
            own += [arg, next(args, "")]
        elif arg in (
            "--exit-zero",
            "--link-latest",
            "--no-link-latest",
            "--experiment",
            "--no-experiment",
        ):
            own.append(arg)
        else:
            rest.append(arg)
    # A --run-dir run is not under reports/: latest is not its to move (ci-tools refuses).
    given = "--run-dir" in own or "--results-dir" in own
    latest = [] if given else ["--link-latest" if main_job else "--no-link-latest"]
    session.run(
        "ci-tools",
        "run",
        *ci_tools_args,
        *latest,
        *own,
        "--",
        *rest,
        env=env,
        interrupt_timeout=CANCEL_INTERRUPT_S,
        terminate_timeout=CANCEL_TERMINATE_S,
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the package's own tests (unit, plugin, integration against real servers)."""
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def faults(session: nox.Session) -> None:
    """The fault matrix: the main job per fault and pair, judged (-- -k agent_hang for one).

    Part of ``tests``; the cases are in tests/integration/fault_matrix.py."""
    _install(session, "test")
    session.run("pytest", "tests/integration/test_fault_matrix.py", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and type-check: ruff, mypy --strict, the floors, the workflows (zizmor, schema)."""
    _install(session, "test", "lint", "bench")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")  # the floors (pyproject.toml [tool.importlinter])
    workflows = sorted(str(p) for p in Path(".github/workflows").glob("*.yml"))
    session.run("zizmor", "--offline", *workflows)
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


@nox.session(python=PYTHON)
def stack(session: nox.Session) -> None:
    """Start, stop or inspect the reference platform: nox -s stack -- start|stop|status."""
    _install(session)
    # Exit 3 is `status` saying that nothing runs: an answer, not a failure.
    session.run(
        "python", "-m", "reference_platform", *(session.posargs or ["--help"]), success_codes=[0, 3]
    )


def _phase_session(number: str, title: str) -> Callable[[nox.Session], None]:
    def phase(session: nox.Session) -> None:
        _install(session)
        with _local_platform(session, session.posargs):
            _run(session, session.posargs, "--phase", number)

    phase.__doc__ = f"Phase {number}: {title} (local platform started if needed; -- --env staging)."
    return phase


for _number, _phase in PHASES.items():
    nox.session(python=PYTHON, name=f"phase{_number}")(
        _phase_session(_number, str(_phase["title"]))
    )


@nox.session(python=PYTHON)
def quick(session: nox.Session) -> None:
    """Phase 1 and the P1 tests, stopping at the first failure."""
    _install(session)
    with _local_platform(session, session.posargs):
        _run(session, session.posargs, "--quick")


@nox.session(python=PYTHON)
def full(session: nox.Session) -> None:
    """All phases in order, each gated on the one before (local platform started if needed)."""
    _install(session)
    with _local_platform(session, session.posargs):
        _run(session, session.posargs)


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Deployment context and the worklog for a run: -- --env ENV --run-dir reports/RUN."""
    _install(session)
    session.run("ci-tools", "context", *session.posargs)
    session.run("ci-tools", "report", *session.posargs)


@nox.session(python=PYTHON)
def gate(session: nox.Session) -> None:
    """A sharded phase's gate over all its shards: -- --phase N --shards K --run-dir DIR."""
    _install(session)
    session.run("ci-tools", "gate", *session.posargs)


@nox.session(python=PYTHON)
def e2e(session: nox.Session) -> None:
    """The main job: platform up, every phase gated, context, worklog, platform down."""
    _install(session)
    stack_args, run_args = _split_stack_args(session.posargs)
    fixed = [
        a
        for a in run_args
        if a.split("=")[0] in ("--env", "--run-id", "--run-dir", "--results-dir")
    ]
    if fixed:
        session.error(
            f"nox -s e2e runs the local platform under its own run id; {fixed[0]} "
            "belongs to nox -s full (or a phase session) against a running "
            "environment"
        )
    run_id = f"e2e-{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M%S}"
    run_dir = f"reports/{run_id}"
    env = {"CI_TOOLS_STACK_DIR": E2E_STACK_DIR, "CI_TOOLS_RUN_ID": run_id}
    session.run(*PLATFORM, "stop", env=env, silent=True)  # a platform left by a killed run
    verdict = "every gate met"
    with _sigterm_as_interrupt():
        # With the previous revision beside the candidate: the failures' experiment needs it.
        session.run(*PLATFORM, "start", "--baseline", *stack_args, env=env)
        try:
            try:
                _run(session, run_args, env=env, main_job=True)
            except nox.command.CommandFailed as failed:
                if failed.return_code != 1:  # not a missed gate: the run itself went wrong
                    raise
                verdict = "a gate was not met"
            session.run("ci-tools", "context", "--run-dir", run_dir, env=env)
            session.run("ci-tools", "report", "--run-dir", run_dir, env=env)
        finally:
            session.run(*PLATFORM, "stop", env=env)
    # The default retention ([tool.ci_tools.retention]), once the platform has stopped and
    # closed its logs: a line when anything went; a failure is said, never the job's verdict.
    pruned = session.run("ci-tools", "prune", silent=True, log=False, success_codes=[0, 1, 2])
    if isinstance(pruned, str) and pruned.strip():
        (session.warn if "error:" in pruned else session.log)(pruned.strip())
    session.log(f"run {run_id}: {verdict}; worklog: {run_dir}/worklog.md")
    if verdict != "every gate met":
        session.error(f"run {run_id}: {verdict}")


@nox.session(python=PYTHON)
def prune(session: nox.Session) -> None:
    """Remove old runs from reports/ and old platform logs: -- [--keep-runs N] [--dry-run]."""
    _install(session)
    session.run("ci-tools", "prune", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Rewrite the docs' examples and screenshots from real runs (-- --render-only: docs/runs).

    ``-- WORKLOG.md OUT.png [--width N] [--height N]`` screenshots one worklog instead."""
    _install(session, "docs")
    one = bool(session.posargs) and not session.posargs[0].startswith("-")
    mermaid: list[str] = []
    if one or "--no-screenshots" not in session.posargs:
        # The real Mermaid (npm) draws the trend chart, so a chart GitHub would reject fails.
        npm = Path(session.virtualenv.location or ".nox") / "npm"
        session.run(
            "npm", "install", "--no-save", "--silent", "--prefix", str(npm), MERMAID, external=True
        )
        library = npm / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
        mermaid = ["--mermaid", str(library)]
    # One main job at a time: scripts/generate_docs.py runs it under the fault matrix's lock.
    script = "scripts/screenshot_worklog.py" if one else "scripts/generate_docs.py"
    session.run("python", script, *session.posargs, *mermaid)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks (or those named after --); each prints its figure, and those with
    goals keep them for the README's performance table, rewritten at the end."""
    _install(session, "test", "bench")
    every = sorted(str(p) for p in Path("benchmarks").glob("[!_]*.py"))
    scripts = session.posargs or every
    missed = []
    for script in scripts:  # every benchmark prints its figure, even after one misses
        try:
            session.run("python", script)
        except nox.command.CommandFailed:
            missed.append(script)
    session.run("python", "benchmarks/_figures.py")  # the README's table, from what they kept
    if missed:
        session.error(f"goal missed: {', '.join(missed)}")
