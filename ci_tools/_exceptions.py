"""The package's exceptions, under one root.

CIToolsError            anything ci_tools refuses or cannot do; the message says what to do
├── GateFileError       a phase's gate file is unreadable (e.g. a truncated artifact)
├── HistoryError        the run store cannot be opened, read or written (a warning: the
│                       worklog renders without history)
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
    """The run store is locked, corrupt, newer than this ci_tools, or unreachable."""


class ConfigError(CIToolsError):
    """Configuration or usage is wrong; the message names the key or option and the fix."""
