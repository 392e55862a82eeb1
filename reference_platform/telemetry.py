"""Cloud-Run-shaped telemetry: one JSON object a line in Cloud Logging's structured format.

Cloud Run turns such stdout lines into log entries: ``severity``, ``message``, ``timestamp``,
``logging.googleapis.com/trace`` and ``httpRequest`` become fields of the entry. The trace comes
from the request's ``traceparent`` or ``X-Cloud-Trace-Context`` header, so a client that sends
its own trace id finds the lines of its very request.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import secrets
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACE_PROJECT = "local"
_current_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d+))?(?:;o=\d)?$")
# Query parameters that carry credentials are masked before a URL is logged: tokens,
# passwords, keys, and OAuth's authorization code and PKCE verifier.
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:token|access_token|refresh_token|password|key|code|code_verifier)=)[^&\s\"']*"
)
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]+")


def trace_id_from_headers(headers: Mapping[str, str]) -> str | None:
    """The 32-hex trace id of a request, from ``traceparent`` first, then Google's header."""
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    match = _CLOUD_TRACE.match(headers.get("x-cloud-trace-context", "").strip())
    if match:
        return match.group(1).lower()
    return None


def trace_resource(trace_id: str) -> str:
    """The trace as Cloud Logging names it: ``projects/<project>/traces/<id>``."""
    return f"projects/{TRACE_PROJECT}/traces/{trace_id}"


def redact(text: str) -> str:
    """The text with credential-bearing query values and JWTs masked."""
    return _JWT.sub("[REDACTED_JWT]", _SECRET_QUERY.sub(r"\1[REDACTED]", text))


def _timestamp(created: float) -> str:
    moment = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Formats records as Cloud Logging structured JSON lines."""

    def __init__(self, service: str, revision: str) -> None:
        super().__init__()
        self._service_context = {"service": service, "version": revision}

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line; exception tracebacks go into the message as Cloud Run shows them."""
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{''.join(traceback.format_exception(*record.exc_info))}"
        # Every line is redacted here, uvicorn's own too (it logs WebSocket paths whole).
        message = redact(message)
        entry: dict[str, Any] = {
            "severity": "WARNING" if record.levelname == "WARN" else record.levelname,
            "message": message,
            "timestamp": _timestamp(record.created),
            "logger": record.name,
            "serviceContext": self._service_context,
        }
        trace = getattr(record, "trace", None) or _current_trace.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace_resource(trace)
        http_request = getattr(record, "http_request", None)
        if http_request:
            entry["httpRequest"] = http_request
        return json.dumps(entry, separators=(",", ":"))


def configure_logging(service: str, revision: str, level: str = "INFO") -> None:
    """Sends every logger of the process (uvicorn's too) to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, revision))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The request log below replaces uvicorn's access log, with httpRequest and trace.
    logging.getLogger("uvicorn.access").disabled = True


def log_exception(logger: logging.Logger, message: str, exc: BaseException) -> None:
    """Logs an ERROR whose message carries the exception type and text on its first line."""
    logger.error(
        "%s: %s: %s", message, type(exc).__name__, exc, exc_info=(type(exc), exc, exc.__traceback__)
    )


class RequestLogMiddleware:
    """ASGI middleware: binds the request's trace id and logs one request entry per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._log = logging.getLogger("request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handles http and websocket scopes; lifespan passes straight through."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        trace = trace_id_from_headers(headers) or secrets.token_hex(16)
        token = _current_trace.set(trace)
        started = time.perf_counter()
        status = 500 if scope["type"] == "http" else 101
        accepted = False

        async def send_and_watch(message: Message) -> None:
            nonlocal status, accepted
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.close" and not accepted:
                status = 403  # a refused handshake is an HTTP 403 on the wire
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            self._log_request(scope, headers, status, time.perf_counter() - started)
            _current_trace.reset(token)

    def _log_request(
        self, scope: Scope, headers: dict[str, str], status: int, latency: float
    ) -> None:
        path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        scheme = "ws" if scope["type"] == "websocket" else "http"
        host = headers.get("host", "")
        url = redact(f"{scheme}://{host}{path}" + (f"?{query}" if query else ""))
        method = "GET" if scope["type"] == "websocket" else scope["method"]
        level = logging.ERROR if status >= 500 else logging.INFO
        client = scope.get("client")
        self._log.log(
            level,
            "%s %s %d",
            method,
            path,
            status,
            extra={
                "http_request": {
                    "requestMethod": method,
                    "requestUrl": url,
                    "status": status,
                    "latency": f"{latency:.6f}s",
                    "remoteIp": client[0] if client else "",
                    "userAgent": headers.get("user-agent", ""),
                    "protocol": "websocket" if scope["type"] == "websocket" else "HTTP/1.1",
                }
            },
        )
