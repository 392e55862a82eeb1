"""One service process: ``python -m reference_platform.serve {backend,auth} --port N``.

Like a Cloud Run container it reads its configuration from the environment and logs JSON to
stdout. When the app fails to load (``missing_module``), the process does not die: it logs the
error with its traceback and answers every URL with 503, as Cloud Run's front end does for a
revision whose container cannot serve.

Every HTTP response says which revision served it and how long its process has run
(``x-revision``, ``x-uptime-s``). On the first SIGTERM (or SIGINT) an app that can drain (the
backend, a :class:`~reference_platform.lifecycle.Service`) drains before uvicorn shuts down: its
agent runs in flight finish or are failed cleanly. A second signal shuts down at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from reference_platform.lifecycle import Service, uptime_s
from reference_platform.telemetry import RequestLogMiddleware, configure_logging

SERVICES = ("backend", "auth")
log = logging.getLogger("serve")


def unavailable_app(service: str, reason: str) -> Any:
    """An app that answers every HTTP request with 503 and refuses every WebSocket."""

    async def http(request: Request) -> JSONResponse:
        return JSONResponse({"error": f"{service} unavailable: {reason}"}, status_code=503)

    async def websocket(ws: WebSocket) -> None:
        await ws.close(code=1011, reason=f"{service} unavailable")

    return RequestLogMiddleware(
        Starlette(
            routes=[
                Route("/{path:path}", http, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                WebSocketRoute("/{path:path}", websocket),
            ]
        )
    )


def load_app(service: str) -> Any:
    """The service's app; a stub that answers 503 when its module cannot be loaded."""
    try:
        module = importlib.import_module(f"reference_platform.{service}")
        return module.create_app()
    except Exception as exc:
        logging.getLogger(service).critical(
            "%s failed to start: %s: %s", service, type(exc).__name__, exc, exc_info=exc
        )
        return unavailable_app(service, type(exc).__name__)


class ServiceHeaders:
    """ASGI middleware: each HTTP response carries ``x-revision`` (the serving revision) and
    ``x-uptime-s`` (seconds since its process started), so a client sees which deploy answered
    and whether it restarted in between."""

    def __init__(self, app: ASGIApp, revision: str) -> None:
        self.app = app
        self._revision = revision.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stamps the response start of an HTTP request; other scopes pass unchanged."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"x-revision", self._revision),
                    (b"x-uptime-s", f"{uptime_s():.3f}".encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with the app's drain between the first signal and the shutdown."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._draining: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The first signal starts the drain, which ends in uvicorn's own shutdown; a second
        one (or a signal before the loop runs) shuts down at once."""
        if self._draining is not None:
            super().handle_exit(sig, frame)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().handle_exit(sig, frame)
            return
        # Called by signal.signal between two bytecodes of the loop's thread: hand over to the
        # loop instead of touching its state from here.
        loop.call_soon_threadsafe(self._start_drain, sig)

    def _start_drain(self, sig: int) -> None:
        if self._draining is not None or self.should_exit:
            return

        def drained(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.error("the drain failed: %s", task.exception())
            super(GracefulServer, self).handle_exit(sig, None)

        self._draining = asyncio.ensure_future(self._drain())
        self._draining.add_done_callback(drained)


def main(argv: list[str] | None = None) -> None:
    """Runs one service under uvicorn on 127.0.0.1."""
    parser = argparse.ArgumentParser(prog="python -m reference_platform.serve")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    revision = os.environ.get("K_REVISION", f"{args.service}-local")
    configure_logging(args.service, revision)
    app = load_app(args.service)
    config = uvicorn.Config(
        ServiceHeaders(app, revision),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
        ws_ping_interval=None,
    )
    server = (
        GracefulServer(config, app.drain) if isinstance(app, Service) else uvicorn.Server(config)
    )
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT, re-raised once the server is down
        server.run()
    if not server.started:
        sys.exit(3)  # as uvicorn.run: it could not start (its error is logged)


if __name__ == "__main__":
    main()
