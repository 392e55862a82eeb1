"""What changed in code between the last healthy run and this one, from ``git log`` output:
the brief's "recent infrastructure-related commits", infrastructure-looking ones first. Pure:
the report stage runs git and passes its output here."""

from __future__ import annotations

import dataclasses
import re

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
