"""The interface every context source offers, and the query they answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import Any, Protocol

from ci_tools._exceptions import CIToolsError


class SourceError(CIToolsError):
    """A source could not answer; the message is one line saying why (and what to do)."""


@dataclasses.dataclass(frozen=True)
class LogQuery:
    """Entries of one service in a window: of these traces, or at least this severity."""

    service: str
    start: dt.datetime
    end: dt.datetime
    trace_ids: tuple[str, ...] = ()
    min_severity: str | None = None


class RevisionSource(Protocol):
    """Where Service and Revision resources come from (Cloud Run Admin API v2 JSON).

    Methods raise SourceError, never anything else, when they cannot answer.
    """

    project: str
    region: str
    requests: Counter[str]  # requests made, per API

    def service(self, name: str) -> dict[str, Any]:
        """The Service resource."""
        ...

    def revisions(self, name: str) -> list[dict[str, Any]]:
        """The service's recent Revision resources, in any order."""
        ...

    def revision_url(self, name: str) -> str:
        """Where a reviewer sees the service's revisions."""
        ...


class LogSource(Protocol):
    """Where LogEntry resources come from (Cloud Logging v2 JSON)."""

    requests: Counter[str]

    def entries(self, query: LogQuery) -> list[dict[str, Any]]:
        """The entries matching the query, oldest first; SourceError when it cannot answer."""
        ...

    def filter_text(self, query: LogQuery) -> str:
        """The query as a Logs Explorer filter (for links)."""
        ...

    def logs_url(self, query: str, start: str, end: str) -> str:
        """Where a reviewer sees the entries of a filter over a window."""
        ...

    def trace_url(self, trace_id: str) -> str:
        """Where a reviewer sees one trace."""
        ...
