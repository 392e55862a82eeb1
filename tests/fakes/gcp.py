"""A local HTTP server that speaks the parts of Google's REST APIs the context stage uses.

Cloud Run Admin API v2 (``GET .../services/S``, ``GET .../services/S/revisions`` with paging)
and Cloud Logging v2 (``POST /v2/entries:list`` with filter, order and paging). Tests seed it
with resources and entries, switch faults on per API (403, 404, 429, 503, no answer), and read
what it was asked. The real Google client libraries are pointed at it.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ci_tools import config as cfg
from ci_tools.context.analysis import SEVERITIES  # the API's order, not our logic

_SERVICE = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/]+)$")
_REVISIONS = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/]+)/revisions$")
_CLAUSE = re.compile(r"^([\w.]+)\s*(>=|<=|=)\s*(.+)$")


@dataclasses.dataclass
class FakeGcp:
    """The server's state: resources, entries, faults, and what it was asked."""

    services: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    revisions: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    entries: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # Per API ("run" or "logging"): statuses to answer before serving normally; "hang" waits.
    faults: dict[str, list[int | str]] = dataclasses.field(default_factory=dict)
    requests: Counter[str] = dataclasses.field(default_factory=Counter)
    filters: list[str] = dataclasses.field(default_factory=list)
    hang_s: float = 30.0
    url: str = ""

    def add_service(
        self, project: str, region: str, service: dict[str, Any], revisions: list[dict[str, Any]]
    ) -> None:
        """Seeds a Service and its Revisions (names are filled in from the short names)."""
        parent = f"projects/{project}/locations/{region}/services/{service['name']}"
        self.services[parent] = {**service, "name": parent}
        self.revisions[parent] = [
            {**r, "name": f"{parent}/revisions/{r['name']}"} for r in revisions
        ]


@dataclasses.dataclass(frozen=True)
class _Clause:
    field: str
    op: str
    wanted: str
    options: frozenset[str] | None  # for field=("a" OR "b")

    def __call__(self, entry: dict[str, Any]) -> bool:
        value = _field(entry, self.field)
        if self.options is not None:
            return value in self.options
        if self.field == "severity":
            have: Any = SEVERITIES.index(str(value or "DEFAULT"))
            want: Any = SEVERITIES.index(self.wanted)
        else:
            have, want = str(value or ""), self.wanted
        return bool({">=": have >= want, "<=": have <= want, "=": have == want}[self.op])


def compile_filter(filter_text: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate for a filter of the subset the context stage writes (parsed once)."""
    clauses = []
    for clause in re.split(r"\s+AND\s+", filter_text.strip()):
        match = _CLAUSE.match(clause.strip())
        if match is None:
            raise ValueError(f"unsupported filter clause: {clause!r}")
        field, op, raw = match.groups()
        options = (
            frozenset(re.findall(r'"((?:[^"\\]|\\.)*)"', raw)) if raw.startswith("(") else None
        )
        clauses.append(_Clause(field, op, raw.strip('"'), options))
    return lambda entry: all(clause(entry) for clause in clauses)


def _field(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class _Handler(http.server.BaseHTTPRequestHandler):
    state: FakeGcp

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, api: str) -> bool:
        self.state.requests[api] += 1
        queue = self.state.faults.get(api)
        if not queue:
            return False
        fault = queue[0] if len(queue) == 1 else queue.pop(0)  # the last one stays
        if fault == "ok":
            return False
        if fault == "hang":
            time.sleep(self.state.hang_s)
            return True
        status = int(fault)
        names = {
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            503: "UNAVAILABLE",
        }
        self._send(
            status,
            {
                "error": {
                    "code": status,
                    "status": names.get(status, "UNKNOWN"),
                    "message": f"fake {status} from the test server",
                }
            },
        )
        return True

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if self._fault("run"):
            return
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if match := _SERVICE.match(path):
            service = self.state.services.get(match.group(1))
            if service is None:
                self._send(
                    404,
                    {
                        "error": {
                            "code": 404,
                            "status": "NOT_FOUND",
                            "message": f"{match.group(1)} not found",
                        }
                    },
                )
            else:
                self._send(200, service)
            return
        if match := _REVISIONS.match(path):
            revisions = self.state.revisions.get(match.group(1), [])
            size = int(params.get("pageSize", "100"))
            start = int(params.get("pageToken", "0") or "0")
            page = revisions[start : start + size]
            body: dict[str, Any] = {"revisions": page}
            if start + size < len(revisions):
                body["nextPageToken"] = str(start + size)
            self._send(200, body)
            return
        self._send(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": path}})

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/v2/entries:list":
            self._send(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": self.path}})
            return
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self._fault("logging"):
            return
        text = str(request.get("filter", ""))
        self.state.filters.append(text)
        if "timestamp>=" not in text:
            self._send(
                400,
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "a filter without a time bound",
                    }
                },
            )
            return
        if len(text) > 20_000:
            self._send(
                400,
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "filter longer than 20000 characters",
                    }
                },
            )
            return
        predicate = compile_filter(text)
        found = sorted(
            (e for e in self.state.entries if predicate(e)),
            key=lambda e: str(e.get("timestamp", "")),
            reverse=request.get("orderBy") == "timestamp desc",
        )
        size = int(request.get("pageSize") or 50)
        start = int(request.get("pageToken") or 0)
        body: dict[str, Any] = {"entries": found[start : start + size]}
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        self._send(200, body)


@contextmanager
def serve(state: FakeGcp) -> Iterator[FakeGcp]:
    """Runs the server on a free loopback port until the block ends."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def cloud_config(
    url: str, project: str, region: str, services: dict[str, str], **context: float
) -> cfg.Config:
    """A config whose environment ``cloud`` points both Google clients at the fake server."""
    return cfg.parse(
        {
            "environments": {
                "cloud": {
                    "backend_url": "https://b",
                    "websocket_url": "wss://b/ws",
                    "auth_url": "https://a",
                    "gcp": {"project": project, "region": region, "services": services},
                }
            },
            # The context stage reads the records of the configured phases.
            "phases": {str(n): {"title": f"Phase {n}"} for n in range(1, 6)},
            "context": {"run_endpoint": url, "logging_endpoint": url, **context},
        }
    )
