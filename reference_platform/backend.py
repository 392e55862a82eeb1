"""The backend service: health, the threads API, and the WebSocket agent pipeline.

Configured like a Cloud Run container, from its environment, read by ``create_app``:
``DATABASE_URL``, ``REDIS_URL``, ``JWT_SECRET``, ``K_SERVICE``/``K_REVISION``, limits and the
fault switches the stack sets (``DB_SLOW_MS``, ``AGENT_HANG``, ``SUBAGENT_HANG``,
``SUBAGENT_ERROR``, ``WS_DROP_RATE``). The one
exception, on purpose: ``AGENT_TOOLS_MODULE`` names the module of the agent's tools and is
imported as this module loads, so a revision that names a missing module fails at import, as a
broken image would (the ``missing_module`` fault).

``IMAGE_DEFECTS`` is not configuration: it stands for what was built into the image, the code
defects of the revision faults (``handler_error``, ``subagent_wrong=NAME``,
``contract_change``, ``events_out_of_order``). The stack sets it in the process environment
only, never among the revision's env entries, so a code defect shows as an image change and
the configuration reads unchanged, as with a real bad build.

Its life (``lifecycle.py``): it serves ``/health`` at once and retries its database with backoff,
reporting ``starting`` on ``/health/ready`` until the database answers; on SIGTERM it drains,
giving the agent runs in flight ``SHUTDOWN_GRACE_S`` to finish and failing the rest cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from reference_platform import agent, lifecycle, tokens
from reference_platform.faults import Faults, dropped, parse_faults
from reference_platform.store import Check, Store
from reference_platform.telemetry import RequestLogMiddleware, log_exception

importlib.import_module(os.environ.get("AGENT_TOOLS_MODULE", "reference_platform.agent"))

log = logging.getLogger("backend")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The backend's configuration, as its environment gives it."""

    database_url: str
    redis_url: str
    jwt_secret: str
    revision: str = "backend-local"
    db_latency_limit_ms: float = 3000.0
    redis_latency_limit_ms: float = 1000.0
    check_timeout_s: float = 10.0
    agent_step_s: float = 0.04
    db_slow_ms: int = 0
    agent_hang: bool = False
    subagent_hang: str = ""  # the sub-agent that starts and never completes
    subagent_error: str = ""  # the sub-agent whose tools find their source down
    ws_drop_rate: float = 0.0
    shutdown_grace_s: float = 2.0  # how long a SIGTERM waits for the agent runs in flight
    # The code defects built into this image (its revision faults).
    defects: Faults = dataclasses.field(default_factory=Faults)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Reads the settings; the secrets must be present."""
        return cls(
            database_url=env["DATABASE_URL"],
            redis_url=env["REDIS_URL"],
            jwt_secret=env["JWT_SECRET"],
            revision=env.get("K_REVISION", "backend-local"),
            db_latency_limit_ms=float(env.get("DB_LATENCY_LIMIT_MS", "3000")),
            redis_latency_limit_ms=float(env.get("REDIS_LATENCY_LIMIT_MS", "1000")),
            check_timeout_s=float(env.get("CHECK_TIMEOUT_S", "10")),
            agent_step_s=float(env.get("AGENT_STEP_MS", "40")) / 1000,
            db_slow_ms=int(env.get("DB_SLOW_MS", "0")),
            agent_hang=env.get("AGENT_HANG", "") == "1",
            subagent_hang=env.get("SUBAGENT_HANG", ""),
            subagent_error=env.get("SUBAGENT_ERROR", ""),
            ws_drop_rate=float(env.get("WS_DROP_RATE", "0")),
            shutdown_grace_s=float(env.get("SHUTDOWN_GRACE_S", "2")),
            defects=parse_faults(env.get("IMAGE_DEFECTS", "").split()),
        )


# PostgreSQL text cannot hold a NUL character: refused as the input it is, not a 500.
NUL = "\x00"
NUL_REFUSED = "{field} must not contain a NUL character (\\u0000)"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Backend:
    """The backend's handlers over one store; ``routes`` lists them for Starlette."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.database_url, settings.redis_url, settings.db_slow_ms / 1000)
        # Under agent_hang the pipeline waits on an event that nothing ever sets.
        self.agent_faults = agent.Faults(
            hang=asyncio.Event() if settings.agent_hang else None,
            hung=frozenset({settings.subagent_hang} - {""}),
            failing=frozenset({settings.subagent_error} - {""}),
            wrong=frozenset({settings.defects.subagent_wrong} - {""}),
            out_of_order=settings.defects.events_out_of_order,
        )
        self._answers = 0  # agent answers started, for ws_drop's even spread
        self.lifecycle = lifecycle.Lifecycle(settings.shutdown_grace_s)

    def routes(self) -> list[BaseRoute]:
        """The URL map."""
        return [
            Route("/health", self.health),
            Route("/health/ready", self.ready),
            Route("/api/threads", self.threads, methods=["GET", "POST"]),
            Route("/api/threads/{thread_id}", self.thread_detail),
            Route(
                "/api/threads/{thread_id}/messages", self.thread_messages, methods=["GET", "POST"]
            ),
            WebSocketRoute("/ws", self.websocket),
        ]

    def user_of(self, request: Request) -> tokens.Claims | None:
        """The caller, from a valid bearer token; None otherwise."""
        token = tokens.bearer(request.headers.get("authorization"))
        if token is None:
            return None
        try:
            return tokens.verify(self.settings.jwt_secret, token)
        except tokens.TokenError:
            return None

    async def health(self, request: Request) -> JSONResponse:
        """Liveness: the process serves (whether it is starting, serving or draining)."""
        return JSONResponse(
            {
                "status": "ok",
                "service": "backend",
                "revision": self.settings.revision,
                "phase": self.lifecycle.phase,
                "uptime_s": round(lifecycle.uptime_s(), 3),
            }
        )

    async def ready(self, request: Request) -> JSONResponse:
        """Readiness: each dependency measured; 503, with the reason, when one is down or over
        its limit, while the backend is starting (its database not answering yet) or while it
        drains for a shutdown."""
        settings = self.settings
        life = self.lifecycle
        redis_check = self.store.check_redis(
            settings.redis_latency_limit_ms, settings.check_timeout_s
        )
        # One reading of the phase for the whole answer: the startup may finish while this
        # awaits Redis, and the answer (and what it logs) must be about one moment.
        phase, startup, life_reason = life.phase, life.startup, life.reason()
        if phase == "starting":
            # Not probed here: the startup's own tries say how the database answers.
            error = startup.last_error or "not connected yet"
            postgres = Check("down", 0.0, settings.db_latency_limit_ms, error)
            redis = await redis_check
        else:
            postgres, redis = await asyncio.gather(
                self.store.check_postgres(settings.db_latency_limit_ms, settings.check_timeout_s),
                redis_check,
            )
        checks = {"postgres": postgres, "redis": redis}
        problems = []
        for name, check in checks.items():
            if check.status == "down":
                problems.append(f"{name} is down: {check.error}")
            elif check.status == "slow":
                problems.append(
                    f"{name} is slow: {check.latency_ms:.0f} ms, limit {check.limit_ms:.0f} ms"
                )
            else:
                continue
            if not (phase == "starting" and name == "postgres"):  # the startup logs that
                log.error("dependency %s", problems[-1])
        reason = life_reason or "; ".join(problems) or None
        status = "ready" if reason is None else "not_ready"
        body: dict[str, Any] = {
            "status": status if phase == "serving" else phase,
            "revision": settings.revision,
            "dependencies": {name: check.as_json() for name, check in checks.items()},
            "startup": startup.as_json(),
        }
        if reason is not None:
            body["reason"] = reason
        return JSONResponse(body, status_code=200 if reason is None else 503)

    async def threads(self, request: Request) -> JSONResponse:
        """GET: the caller's recent threads; POST: a new thread."""
        user = self.user_of(request)
        if user is None:
            return _error(401, "missing or invalid bearer token")
        if request.method == "GET":
            return JSONResponse({"threads": await self.store.recent_threads(user.user_id)})
        body = await _json_object(request)
        if body is None:
            return _error(422, 'body must be a JSON object like {"title": "..."}')
        if self.settings.defects.handler_error:
            # The handler_error defect, a real bug: the title is read from a field that
            # clients do not send, so .get gives None and None has no strip (AttributeError).
            title = body.get("name").strip()[:200]  # type: ignore[union-attr]
        title = str(body.get("title") or "New thread")[:200]
        if NUL in title:
            return _error(422, NUL_REFUSED.format(field="title"))
        return JSONResponse(await self.store.create_thread(user.user_id, title), status_code=201)

    async def thread_detail(self, request: Request) -> JSONResponse:
        """One of the caller's threads; another user's is 404."""
        user = self.user_of(request)
        if user is None:
            return _error(401, "missing or invalid bearer token")
        found = await self.store.thread(user.user_id, request.path_params["thread_id"])
        return JSONResponse(found) if found else _error(404, "thread not found")

    async def thread_messages(self, request: Request) -> JSONResponse:
        """GET: a thread's messages; POST: a user message added to it."""
        user = self.user_of(request)
        if user is None:
            return _error(401, "missing or invalid bearer token")
        thread_id = request.path_params["thread_id"]
        if await self.store.thread(user.user_id, thread_id) is None:
            return _error(404, "thread not found")
        if request.method == "GET":
            messages = await self.store.messages(thread_id)
            return JSONResponse({"messages": [self._message(m) for m in messages]})
        body = await _json_object(request)
        if body is None or not str(body.get("content") or "").strip():
            return _error(422, 'body must be a JSON object like {"content": "..."}')
        if NUL in str(body["content"]):
            return _error(422, NUL_REFUSED.format(field="content"))
        message = await self.store.add_message(thread_id, "user", str(body["content"]))
        return JSONResponse(self._message(message), status_code=201)

    def _message(self, message: dict[str, Any]) -> dict[str, Any]:
        """A stored message as the API shows it; under the contract_change defect its
        ``content`` is renamed ``text`` (a new field name shipped without the clients')."""
        if not self.settings.defects.contract_change:
            return message
        return {("text" if key == "content" else key): value for key, value in message.items()}

    async def websocket(self, ws: WebSocket) -> None:
        """An authenticated session: each user_message runs the agent pipeline."""
        token = ws.query_params.get("token") or tokens.bearer(ws.headers.get("authorization"))
        try:
            user = tokens.verify(self.settings.jwt_secret, token or "")
        except tokens.TokenError as exc:
            log.warning("websocket refused: %s", exc)
            await ws.close(code=4401, reason=str(exc))
            return
        await ws.accept()
        session_id = uuid.uuid4().hex
        try:
            await self.store.redis.setex(f"ws_session:{session_id}", 3600, user.user_id)
        except Exception as exc:  # noqa: BLE001 - any Redis failure ends the session the same way
            log_exception(log, "websocket session could not be registered", exc)
            await ws.close(code=1011, reason="session store unavailable")
            return
        await ws.send_json(
            {
                "type": "connected",
                "session_id": session_id,
                "user_id": user.user_id,
                "revision": self.settings.revision,
            }
        )
        try:
            while True:
                message = await ws.receive_json()
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "ping":
                    await ws.send_json({"type": "pong"})
                elif kind == "user_message":
                    try:
                        answered = await self.lifecycle.agent_run(
                            ws, functools.partial(self._answer, ws, user, message)
                        )
                    except WebSocketDisconnect:
                        log.warning(
                            "client left session %s before the answer was complete", session_id
                        )
                        return
                    if not answered:
                        return
                else:
                    await ws.send_json({"type": "error", "error": f"unknown message type {kind!r}"})
        except WebSocketDisconnect:
            pass
        finally:
            with contextlib.suppress(Exception):
                await self.store.redis.delete(f"ws_session:{session_id}")

    async def _answer(self, ws: WebSocket, user: tokens.Claims, message: dict[str, Any]) -> bool:
        """Runs the pipeline for one message; False when the session was closed."""
        content = str(message.get("content") or "").strip()
        refused = "user_message needs a content" if not content else None
        if NUL in content:
            refused = NUL_REFUSED.format(field="content")
        if refused is not None:
            await ws.send_json({"type": "error", "error": refused})
            return True
        thread_id = message.get("thread_id")
        try:
            if thread_id is None:
                thread_id = (await self.store.create_thread(user.user_id, content[:60]))["id"]
            elif await self.store.thread(user.user_id, str(thread_id)) is None:
                await ws.send_json({"type": "error", "error": "thread not found"})
                return True
            await self.store.add_message(str(thread_id), "user", content)
        except Exception as exc:  # noqa: BLE001 - a store failure ends the session with 1011
            log_exception(log, "agent pipeline could not store the message", exc)
            await ws.close(code=1011, reason="store unavailable")
            return False
        run_id = uuid.uuid4().hex
        self._answers += 1  # one event loop: no lock needed
        drop = bool(self.settings.ws_drop_rate) and dropped(
            self._answers, self.settings.ws_drop_rate
        )
        started = time.perf_counter()
        base = {"run_id": run_id, "thread_id": str(thread_id)}
        async for event in agent.run(content, self.settings.agent_step_s, self.agent_faults):
            outgoing = {**base, **event}
            if event["type"] == agent.ERROR_EVENT:
                # The run stops here: no answer is stored or claimed, and the session goes on.
                log.error(
                    "%s sub-agent failed in run %s: %s failed: %s",
                    event["agent"],
                    run_id,
                    event["tool"],
                    event["error"],
                )
            elif event["type"] == "agent_completed" and event["final"]:
                try:
                    saved = await self.store.add_message(
                        str(thread_id), "assistant", event["content"]
                    )
                except Exception as exc:  # noqa: BLE001 - the answer is lost either way
                    log_exception(log, f"agent answer of run {run_id} could not be stored", exc)
                    await ws.close(code=1011, reason="store unavailable")
                    return False
                outgoing.update(
                    message_id=saved["id"],
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
            await ws.send_json(outgoing)
            if drop and event["type"] == agent.CHUNK_EVENT:
                log.error("websocket session dropped mid-stream (run %s)", run_id)
                await ws.close(code=1011, reason="internal error")
                return False
        return True


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def create_app(settings: Settings | None = None) -> Any:
    """The backend as an ASGI app (request log outside, lifecycle guard inside) with the drain
    its process runs on SIGTERM."""
    backend = Backend(settings or Settings.from_env(os.environ))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("backend %s starting", backend.settings.revision)
        # In the background: the backend serves /health (and says why it is not ready) while
        # its database does not answer yet.
        startup = asyncio.create_task(backend.lifecycle.start(backend.store.connect))
        try:
            yield
        finally:
            startup.cancel()
            await asyncio.wait({startup})
            await backend.store.close()

    app = Starlette(
        routes=backend.routes(), lifespan=lifespan, exception_handlers={Exception: _unhandled}
    )
    return lifecycle.Service(
        RequestLogMiddleware(lifecycle.Guard(app, backend.lifecycle)), backend.lifecycle.drain
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log_exception(log, f"unhandled error in {request.method} {request.url.path}", exc)
    status = 503 if _is_dependency_error(exc) else 500
    return _error(status, "dependency unavailable" if status == 503 else "internal error")


def _is_dependency_error(exc: BaseException) -> bool:
    import redis.exceptions  # noqa: PLC0415 - only needed on the error path

    return isinstance(exc, redis.exceptions.ConnectionError | OSError | TimeoutError)
