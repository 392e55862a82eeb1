"""The package's exceptions, under one root.

CIToolsError            anything ci_tools refuses or cannot do; the message says what to do
└── ConfigError         [tool.ci_tools] or a command-line value is wrong (CLI exit 2)

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations


class CIToolsError(Exception):
    """The root of every error ci_tools raises on purpose."""


class ConfigError(CIToolsError):
    """Configuration or usage is wrong; the message names the key or option and the fix."""
