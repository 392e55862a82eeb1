"""The services the corpus's suite talks to, each endpoint one real condition.

A Starlette backend under uvicorn, logged exactly as the reference platform's services log
(Cloud Logging JSON lines with the request's trace id), whose endpoints reach real Redis and
PostgreSQL servers in a real bad state (down, full, read-only, a wrong password, a pool too
small, a statement timeout) or carry a real code defect (an AttributeError, a renamed field);
a second uvicorn server that is shut down under an open WebSocket (1012); and a ``websockets``
server whose handlers fail (1011) or drop the connection (1006).

Run as ``python -m tests.corpus.serve CONFIG`` by ``tests.corpus.generate``; it serves until
it is terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import datetime as dt
import json
import logging
import sys
import time
from typing import Any

import asyncpg
import httpx
import jwt
import psycopg
import redis.asyncio
import redis.exceptions
import sqlalchemy
import sqlalchemy.exc
import uvicorn
import websockets.asyncio.server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from reference_platform.telemetry import (
    RequestLogMiddleware,
    configure_logging,
    log_exception,
    trace_id_from_headers,
)

HOST = "127.0.0.1"
SERVICE = "backend"
REVISION = "backend-00042-abc"
ISSUER_SECRET = "auth-service-signing-key-0123456789abcdef"  # what the auth service signs with
VERIFIER_SECRET = "backend-verifying-key-fedcba9876543210xx"  # the backend's, set wrongly
log = logging.getLogger("backend")
_ws_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("ws_trace", default=None)


@dataclasses.dataclass(frozen=True)
class Config:
    """Where every server of the run listens."""

    backend: int
    drain: int
    ws: int
    redis: int  # healthy primary
    redis_closed: int
    redis_full: int
    redis_replica: int
    postgres: int
    postgres_password: str
    blackhole: int
    provider: int  # the LLM provider's stand-in, answering 429


def _redis(port: int, timeout: float = 1.0) -> redis.asyncio.Redis:
    return redis.asyncio.Redis(
        host=HOST, port=port, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def _dependency(exc: BaseException) -> bool:
    """What the backend answers 503 for: a part it depends on, not its own code."""
    return isinstance(
        exc,
        redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError
        | redis.exceptions.OutOfMemoryError
        | redis.exceptions.ReadOnlyError
        | asyncpg.exceptions.InvalidPasswordError
        | asyncpg.exceptions.QueryCanceledError
        | psycopg.OperationalError
        | sqlalchemy.exc.TimeoutError
        | httpx.TransportError
        | OSError
        | TimeoutError,
    )


class UpstreamError(Exception):
    """A provider the backend calls answered with an error status."""


def build(  # noqa: PLR0915 - one endpoint a condition: the table reads best in one place
    config: Config, drain: list[uvicorn.Server]
) -> tuple[Starlette, Starlette]:
    """The backend's app and the draining server's app."""
    pg_url = f"postgresql://postgres:{config.postgres_password}@{HOST}:{config.postgres}/postgres"
    engine = sqlalchemy.create_engine(
        pg_url.replace("postgresql://", "postgresql+psycopg://"),
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.5,
    )

    async def sessions(request: Request) -> Response:
        await _redis(config.redis_closed).set("session:1", "x")
        return JSONResponse({"ok": True}, status_code=201)

    async def cache(request: Request) -> Response:
        await _redis(config.redis_full).set("cache:report", "x" * 4096)
        return JSONResponse({"ok": True}, status_code=201)

    async def counters(request: Request) -> Response:
        await _redis(config.redis_replica).incr("counter:visits")
        return JSONResponse({"ok": True})

    async def slow_cache(request: Request) -> Response:
        await _redis(config.blackhole, timeout=0.5).get("cache:slow")
        return JSONResponse({"ok": True})

    async def tags(request: Request) -> Response:
        value = await _redis(config.redis).get("tags")  # a list: a code defect, WRONGTYPE
        return JSONResponse({"tags": value})

    async def threads(request: Request) -> Response:
        conn = await asyncpg.connect(pg_url.replace(config.postgres_password, "wrong-password"))
        await conn.close()
        return JSONResponse([])

    async def search(request: Request) -> Response:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute("SET statement_timeout = 200")
            await conn.fetch("SELECT pg_sleep(2)")
        finally:
            await conn.close()
        return JSONResponse([])

    async def profile(request: Request) -> Response:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.fetch("SELECT display_nmae FROM pg_roles")  # a typo: a code defect
        finally:
            await conn.close()
        return JSONResponse({})

    async def users(request: Request) -> Response:
        url = f"postgresql://postgres:x@{HOST}:{config.redis_closed}/postgres?connect_timeout=2"
        async with await psycopg.AsyncConnection.connect(url):
            pass
        return JSONResponse([])

    async def orders(request: Request) -> Response:
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            await conn.execute("SELEC id FROM orders")  # a typo: a code defect
        return JSONResponse([], status_code=201)

    async def reports(request: Request) -> Response:
        held = engine.connect()  # another request's connection, never given back
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT 1"))
        finally:
            held.close()
        return JSONResponse([])

    async def upstream(request: Request) -> Response:
        async with httpx.AsyncClient(timeout=0.5) as client:
            await client.get(f"http://{HOST}:{config.blackhole}/v1/rates")
        return JSONResponse({})

    async def answers(request: Request) -> Response:
        async with httpx.AsyncClient(timeout=2.0) as client:
            reply = await client.post(
                f"http://{HOST}:{config.provider}/v1/chat/completions", json={"model": "gpt-4o"}
            )
        if reply.status_code != 200:
            raise UpstreamError(f"LLM provider answered {reply.status_code}: {reply.text}")
        return JSONResponse(reply.json())

    async def create_thread(request: Request) -> Response:
        body = await request.json()
        user = request.state.user  # never set: a code defect (AttributeError)
        return JSONResponse({"id": "t1", "title": body["title"], "owner": user}, status_code=201)

    async def read_thread(request: Request) -> Response:
        stored = {"t1": {"title": "e2e thread"}}
        thread = stored[request.path_params["thread_id"]]
        return JSONResponse({"id": request.path_params["thread_id"], "title": thread["title"]})

    async def thread_v2(request: Request) -> Response:
        # The field the suite reads was renamed in this revision (thread_id -> threadId).
        return JSONResponse({"threadId": "t1", "title": "e2e thread"})

    async def stats(request: Request) -> Response:
        return JSONResponse({"since": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})

    async def ratio(request: Request) -> Response:
        done, total = 0, 0
        return JSONResponse({"ratio": done / total})

    async def latest(request: Request) -> Response:
        invoices: list[dict[str, str]] = []
        return JSONResponse(invoices[0])

    async def invoices(request: Request) -> Response:
        conn = await asyncpg.connect(pg_url)
        try:
            rows = await conn.fetch("SELECT $1::int AS id", "abc")  # a str for an int: a defect
        finally:
            await conn.close()
        return JSONResponse([dict(row) for row in rows])

    async def export(request: Request) -> Response:
        return Response("OK", media_type="text/plain")  # the JSON body was dropped: a defect

    async def items(request: Request) -> Response:
        return JSONResponse(None)

    async def stream(request: Request) -> Response:
        async def lines() -> Any:
            for number in range(3):
                yield f"line {number}\n"
            try:
                raise ValueError("report row 3 has no total")
            except ValueError as exc:
                log_exception(log, "unhandled error in GET /api/stream", exc)
                raise

        return StreamingResponse(lines(), media_type="text/plain")

    async def login(request: Request) -> Response:
        ttl = int(request.query_params.get("ttl", "300"))
        claims = {"sub": "user-1", "exp": int(time.time()) + ttl}
        return JSONResponse({"access_token": jwt.encode(claims, ISSUER_SECRET, "HS256")})

    def _token(request: Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    async def me(request: Request) -> Response:
        secret = ISSUER_SECRET if "strict" in request.url.path else VERIFIER_SECRET
        try:
            claims = jwt.decode(_token(request), secret, algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            log.warning("token rejected: %s: %s", type(exc).__name__, exc)
            return JSONResponse({"detail": "invalid token"}, status_code=401)
        return JSONResponse({"user": claims["sub"]})

    async def admin(request: Request) -> Response:
        claims = jwt.decode(_token(request), ISSUER_SECRET, algorithms=["RS256"])  # a defect
        return JSONResponse({"user": claims["sub"]})

    async def answer(request: Request) -> Response:
        return JSONResponse({"answer": "I could not find any revenue data."})

    async def events(request: Request) -> Response:
        kinds = ["agent_started", "tool_executing", "agent_thinking", "tool_completed"]
        return JSONResponse({"events": [*kinds, "agent_completed"]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "revision": REVISION})

    async def messages(request: Request) -> Response:
        thread = request.path_params["thread_id"]
        if request.method == "POST":
            body = await request.json()
            return JSONResponse({"id": "m1", "thread": thread, "text": body["text"]}, 201)
        return JSONResponse([{"id": "m1", "thread": thread, "text": "hello"}])

    async def signup(request: Request) -> Response:
        body = await request.json()
        if "email" not in body:
            return JSONResponse(
                {"detail": [{"loc": ["body", "email"], "msg": "field required"}]}, 422
            )
        return JSONResponse({"id": "user-2", "email": body["email"]}, status_code=201)

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            message = await websocket.receive_json()
            await websocket.send_json({"type": "agent_started", "text": message.text})
        except WebSocketDisconnect:
            return
        except Exception as exc:
            log_exception(log, "unhandled error in websocket /ws/chat", exc)
            raise

    async def ws_auth(websocket: WebSocket) -> None:
        token = websocket.query_params.get("token", "")
        try:
            jwt.decode(token, VERIFIER_SECRET, algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            log.warning("websocket token rejected: %s: %s", type(exc).__name__, exc)
            await websocket.accept()
            await websocket.close(code=1008, reason="invalid token")
            return
        await websocket.accept()

    async def unhandled(request: Request, exc: Exception) -> Response:
        log_exception(log, f"unhandled error in {request.method} {request.url.path}", exc)
        if isinstance(exc, UpstreamError) or _dependency(exc):
            return JSONResponse({"detail": "dependency unavailable"}, status_code=503)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    backend = Starlette(
        routes=[
            Route("/api/health", health),
            Route("/api/sessions", sessions, methods=["POST"]),
            Route("/api/cache", cache, methods=["POST"]),
            Route("/api/counters", counters, methods=["POST"]),
            Route("/api/slow-cache", slow_cache),
            Route("/api/tags", tags),
            Route("/api/threads", threads),
            Route("/api/threads", create_thread, methods=["POST"]),
            Route("/api/threads/{thread_id}", read_thread),
            Route("/api/threads/{thread_id}/messages", messages, methods=["GET", "POST"]),
            Route("/api/v2/threads/{thread_id}", thread_v2),
            Route("/api/search", search),
            Route("/api/profile", profile),
            Route("/api/users", users),
            Route("/api/orders", orders, methods=["POST"]),
            Route("/api/reports", reports),
            Route("/api/upstream", upstream),
            Route("/api/answers", answers, methods=["POST"]),
            Route("/api/stats", stats),
            Route("/api/login", login, methods=["POST"]),
            Route("/api/me", me),
            Route("/api/me/strict", me),
            Route("/api/admin", admin),
            Route("/api/answer", answer),
            Route("/api/events", events),
            Route("/api/signup", signup, methods=["POST"]),
            Route("/api/ratio", ratio),
            Route("/api/latest", latest),
            Route("/api/invoices", invoices),
            Route("/api/export", export),
            Route("/api/items", items),
            Route("/api/stream", stream),
            WebSocketRoute("/ws/chat", chat),
            WebSocketRoute("/ws/auth", ws_auth),
        ],
        exception_handlers={Exception: unhandled},
    )

    async def drain_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"type": "connected"})
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    async def stop(request: Request) -> Response:
        drain[0].should_exit = True  # a deploy's traffic shift stops this instance
        return JSONResponse({"stopping": True}, status_code=202)

    draining = Starlette(
        routes=[
            WebSocketRoute("/ws/stream", drain_stream),
            Route("/admin/stop", stop, methods=["POST"]),
        ]
    )
    return backend, draining


def websocket_handler(config: Config) -> Any:
    """The ``websockets`` server's handler: one real failure per path."""

    async def handler(connection: websockets.asyncio.server.ServerConnection) -> None:
        request = connection.request
        assert request is not None
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        _ws_trace.set(trace_id_from_headers(headers))
        await connection.send(json.dumps({"type": "connected"}))
        await connection.recv()
        if request.path == "/agent":  # the agent's Redis is down
            await _redis(config.redis_closed).xadd("events", {"type": "agent_started"})
        elif request.path == "/bug":
            reply: Any = None
            await connection.send(reply.to_json())  # a code defect: AttributeError
        elif request.path == "/abort":
            connection.transport.abort()  # the instance was killed under the session
            await asyncio.sleep(1)

    return handler


class _TraceFilter(logging.Filter):
    """Adds the WebSocket session's trace id to the ``websockets`` library's own lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "trace", None):
            record.trace = _ws_trace.get()
        return True


async def _serve(config: Config) -> None:
    drain: list[uvicorn.Server] = []
    backend, draining = build(config, drain)
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                RequestLogMiddleware(app),
                host=HOST,
                port=port,
                log_config=None,
                lifespan="off",
                ws="websockets-sansio",
            )
        )
        for app, port in ((backend, config.backend), (draining, config.drain))
    ]
    drain.append(servers[1])
    async with websockets.asyncio.server.serve(websocket_handler(config), HOST, config.ws):
        await asyncio.gather(*(server.serve() for server in servers))
        await asyncio.Event().wait()


def main(argv: list[str]) -> None:
    """Serves until terminated; the one argument is the Config as JSON."""
    config = Config(**json.loads(argv[0]))
    configure_logging(SERVICE, REVISION)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_TraceFilter())
    asyncio.run(_serve(config))


if __name__ == "__main__":
    main(sys.argv[1:])
