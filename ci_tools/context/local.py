"""The reference platform's local equivalents of Cloud Run and Cloud Logging.

The platform writes Revision and Service documents shaped like the Cloud Run Admin API v2 and
logs one Cloud Logging structured JSON object per line; this source reads those files and
answers with the same API-shaped JSON as the cloud sources, so the analysis is shared.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from ci_tools.context import analysis
from ci_tools.context.sources import LogQuery, RequestCounter, SourceError

PROJECT = "local"
_TIMESTAMP = '"timestamp":"'  # how the platform writes an entry's time (compact JSON)


class LocalSource:
    """Reads a platform's state directory (``.stack`` or ``$CI_TOOLS_STACK_DIR``)."""

    kind = "local"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.project = PROJECT
        self.region = "local"
        self.requests = RequestCounter()
        # By service: (from when, its entries from then).
        self._logs: dict[str, tuple[dt.datetime, list[tuple[dt.datetime, dict[str, Any]]]]] = {}
        self._lock = threading.Lock()

    def _read(self, path: Path) -> Any:
        self.requests.add("local_files")
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise SourceError(
                f"{path} not found: was the platform started from {self.state_dir}?"
            ) from None
        except ValueError as exc:
            raise SourceError(f"{path} is not valid JSON ({exc})") from None

    def service(self, name: str) -> dict[str, Any]:
        """The service document the platform wrote at its last start."""
        data: dict[str, Any] = self._read(self.state_dir / "services" / f"{name}.json")
        return data

    def revisions(self, name: str) -> list[dict[str, Any]]:
        """Every kept revision document of the service."""
        folder = self.state_dir / "revisions" / name
        paths = sorted(folder.glob(f"{name}-*.json"))
        if not paths:
            raise SourceError(f"no revision documents in {folder}: start the platform once")
        return [self._read(path) for path in paths]

    def entries(self, query: LogQuery) -> list[dict[str, Any]]:
        """The service's log lines as LogEntry resources, filtered like the cloud query."""
        traces = {f"projects/{PROJECT}/traces/{t}" for t in query.trace_ids}
        floor = analysis.severity_rank(query.min_severity) if query.min_severity else None
        found = []
        for moment, entry in self._log(query.service, query.start):
            if not query.start <= moment <= query.end:
                continue
            if traces and entry.get("trace") not in traces:
                continue
            if floor is not None and analysis.severity_rank(entry["severity"]) < floor:
                continue
            found.append(entry)
        return found

    def _log(self, service: str, since: dt.datetime) -> list[tuple[dt.datetime, dict[str, Any]]]:
        """The service's log from ``since`` as (time, LogEntry) pairs, read and parsed once
        per stage (the trace query and the error query both go over it; a query from earlier
        reads it again). A baseline's processes append to the same file (``stack.json``'s
        ``baseline.logs`` names it), as every revision of a Cloud Run service logs to the
        service: each entry's revision label tells them apart. The file holds the logs of
        every run kept (60,000 lines after 50 runs: a second to parse): a line whose own time
        is before ``since`` is skipped unparsed, wherever it is in the file."""
        with self._lock:
            cached = self._logs.get(service)
            if cached is None or cached[0] > since:
                self._logs[service] = (since, self._parse(service, since))
            return self._logs[service][1]

    def _parse(self, service: str, since: dt.datetime) -> list[tuple[dt.datetime, dict[str, Any]]]:
        path = self.state_dir / "logs" / f"{service}.jsonl"
        self.requests.add("local_files")
        try:
            lines = path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            raise SourceError(f"{path} not found: the service never logged") from None
        # To the second, in the platform's own UTC form ("2026-12-07T02:14:36"): a time
        # that sorts before it as text ("...T02:14:35.999Z") is before ``since``.
        earliest = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        parsed = []
        for line in lines:
            written = _utc_time(line)
            if written and written < earliest:
                continue  # before the window
            try:
                entry = to_log_entry(json.loads(line), service)
                parsed.append((analysis.parse_time(entry["timestamp"]), entry))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # not structured JSON (e.g. a crash dump): skipped
        return parsed

    def revision_url(self, name: str) -> str:
        """The folder of the service's revision documents."""
        return (self.state_dir / "revisions" / name).resolve().as_uri()

    def logs_url(self, query: str, start: str, end: str) -> str:
        """The platform's log folder (the filter is in context.json)."""
        return (self.state_dir / "logs").resolve().as_uri()

    def trace_url(self, trace_id: str) -> str:
        """No trace viewer runs locally: the log folder, where the trace id can be searched."""
        return (self.state_dir / "logs").resolve().as_uri() + f"#trace={trace_id}"

    def filter_text(self, query: LogQuery) -> str:
        """The equivalent Cloud Logging filter, for the record."""
        if query.trace_ids:
            return analysis.trace_filters(
                query.service, PROJECT, query.trace_ids, query.start, query.end
            )[0]
        return analysis.error_filter(query.service, query.start, query.end)


def _utc_time(line: str) -> str:
    """A log line's UTC time as the platform writes it (``"timestamp":"...Z"``); "" for
    a line written otherwise, which is then parsed whatever its time."""
    at = line.find(_TIMESTAMP)
    if at < 0:
        return ""
    at += len(_TIMESTAMP)
    end = line.find('"', at)
    return line[at:end] if end > at and line[end - 1] == "Z" else ""


def to_log_entry(line: dict[str, Any], service: str) -> dict[str, Any]:
    """A structured stdout line as Cloud Run's logging agent turns it into a LogEntry."""
    special = {
        "severity",
        "timestamp",
        "logging.googleapis.com/trace",
        "httpRequest",
        "serviceContext",
    }
    payload = {k: v for k, v in line.items() if k not in special}
    entry: dict[str, Any] = {
        "timestamp": line["timestamp"],
        "severity": str(line.get("severity", "DEFAULT")).upper(),
        "jsonPayload": payload,
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "service_name": service,
                "revision_name": (line.get("serviceContext") or {}).get("version", ""),
                "location": "local",
                "project_id": PROJECT,
            },
        },
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
    }
    if line.get("logging.googleapis.com/trace"):
        entry["trace"] = line["logging.googleapis.com/trace"]
    if line.get("httpRequest"):
        entry["httpRequest"] = line["httpRequest"]
    return entry
