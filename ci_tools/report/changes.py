"""What changed in code between the last healthy run and this one: the brief's "recent
infrastructure-related commits", infrastructure-looking ones first. ``git log`` is run at the
edge (``since``, ``head``); reading and ranking its output is pure."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

# Paths and subjects that look like infrastructure: deploy files, images, workflows, env or
# secret names, dependencies.
INFRA_PATH = re.compile(
    r"(^|/)(Dockerfile|docker-compose[^/]*|cloudbuild[^/]*|\.github/workflows/[^/]+|"
    r"[^/]*\.tf|k8s/.*|deploy/.*|helm/.*|[^/]*\.env[^/]*|requirements[^/]*\.txt|"
    r"pyproject\.toml|package(-lock)?\.json|service\.ya?ml)$",
    re.IGNORECASE,
)
INFRA_SUBJECT = re.compile(
    r"\b(deploy|docker|image|secret|env(ironment)? var|cloud ?run|terraform|redis|postgres|"
    r"database|migration|infra|vpc|timeout|scaling|memory)\b",
    re.IGNORECASE,
)
SEPARATOR = "\x1e"  # git log --format=%x1e%h%x09%s --name-only: a record separator per commit


@dataclasses.dataclass(frozen=True)
class Commit:
    """One commit between the two runs."""

    sha: str
    subject: str
    files: tuple[str, ...]

    @property
    def infrastructure(self) -> bool:
        """Whether it touches deploy files, images, workflows, env or dependencies, or says
        so in its subject."""
        return any(INFRA_PATH.search(f) for f in self.files) or bool(
            INFRA_SUBJECT.search(self.subject)
        )


def parse_log(text: str) -> list[Commit]:
    """Commits from ``git log --format=%x1e%h%x09%s --name-only``, newest first."""
    commits = []
    for block in text.split(SEPARATOR):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        sha, _, subject = lines[0].partition("\t")
        commits.append(Commit(sha.strip(), subject.strip(), tuple(lines[1:])))
    return commits


def ranked(commits: list[Commit], limit: int = 10) -> list[Commit]:
    """Infrastructure-looking commits first, each group newest first; at most ``limit``."""
    return sorted(commits, key=lambda c: not c.infrastructure)[:limit]


def _git(root: Path, *args: str) -> str | None:
    """What ``git ARGS`` prints in the checkout; None without git, a repository, or an
    answer within 5 s."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(
            [git, *args], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def head(root: Path, sha: str | None = None) -> str:
    """The commit under test, 12 characters: the workflow's (``sha``), else the checkout's
    HEAD; "unknown" without either."""
    if sha:
        return sha[:12]
    return (_git(root, "rev-parse", "--short=12", "HEAD") or "").strip() or "unknown"


def since(root: Path, healthy: str, until: str) -> list[Commit]:
    """The commits after ``healthy`` (the last healthy run's) up to ``until`` in the
    checkout, ranked, when git has both."""
    if not healthy or not until or "unknown" in (healthy, until) or healthy == until:
        return []
    log = _git(root, "log", f"--format={SEPARATOR}%h%x09%s", "--name-only", f"{healthy}..{until}")
    return ranked(parse_log(log)) if log else []
