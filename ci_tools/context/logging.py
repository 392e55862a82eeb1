"""Log entries from Cloud Logging v2 ``entries:list`` (``google-cloud-logging``).

The client is created here and nowhere else, over HTTP, with an endpoint override
(``CI_TOOLS_LOGGING_ENDPOINT`` or config). Reads are batched: all trace ids of a service go
into one filter (split only past Cloud Logging's 20,000-character limit), and every filter
carries an explicit timestamp bound, because the API allows about 60 reads a minute.
"""

from __future__ import annotations

import threading
from typing import Any

from google.auth.transport.requests import AuthorizedSession
from google.cloud import logging as cloud_logging

from ci_tools.context import analysis
from ci_tools.context._google import call, credentials_for
from ci_tools.context.sources import LogQuery, RequestCounter

PAGE_SIZE = 1000
MAX_ENTRIES = 5000  # per query: a flood of errors is summarised, not downloaded


class _BoundedSession(AuthorizedSession):
    """A session whose every request has a short timeout and is counted.

    The logging client's default timeout is 60 s per request; this caps it.
    """

    def __init__(self, credentials: Any, timeout_s: float, counter: RequestCounter) -> None:
        super().__init__(credentials)
        self._timeout = timeout_s
        self._counter = counter

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Sends one request with the capped timeout."""
        timeout = kwargs.get("timeout")
        kwargs["timeout"] = self._timeout if timeout is None else min(float(timeout), self._timeout)
        self._counter.add("logging")
        return super().request(method, url, *args, **kwargs)


class CloudLoggingSource:
    """Entries of one project's Cloud Run services."""

    def __init__(
        self, project: str, endpoint: str | None, timeout_s: float, deadline: float
    ) -> None:
        self.project = project
        self.requests = RequestCounter()
        self._endpoint = endpoint
        self._timeout = timeout_s
        self._deadline = deadline
        self._client: cloud_logging.Client | None = None
        self._lock = threading.Lock()

    def _make_client(self) -> cloud_logging.Client:
        with self._lock:  # the stage's threads share one client
            return self._client_locked()

    def _client_locked(self) -> cloud_logging.Client:
        if self._client is None:
            creds, _ = credentials_for(self._endpoint)
            options = {"api_endpoint": self._endpoint} if self._endpoint else None
            self._client = cloud_logging.Client(
                project=self.project,
                credentials=creds,
                client_options=options,
                _http=_BoundedSession(creds, self._timeout, self.requests),
                _use_grpc=False,
            )
        return self._client

    def filters(self, query: LogQuery) -> list[str]:
        """The filters that together answer the query."""
        if query.trace_ids:
            return analysis.trace_filters(
                query.service, self.project, query.trace_ids, query.start, query.end
            )
        return [self.filter_text(query)]

    def filter_text(self, query: LogQuery) -> str:
        """The query as one Logs Explorer filter."""
        if query.trace_ids:
            return self.filters(query)[0]
        text = analysis.base_filter(query.service, query.start, query.end)
        if query.min_severity:
            text += f" AND severity>={query.min_severity}"
        return text

    def logs_url(self, query: str, start: str, end: str) -> str:
        """A Logs Explorer link for the filter over the window."""
        return analysis.logs_explorer_url(self.project, query, start, end)

    def trace_url(self, trace_id: str) -> str:
        """The trace in Cloud Trace."""
        return analysis.trace_url(self.project, trace_id)

    def entries(self, query: LogQuery) -> list[dict[str, Any]]:
        """Every entry of the query's filters, oldest first (paged, bounded)."""
        client = self._make_client()
        found: list[dict[str, Any]] = []
        for text in self.filters(query):

            def read(text: str = text) -> list[dict[str, Any]]:
                iterator = client.list_entries(
                    resource_names=[f"projects/{self.project}"],
                    filter_=text,
                    order_by=cloud_logging.ASCENDING,
                    page_size=PAGE_SIZE,
                    max_results=MAX_ENTRIES,
                )
                return [entry.to_api_repr() for entry in iterator]

            found += call(f"Cloud Logging entries of {query.service}", read, self._deadline)
        return found
