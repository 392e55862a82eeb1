"""Writes the files of a run's directory, each whole or not at all.

Every writer goes through ``write_atomically``: a reader (another test process, another
shard, a later stage) never sees half a file, and a kill leaves the last complete one.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ci_tools.rundir import paths

if TYPE_CHECKING:  # the plugin loads this module: what it writes is imported where used
    from ci_tools.context.model import Context
    from ci_tools.phases import GateResult
    from ci_tools.rundir.verdict import RunVerdict

__all__ = ["context", "gate", "junit", "verdict", "worklog", "write_atomically"]


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` whole or not at all: readers (other test processes, other
    shards) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def gate(run: Path, result: GateResult, shard_index: int | None = None) -> Path:
    """Writes phase N's gate (a shard's, over its own tests, when given)."""
    path = paths.gate(run, result.phase, shard_index)
    write_atomically(path, json.dumps(result.as_json(), indent=2) + "\n")
    return path


def context(run: Path, found: Context) -> Path:
    """Writes the deployment context of the run's failures, redacted once more as a whole:
    nothing secret-looking leaves, whatever a source returned."""
    from ci_tools.redact import redact_data  # noqa: PLC0415 - the context stage's alone

    path = paths.context(run)
    write_atomically(path, json.dumps(redact_data(found.as_json()), indent=2) + "\n")
    return path


def verdict(run: Path, document: RunVerdict) -> Path:
    """Writes ``verdict.json``."""
    path = paths.verdict(run)
    write_atomically(path, json.dumps(document.as_json(), indent=2) + "\n")
    return path


def worklog(run: Path, text: str) -> Path:
    """Writes the worklog (Markdown)."""
    path = paths.worklog(run)
    write_atomically(path, text)
    return path


def junit(run: Path, text: str) -> Path:
    """Writes the run's JUnit XML."""
    path = paths.junit(run)
    write_atomically(path, text)
    return path
