"""ci_tools: decides, minutes after a staging deploy, whether the deploy is healthy.

It runs a phased end-to-end suite, attaches deployment context (Cloud Run revisions, Cloud
Logging entries) to every failure, and ends the run with an annotated worklog.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

from ci_tools._exceptions import CIToolsError, ConfigError

__all__ = ["CIToolsError", "ConfigError", "__version__"]


def __getattr__(name: str) -> str:
    # Looked up on first use: the pytest plugin imports this package in every test run.
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415

        return version("ci_tools")
    raise AttributeError(f"module 'ci_tools' has no attribute {name!r}")
