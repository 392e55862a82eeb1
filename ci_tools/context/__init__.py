"""Deployment context: Cloud Run revisions and Cloud Logging entries attached to failures.

One interface (:mod:`ci_tools.context.sources`), several sources: Google's APIs
(:mod:`~ci_tools.context.cloudrun`, :mod:`~ci_tools.context.logging`) or the reference
platform's files (:mod:`~ci_tools.context.local`). :func:`gather` builds a run's ``Context``.
"""

from __future__ import annotations

from ci_tools.context.baseline import BaselineUrls, baseline_urls
from ci_tools.context.gather import ContextRequest, Rerun, gather
from ci_tools.context.model import Context, ServiceContext, TestContext
from ci_tools.context.sources import LogQuery, LogSource, RevisionSource, SourceError

__all__ = [
    "BaselineUrls",
    "Context",
    "ContextRequest",
    "LogQuery",
    "LogSource",
    "Rerun",
    "RevisionSource",
    "ServiceContext",
    "SourceError",
    "TestContext",
    "baseline_urls",
    "gather",
]
