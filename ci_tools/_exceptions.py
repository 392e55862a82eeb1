"""The package's exceptions, under one root.

CIToolsError            anything ci_tools refuses or cannot do; the message says what to do
├── GateFileError       a phase's gate file is unreadable (e.g. a truncated artifact)
├── HistoryError        the run store cannot be opened, read or written (for a report, a
│                       warning that the run was not recorded; elsewhere CLI exit 2)
├── RunDirError         a file of a run's directory cannot be written (a full disk, a
│                       directory in its place) or its identity is unreadable (CLI exit 2)
└── ConfigError         [tool.ci_tools] or a command-line value is wrong (CLI exit 2)

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations


class CIToolsError(Exception):
    """The root of every error ci_tools raises on purpose."""


class GateFileError(CIToolsError):
    """A phase's gate file cannot be read; ``reason`` says why, without the advice."""

    def __init__(self, path: str, reason: str, phase: int) -> None:
        super().__init__(f"{path} is unreadable ({reason}): delete it and run phase {phase} again")
        self.path = path
        self.reason = reason


class HistoryError(CIToolsError):
    """The run store is locked, corrupt, newer than this ci_tools, unreachable, or cannot be
    made: ``where`` is its URL without the password, ``reason`` what is wrong with it (said
    of the store: "is locked ..."), ``fix`` what to do."""

    def __init__(self, where: str, reason: str, fix: str) -> None:
        super().__init__(where, reason, fix)  # args, so that it pickles across processes
        self.where = where
        self.reason = reason
        self.fix = fix

    def __str__(self) -> str:
        return f"the run store at {self.where} {self.reason}: {self.fix}"

    def not_recorded(self) -> str:
        """The line for a run this kept out of the store."""
        where, reason, fix = self.where, self.reason, self.fix
        return f"this run was not recorded in the run store ({where}): it {reason}; {fix}"


class RunDirError(CIToolsError):
    """A run's file cannot be written, or the run's own identity cannot be read; the message
    names the file and what to do, and what was there before is kept."""


class ConfigError(CIToolsError):
    """Configuration or usage is wrong; the message names the key or option and the fix."""
