"""The interface every context source offers, and the query they answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import Counter
from typing import Any, Protocol

from ci_tools._exceptions import CIToolsError


class RequestCounter:
    """API requests made, per API; safe to bump from the stage's worker threads."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, api: str) -> None:
        """Counts one request."""
        with self._lock:
            self._counts[api] += 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far."""
        with self._lock:
            return dict(self._counts)


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
    requests: RequestCounter

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

    requests: RequestCounter

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
