"""A backend's life: starting (its database retried with backoff), serving, draining.

Cloud Run starts a revision's container whether or not its database answers yet, and sends it
SIGTERM some seconds before it stops it. So the backend does not need PostgreSQL to start: it
serves ``/health`` (live) at once, reports ``starting`` on ``/health/ready`` (503, with the
reason) while it retries the database with exponential backoff and jitter (tenacity, already a
dependency of the package), and serves once the database answers.

On the first SIGTERM (``serve.py`` calls :meth:`Lifecycle.drain`) it drains: new sessions and
new agent runs are refused with close code 1012 (service restart: reconnect, to another
instance), the runs in flight get ``grace_s`` to finish, and those still running then are
stopped with an ``agent_error`` saying the server is shutting down, and the same close code:
never a hang or a silent drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal

import psutil
import tenacity
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

log = logging.getLogger("backend")

Phase = Literal["starting", "serving", "draining"]
SERVICE_RESTART = 1012  # RFC 6455: the server is restarting; a client reconnects elsewhere
TRY_AGAIN_LATER = 1013  # RFC 6455: the server cannot serve yet
SHUTTING_DOWN = "server is shutting down"
ERROR_CODE = "server_shutting_down"  # the agent_error's ``code``, for clients to act on
RETRY_INITIAL_S = 0.05  # the first wait between tries at the database; it doubles from there
RETRY_MAX_S = 0.5  # ... up to this, so a database that comes up is seen within half a second
RETRY_JITTER_S = 0.02
# When this process started, on the monotonic clock (psutil gives it on the wall clock): read
# once, so that an uptime never goes back when the wall clock is set.
_STARTED = time.monotonic() - max(time.time() - psutil.Process().create_time(), 0.0)


def uptime_s() -> float:
    """Seconds since this process started."""
    return time.monotonic() - _STARTED


def _describe(exc: BaseException | None) -> str:
    # Exception texts of asyncpg and the socket layer name hosts and ports, never passwords.
    return f"{type(exc).__name__}: {exc}" if exc is not None else "no answer"


@dataclasses.dataclass(frozen=True)
class Startup:
    """What the startup has done so far: tries at the database, and how long it waited."""

    attempts: int = 0
    last_error: str | None = None
    retry_in_s: float | None = None  # the wait before the next try, while starting
    waited_s: float | None = None  # how long it took the database to answer, once it did

    def as_json(self) -> dict[str, Any]:
        """The startup as the ready endpoint's JSON."""
        body: dict[str, Any] = {"attempts": self.attempts, "waited_s": self.waited_s}
        if self.last_error is not None:
            body["last_error"] = self.last_error
        return body


