"""Where a failure was raised, read from its report's traceback: the last frame inside the
repository, what that frame is to the suite (the test's body, a helper, a fixture, a module
that could not be collected), and the library of the innermost frame when that is outside.

Read from what pytest already formatted (``report.longrepr``: the same objects in this
process, in a forked worker's or an xdist worker's replayed reports), and only for reports
that failed: the recorder loads this module on a run's first failure, never before.

PYTEST_DONT_REWRITE: loaded with the plugin in test runs, it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import PurePath
from typing import Any

import pytest

from ci_tools.records import Frame

# Folders of installed packages: a frame under one is a library's, even inside the rootdir
# (a virtualenv in the project, nox's or tox's environments).
_INSTALLED = frozenset({"site-packages", "dist-packages", ".venv", ".nox", ".tox"})
_PACKAGES = ("site-packages", "dist-packages")
_INTERPRETER = re.compile(r"python\d+(\.\d+)?t?")  # lib/python3.11/: a standard library's folder
# One frame of a traceback as text: pytest's "path:line: in name" (short style, and the text
# of an ImportError at collection) and Python's own 'File "path", line N, in name' (--tb=native,
# and where a SyntaxError points).
_PYTEST_LOCATION = re.compile(r"^(?P<path>\S.*?):(?P<line>\d+): in (?P<name>\S+)$")
_PYTHON_LOCATION = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<name>\S+))?')
# A FixtureLookupError's requesting function: "file /path/test_x.py, line 14".
_LOOKUP_LOCATION = re.compile(r"^file (?P<path>.+), line (?P<line>\d+)$")
_DEF = re.compile(r"\b(?:async\s+)?def\s+(\w+)")
_TYPE_NAME = re.compile(r"[A-Za-z_][\w.]*")
_SOURCE_PREFIX = 4  # pytest prefixes each source line with "    " or ">   "


@dataclasses.dataclass(frozen=True)
class Repository:
    """Where the suite's own code is: files under ``root`` (pytest's rootdir) that are not in
    an environment's installed packages. ``cwd``: the folder pytest writes traceback paths
    relative to (its invocation folder)."""

    root: str
    cwd: str

    def relative(self, path: str) -> str | None:
        """``path`` (as a traceback has it) relative to the rootdir, with ``/``; None when it
        is outside the repository (another folder, installed packages, ``<frozen ...>``)."""
        if path.startswith("<"):
            return None
        full = self.full(path)
        root = self.root.rstrip(os.sep) + os.sep
        if not full.startswith(root):
            return None
        inside = PurePath(full[len(root) :])
        if _INSTALLED.intersection(inside.parts):
            return None
        return inside.as_posix()

    def full(self, path: str) -> str:
        """``path`` as an absolute path (an absolute one stays as is; ``<frozen ...>`` too)."""
        return path if path.startswith("<") else os.path.normpath(os.path.join(self.cwd, path))


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a failure was raised: see ``ci_tools.records.Failure`` (``where``, ``frame``,
    ``library``)."""

    where: str = ""
    frame: Frame = ""
    library: str = ""


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One frame of a formatted traceback: its path as written, line (1-based), function."""

    path: str
    line: int
    name: str


def of_test(report: pytest.TestReport, repository: Repository) -> Origin:
    """Where a failed test's report was raised: ``frame`` is "fixture" in setup or teardown,
    "test" when the last frame inside the repository is the test function itself, "helper"
    for any other function of the repository."""
    entries = _entries(report.longrepr)
    if not entries:
        return Origin()
    where, last, library = _placed(entries, repository)
    frame: Frame
    if report.when in ("setup", "teardown"):
        frame = "fixture"
    elif last is None:
        frame = ""
    else:
        file, _, domain = report.location
        function = domain.split("[", 1)[0].rsplit(".", 1)[-1]  # "TestK.test_m[1]": test_m
        # A frame whose function pytest could not show (no source) counts by its file alone.
        own = last[0] == PurePath(file).as_posix() and last[1].name in ("", function)
        frame = "test" if own else "helper"
    return Origin(where, frame, library)


def of_collection(report: pytest.CollectReport, repository: Repository) -> Origin:
    """Where a module (or folder) that could not be collected raised."""
    entries = _entries(report.longrepr)
    where, _, library = _placed(entries, repository) if entries else ("", None, "")
    return Origin(where, "collection", library)


def syntax_error_place(text: str) -> tuple[str, int] | None:
    """The file name and line a SyntaxError points at, as Python's own message of it ends
    (``invalid syntax (test_x.py, line 3)``), from the text pytest wrote; None without one."""
    for line in reversed(text.splitlines()):
        found = _PYTHON_LOCATION.search(line) if line.startswith("E ") else None
        if found:
            return PurePath(found["path"]).name, int(found["line"])
    return None


def _placed(
    entries: list[_Entry], repository: Repository
) -> tuple[str, tuple[str, _Entry] | None, str]:
    """The last frame inside the repository (as ``where`` and as its relative path and entry)
    and the library of the innermost frame ("" when that one is the repository's)."""
    last = None
    for entry in reversed(entries):
        relative = repository.relative(entry.path)
        if relative is not None:
            last = (relative, entry)
            break
    innermost = entries[-1]
    library = (
        "" if last is not None and last[1] is innermost else _library(innermost.path, repository)
    )
    if last is None:
        return "", None, library
    relative, entry = last
    where = f"{relative}:{entry.line} in {entry.name}" if entry.name else f"{relative}:{entry.line}"
    return where, last, library


def _library(path: str, repository: Repository) -> str:
    """The top-level package of a file outside the repository: ``.../site-packages/httpx/
    _client.py`` is httpx, ``.../lib/python3.11/asyncio/streams.py`` asyncio, ``socket.py``
    socket, ``<frozen importlib._bootstrap>`` importlib; "" when it cannot be told."""
    if path.startswith("<frozen "):
        return path[len("<frozen ") :].rstrip(">").split(".", 1)[0]
    if path.startswith("<"):  # <string>, <stdin>: code without a file
        return ""
    full = repository.full(path)
    parts = PurePath(full).parts
    for marker in _PACKAGES:
        if marker in parts:
            at = len(parts) - 1 - parts[::-1].index(marker)
            return _module(parts[at + 1]) if at + 1 < len(parts) else ""
    for folder in _standard_library():
        if full.startswith(folder):
            return _module(PurePath(full[len(folder) :]).parts[0])
    for at, part in enumerate(parts[:-1]):  # another interpreter's standard library
        if _INTERPRETER.fullmatch(part):
            return _module(parts[at + 1])
    return ""


def _module(name: str) -> str:
    """A package folder's or a module file's importable name (``socket.py``: socket)."""
    return name.split(".", 1)[0]


@functools.cache
def _standard_library() -> tuple[str, ...]:
    """This interpreter's standard library folders, each ending in a separator (read on the
    first failure that needs them, never on import)."""
    import sysconfig  # noqa: PLC0415 - a run without failures never needs it

    paths = sysconfig.get_paths()
    folders = {os.path.normpath(paths[key]) for key in ("stdlib", "platstdlib") if key in paths}
    return tuple(folder.rstrip(os.sep) + os.sep for folder in folders)


def _entries(longrepr: Any) -> list[_Entry]:
    """The frames of a report's traceback, outermost first: of the last exception of a chain
    (the one reported), from pytest's entries (long, short, auto and native styles) or, where
    the report holds only text (an error at collection, a fixture nobody defines, a report
    replayed from a worker), from that text. Empty where the style keeps no location
    (``--tb=line``/``no`` at setup, ``pytest.fail(pytrace=False)``)."""
    traceback = getattr(longrepr, "reprtraceback", None)
    if traceback is None:
        return _text_entries(str(longrepr)) if longrepr is not None else []
    entries: list[_Entry] = []
    for entry in getattr(traceback, "reprentries", ()):
        location = getattr(entry, "reprfileloc", None)
        if location is not None:
            message = str(location.message)
            name = message[3:] if message.startswith("in ") else _defined(entry.lines)
            entries.append(_Entry(str(location.path), int(location.lineno), name))
        else:  # --tb=native: Python's own traceback text; --tb=line/no: nothing
            entries.extend(_text_entries("\n".join(getattr(entry, "lines", ()))))
    crash = getattr(longrepr, "reprcrash", None)
    if not entries and crash is not None:  # the innermost frame, which pytest always keeps
        entries.append(_Entry(str(crash.path), int(crash.lineno), ""))
    return entries


def raised_type(longrepr: Any) -> str:
    """The exception's type as a long-style traceback's last entry names it (pytest's crash
    line leaves it out for a failed ``assert``: ``assert 1 == 2``); "" without one."""
    traceback = getattr(longrepr, "reprtraceback", None)
    entries = getattr(traceback, "reprentries", None)
    location = getattr(entries[-1], "reprfileloc", None) if entries else None
    message = str(location.message) if location is not None else ""
    return message if _TYPE_NAME.fullmatch(message) else ""


def _text_entries(text: str) -> list[_Entry]:
    """The frames of a traceback written as text (pytest's short style, Python's own, the
    test a FixtureLookupError names), with the place a SyntaxError points at (in its
    message's ``E   File "...", line N`` lines) as the innermost."""
    entries: list[_Entry] = []
    pointed, requester = None, False
    for line in text.splitlines():
        if line.startswith("E "):
            pointed = _PYTHON_LOCATION.search(line) or pointed
            continue
        defined = _DEF.match(line.strip()) if requester else None
        if defined is not None:  # the function below a FixtureLookupError's "file" line
            entries[-1] = dataclasses.replace(entries[-1], name=defined.group(1))
            requester = False
            continue
        found = _PYTEST_LOCATION.match(line)
        if found is None and line.lstrip().startswith("File "):
            found = _PYTHON_LOCATION.search(line)
        lookup = _LOOKUP_LOCATION.match(line) if found is None else None
        if lookup is not None:
            entries.append(_Entry(lookup["path"], int(lookup["line"]), ""))
            requester = True
        elif found is not None:
            entries.append(_Entry(found["path"], int(found["line"]), found["name"] or ""))
    if pointed is not None:
        entries.append(_Entry(pointed["path"], int(pointed["line"]), ""))
    return entries


def _defined(lines: Any) -> str:
    """The function a long-style entry's source shows (it starts at the function's first line,
    its decorators first); "" for module-level code or a source pytest could not read."""
    for line in lines:
        code = str(line)[_SOURCE_PREFIX:]
        if not code or code[0] in " \t)]}@#":  # indented, a decorator or its continuation
            continue
        found = _DEF.match(code)
        return found.group(1) if found else ""
    return ""
