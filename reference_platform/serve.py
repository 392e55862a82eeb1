"""One service process: ``python -m reference_platform.serve {backend,auth} --port N``.

Like a Cloud Run container it reads its configuration from the environment and logs JSON to
stdout. When the app fails to load (``missing_module``), the process does not die: it logs the
error with its traceback and answers every URL with 503, as Cloud Run's front end does for a
revision whose container cannot serve.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from reference_platform.telemetry import RequestLogMiddleware, configure_logging

SERVICES = ("backend", "auth")


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


def main(argv: list[str] | None = None) -> None:
    """Runs one service under uvicorn on 127.0.0.1."""
    parser = argparse.ArgumentParser(prog="python -m reference_platform.serve")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    configure_logging(args.service, os.environ.get("K_REVISION", f"{args.service}-local"))
    uvicorn.run(
        load_app(args.service),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
        ws_ping_interval=None,
    )


if __name__ == "__main__":
    main()