class Lifecycle:
    """One backend process's phase, and the agent runs in flight that a drain waits for."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.phase: Phase = "starting"
        self.startup = Startup()
        self._runs: set[asyncio.Task[bool]] = set()
        self._expired = asyncio.Event()  # set when the grace period of a drain is over

    @property
    def runs_in_flight(self) -> int:
        """How many agent runs are under way."""
        return len(self._runs)

    def reason(self) -> str | None:
        """Why the backend is not serving, in one line; None while it serves."""
        if self.phase == "starting":
            startup = self.startup
            if startup.last_error is None:
                return "starting: connecting to the database"
            return (
                f"starting: waiting for the database, attempt {startup.attempts} failed "
                f"({startup.last_error}); next try in {startup.retry_in_s or 0:.2f} s"
            )
        if self.phase == "draining":
            return f"{SHUTTING_DOWN}: {self.runs_in_flight} agent run(s) finishing"
        return None

    async def start(self, connect: Callable[[], Awaitable[object]]) -> None:
        """Tries ``connect`` until it succeeds, waiting longer after each failure; then serves.

        There is no last try: a backend without its database keeps reporting why on its ready
        endpoint, which is what an operator (and the deploy's checks) look at.
        """
        began = time.monotonic()
        retrying = tenacity.AsyncRetrying(
            wait=tenacity.wait_exponential_jitter(
                multiplier=RETRY_INITIAL_S, max=RETRY_MAX_S, jitter=RETRY_JITTER_S
            ),
            retry=tenacity.retry_if_exception_type(Exception),
            before_sleep=self._failed,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await connect()
        waited = time.monotonic() - began
        self.startup = dataclasses.replace(
            self.startup, attempts=self.startup.attempts + 1, retry_in_s=None, waited_s=waited
        )
        if self.phase == "starting":
            self.phase = "serving"
        log.info(
            "database answered after %d attempt(s) in %.2f s: serving",
            self.startup.attempts,
            waited,
        )

    def _failed(self, state: tenacity.RetryCallState) -> None:
        error = _describe(state.outcome.exception() if state.outcome else None)
        retry_in = state.next_action.sleep if state.next_action else 0.0
        self.startup = Startup(state.attempt_number, error, retry_in)
        # A warning, not an error: a database that comes up a moment after the backend is the
        # normal start of a revision, and the ready endpoint says it meanwhile.
        log.warning(
            "database not ready (attempt %d: %s); retrying in %.2f s",
            state.attempt_number,
            error,
            retry_in,
        )

    async def agent_run(self, ws: WebSocket, run: Callable[[], Coroutine[Any, Any, bool]]) -> bool:
        """Runs one agent run (``run`` says whether the session stays open), unless the backend
        is draining: then the run is refused, as one still running when the grace period ends
        is stopped, with an agent_error and close code 1012. False when the session closed."""
        if self.phase == "draining":
            await refuse_run(ws, "it accepts no new agent runs")
            return False
        task = asyncio.ensure_future(self._guarded(ws, run))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return await task  # cancelling the session cancels the run with it

    async def _guarded(self, ws: WebSocket, run: Callable[[], Coroutine[Any, Any, bool]]) -> bool:
        work = asyncio.ensure_future(run())
        expired = asyncio.ensure_future(self._expired.wait())
        try:
            await asyncio.wait({work, expired}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                return work.result()
            work.cancel()
            await asyncio.wait({work})
            log.warning(
                "agent run stopped: still running after the %g s grace period of the shutdown",
                self.grace_s,
            )
            await refuse_run(
                ws, f"the agent run did not finish within the {self.grace_s:g} s grace period"
            )
            return False
        finally:
            expired.cancel()
            work.cancel()  # nothing when it is done; stops it when the session is cancelled

    async def drain(self) -> None:
        """Stops taking sessions and agent runs, gives those in flight the grace period to
        finish, and stops (and tells the client about) the ones still running after it."""
        if self.phase == "draining":
            return
        self.phase = "draining"
        runs = set(self._runs)
        log.info(
            "shutting down: %d agent run(s) in flight, %g s grace period", len(runs), self.grace_s
        )
        if not runs:
            return
        _, pending = await asyncio.wait(runs, timeout=self.grace_s)
        if pending:
            self._expired.set()
            await asyncio.wait(pending, timeout=2.0)  # each tells its client, then ends
        log.info(
            "shutting down: %d agent run(s) finished, %d stopped",
            len(runs) - len(pending),
            len(pending),
        )


async def refuse_run(ws: WebSocket, why: str) -> None:
    """Tells the session's client that the server is shutting down, and closes it with 1012."""
    with contextlib.suppress(Exception):  # a client that left already needs no telling
        await ws.send_json(
            {
                "type": "agent_error",
                "agent": "supervisor",
                "code": ERROR_CODE,
                "error": f"{SHUTTING_DOWN}: {why}; retry on a new session",
            }
        )
        await ws.close(code=SERVICE_RESTART, reason=SHUTTING_DOWN)


class Guard:
    """ASGI middleware: what a backend that is not serving refuses.

    While starting, the API answers 503 (with ``Retry-After``) and a new WebSocket session is
    closed with 1013 (try again later); while draining, a new session is closed with 1012. Both
    say why in the reason. ``/health`` and ``/health/ready`` always answer: they report the
    phase. Requests under way when a drain begins, and new HTTP requests (short by nature),
    are served.
    """

    def __init__(self, app: ASGIApp, lifecycle: Lifecycle) -> None:
        self.app = app
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Passes the request on, or refuses it while the backend is not serving."""
        phase = self.lifecycle.phase
        if (
            phase == "serving"
            or scope["type"] not in ("http", "websocket")
            or scope["path"].startswith("/health")
            or (scope["type"] == "http" and phase == "draining")
        ):
            await self.app(scope, receive, send)
            return
        reason = self.lifecycle.reason() or phase
        if scope["type"] == "http":
            response = JSONResponse(
                {"error": f"backend is {reason}; retry in a moment"},
                status_code=503,
                headers={"retry-after": "1"},
            )
            await response(scope, receive, send)
            return
        # Accepted, then closed: a close frame carries the code and the reason to the client,
        # where a refused handshake would only be an HTTP 403.
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        code = SERVICE_RESTART if phase == "draining" else TRY_AGAIN_LATER
        short = SHUTTING_DOWN if phase == "draining" else "backend is starting: try again later"
        await send({"type": "websocket.close", "code": code, "reason": short})


@dataclasses.dataclass(frozen=True)
class Service:
    """An ASGI app with the drain that ``serve.py`` runs on the first SIGTERM, before
    uvicorn's own shutdown."""

    app: ASGIApp
    drain: Callable[[], Awaitable[None]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app itself."""
        await self.app(scope, receive, send)
