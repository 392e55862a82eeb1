"""ci_tools: decides, minutes after a staging deploy, whether the deploy is healthy.

It runs a phased end-to-end suite, attaches deployment context (Cloud Run revisions, Cloud
Logging entries) to every failure, and ends the run with an annotated worklog.
"""

from __future__ import annotations

from importlib.metadata import version as _version

from ci_tools._exceptions import CIToolsError, ConfigError

__version__ = _version("ci_tools")
__all__ = ["CIToolsError", "ConfigError", "__version__"]
