"""Test defects for the fault matrix: a copy of the project's suite broken the way teams break
their own tests, the committed tests left untouched.

:func:`broken_copy` writes a project the main job can run from (``nox -f COPY/noxfile.py -s
e2e``): the files the main job reads (``pyproject.toml``, ``noxfile.py``, ``tests/__init__.py``,
``tests/conftest.py`` and the whole ``tests/e2e``) with one defect applied, and the checkout's
``.stack`` and ``reports`` linked in, so the copy's run uses the matrix's one platform folder
(under its lock, with the revisions of the runs before it) and writes its run where every
other case does. The copy is a git repository of two commits, the suite as checked out and
then the defect, so what the suite's files did since the last healthy run is in its history,
as it would be in a real repository.

Each defect is one exact edit; when the suite changes under it, the edit no longer finds its
text and the copy is refused naming the file, rather than a case silently running a
healthy suite.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("pyproject.toml", "noxfile.py", "tests/__init__.py", "tests/conftest.py")
SUITE = "tests/e2e"
LINKED = (".stack", "reports")  # the checkout's: the platform's folder and the runs
GIT_TIMEOUT_S = 30.0


class SuiteDefectError(Exception):
    """A suite defect that cannot be applied: unknown, or its edit no longer fits the suite."""


@dataclasses.dataclass(frozen=True)
class Edit:
    """One exact replacement in one file of the suite (the text must occur exactly once)."""

    path: str  # from the project root
    old: str
    new: str


@dataclasses.dataclass(frozen=True)
class SuiteDefect:
    """A defect of the suite: its name, what it breaks (the defect's commit subject), and
    the edit that makes it."""

    name: str
    what: str
    edit: Edit


SUITE_DEFECTS: tuple[SuiteDefect, ...] = (
    SuiteDefect(
        "helper_bug",
        "the shared messages() helper reads /api/thread/{id}/messages (no such path: 404)",
        Edit(
            "tests/e2e/client.py",
            'f"{self.backend}/api/threads/{thread_id}/messages", headers=session.headers',
            'f"{self.backend}/api/thread/{thread_id}/messages", headers=session.headers',
        ),
    ),
    SuiteDefect(
        "wrong_assertion",
        "a second signup of a taken email is expected to be 400 (the API answers 409)",
        Edit(
            "tests/e2e/phase3_features/test_auth_refresh.py",
            "assert again.status_code == 409,",
            "assert again.status_code == 400,",
        ),
    ),
    SuiteDefect(
        "fixture_error",
        "the user fixture logs in FIRST_USER, a name defined nowhere (NameError)",
        Edit(
            "tests/e2e/conftest.py", "return platform.login(0)", "return platform.login(FIRST_USER)"
        ),
    ),
    SuiteDefect(
        "import_error",
        "test_agent_pipeline imports wait_for_answer, a helper tests/e2e/client.py does not have",
        Edit(
            "tests/e2e/phase2_critical/test_agent_pipeline.py",
            "from tests.e2e.client import Platform, Session\n",
            "from tests.e2e.client import Platform, Session, wait_for_answer\n",
        ),
    ),
)
BY_NAME = {defect.name: defect for defect in SUITE_DEFECTS}


def defect(name: str) -> SuiteDefect:
    """The named defect; SuiteDefectError naming the valid ones otherwise."""
    found = BY_NAME.get(name)
    if found is None:
        raise SuiteDefectError(f"unknown suite defect {name!r}: choose from {', '.join(BY_NAME)}")
    return found


def broken(text: str, edit: Edit) -> str:
    """The text with the edit made; SuiteDefectError when its old text is not there exactly
    once (the suite changed: the defect must be written anew)."""
    count = text.count(edit.old)
    if count != 1:
        raise SuiteDefectError(
            f"{edit.path} holds {edit.old!r} {count} times, not once: the suite changed, so "
            "update its edit in tests/integration/suite_defects.py"
        )
    return text.replace(edit.old, edit.new)


def broken_copy(name: str, into: Path, root: Path = ROOT) -> Path:
    """Writes the project with the named defect into the empty folder ``into`` (returned):
    the suite's files copied, the defect applied and committed after the suite as it was,
    the checkout's platform folder and runs linked in."""
    chosen = defect(name)
    git = shutil.which("git")
    if git is None:
        raise SuiteDefectError("git not found on PATH: the broken copy is a git repository")
    for relative in PROJECT_FILES:
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, into / relative)
    shutil.copytree(
        root / SUITE, into / SUITE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for linked in LINKED:
        (root / linked).mkdir(exist_ok=True)
        (into / linked).symlink_to(root / linked, target_is_directory=True)

    def commit(subject: str) -> None:
        for args in (("add", "-A"), ("commit", "-q", "--no-verify", "-m", subject)):
            _git(git, into, *args)

    _git(git, into, "init", "-q")
    (into / ".git" / "info" / "exclude").write_text(
        "".join(f"/{linked}\n" for linked in LINKED) + "__pycache__/\n"
    )
    commit("the suite as checked out")
    target = into / chosen.edit.path
    target.write_text(broken(target.read_text(), chosen.edit))
    commit(f"tests: {chosen.what}")
    return into


def _git(git: str, cwd: Path, *args: str) -> None:
    identity = (
        *("-c", "user.name=fault matrix", "-c", "user.email=fault-matrix@localhost"),
        *("-c", "commit.gpgsign=false"),
    )
    # Without the caller's GIT_* variables: under a git hook GIT_DIR or GIT_INDEX_FILE would
    # point these commands at the checkout's repository instead of the copy's.
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    command = f"git {' '.join(args)} in {cwd}"
    try:
        subprocess.run(
            [git, *identity, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        raise SuiteDefectError(
            f"{command} failed: {exc.stderr.strip() or f'exit {exc.returncode}'}"
        ) from None
    except subprocess.TimeoutExpired:
        raise SuiteDefectError(
            f"{command} did not finish within {GIT_TIMEOUT_S:g} s: run it there by hand to see why"
        ) from None
