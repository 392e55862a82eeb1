"""Writes the files of a run's directory, each whole or not at all.

Every writer goes through ``write_all`` (``write_atomically`` for one file): each file is
written to a temporary file beside it, flushed to the disk (fsync), then renamed over the old
one, and the folder is synced so that the rename survives a power cut. A reader (another test
process, another shard, a later stage) never sees half a file; a kill, a full disk or a
directory in the file's place leaves the last complete file. A file that cannot be written is
a ``RunDirError`` naming it and what to do.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ci_tools._exceptions import RunDirError
from ci_tools.rundir import paths

if TYPE_CHECKING:  # the plugin loads this module: what it writes is imported where used
    from ci_tools.context.model import Context
    from ci_tools.phases import GateResult
    from ci_tools.rundir.identity import RunIdentity
    from ci_tools.rundir.verdict import RunVerdict

__all__ = [
    "context",
    "gate",
    "identify",
    "identity",
    "junit",
    "link_latest",
    "report",
    "verdict",
    "worklog",
    "write_all",
    "write_atomically",
]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)  # POSIX only: elsewhere the flags are not there
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)

# What to do when a write fails, by its errno; anything else: check the folder.
_ADVICE = {
    errno.ENOSPC: "free space on its file system",
    errno.EDQUOT: "raise the disk quota of its file system (or free space)",
    errno.EFBIG: "raise the file-size limit (ulimit -f)",
    errno.EISDIR: "move away the directory in its place",
    errno.ENOTDIR: "move away the file in place of its folder",
    errno.EEXIST: "move away the file in place of its folder",
    errno.EACCES: "make its folder writable",
    errno.EPERM: "make its folder writable",
    errno.EROFS: "write the run to a writable file system (--run-dir)",
}


def _failed(path: Path, exc: OSError) -> RunDirError:
    """The one-line error of a file that could not be written."""
    advice = _ADVICE.get(exc.errno or 0, f"check that {path.parent} is a writable folder")
    return RunDirError(
        f"could not write {path}: {exc.strerror or exc}; {advice}, then run the command again "
        f"(the previous {path.name}, if any, is kept)"
    )


def _staged(path: Path, content: str | bytes) -> Path:
    """``content`` in a new temporary file beside ``path``, on the disk; removed again when
    anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():  # os.replace would fail only after the other files of a set were renamed
        raise IsADirectoryError(errno.EISDIR, "a directory is in its place", str(path))
    data = content.encode("utf-8") if isinstance(content, str) else content
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temporary


def _sync_folder(folder: Path) -> None:
    """Flushes the folder's entries (the renames) to the disk, where the system allows it."""
    with contextlib.suppress(OSError):  # e.g. a file system that cannot sync a directory
        fd = os.open(folder, os.O_RDONLY | _DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_all(files: Mapping[Path, str | bytes]) -> None:
    """Writes every file whole, or, when one cannot be written (a full disk, a directory in
    its place), none: each is staged and synced beside its place first, then all are renamed
    in the given order (the one a workflow acts on last). ``RunDirError`` names the file."""
    staged: list[tuple[Path, Path]] = []
    current = Path()
    try:
        for current, content in files.items():
            staged.append((current, _staged(current, content)))
        for current, temporary in staged:
            os.replace(temporary, current)
    except OSError as exc:
        raise _failed(current, exc) from exc
    finally:
        for _, temporary in staged:
            temporary.unlink(missing_ok=True)  # those not renamed, when something failed
    for folder in dict.fromkeys(path.parent for path in files):
        _sync_folder(folder)


def write_atomically(path: Path, content: str | bytes) -> None:
    """Writes ``content`` to ``path`` whole or not at all: readers (other test processes,
    other shards) never see half a file, and a failure leaves the last complete one."""
    write_all({path: content})


def link_latest(reports: Path, run_id: str) -> None:
    """Points ``reports/latest`` at run ``run_id`` in one step (a new link renamed over the
    old one: never a moment without it); a file system without symlinks loses nothing, as
    the link is a convenience for people only."""
    latest = paths.latest(reports)
    temporary = latest.with_name(f".{latest.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        temporary.symlink_to(paths.check_run_id(run_id, "the run id"))
        os.replace(temporary, latest)  # a real folder named latest stays: replace refuses it
    except OSError:
        temporary.unlink(missing_ok=True)


def _json(document: object) -> str:
    return json.dumps(document, indent=2) + "\n"


def gate(run: Path, result: GateResult, shard_index: int | None = None) -> Path:
    """Writes phase N's gate (a shard's, over its own tests, when given)."""
    path = paths.gate(run, result.phase, shard_index)
    write_atomically(path, _json(result.as_json()))
    return path


def context(run: Path, found: Context) -> Path:
    """Writes the deployment context of the run's failures, redacted once more as a whole:
    nothing secret-looking leaves, whatever a source returned."""
    from ci_tools.redact import redact_data  # noqa: PLC0415 - the context stage's alone

    path = paths.context(run)
    write_atomically(path, _json(redact_data(found.as_json())))
    return path


def identity(run: Path, found: RunIdentity) -> Path:
    """Writes ``run.json``, the run's identity."""
    path = paths.identity(run)
    write_atomically(path, _json(found.as_json()))
    return path


def identify(run: Path, run_id: str) -> None:
    """Writes ``run.json`` naming the run ``run_id`` (attempt 1; the report stage in Actions
    puts the run's attempt), unless the run already names itself: its later phases and the
    copies of its folder keep who it is."""
    from ci_tools.rundir.identity import RunIdentity  # noqa: PLC0415 - see TYPE_CHECKING

    if not paths.identity(run).exists():
        identity(run, RunIdentity(run_id))


def verdict(run: Path, document: RunVerdict) -> Path:
    """Writes ``verdict.json``."""
    path = paths.verdict(run)
    write_atomically(path, _json(document.as_json()))
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


def report(
    run: Path, *, worklog: str, verdict: RunVerdict, junit: str, identity: RunIdentity
) -> None:
    """Writes the report stage's files as one set, whole or none of them: the run's
    identity, the JUnit XML, the worklog, and ``verdict.json`` (what a workflow acts on)
    last."""
    write_all(
        {
            paths.identity(run): _json(identity.as_json()),
            paths.junit(run): junit,
            paths.worklog(run): worklog,
            paths.verdict(run): _json(verdict.as_json()),
        }
    )
