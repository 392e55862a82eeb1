"""The platform as the end-to-end suite sees it: URLs, HTTP and WebSocket, nothing else.

It never imports the reference platform, so the same tests run against staging. Every request
goes through the plugin's ``http`` client and ``ws_connect``, so it carries the test's trace id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection

AGENT_EVENTS = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
)
CHUNK = "agent_response_chunk"
ROUTED = "agent_routed"  # the supervisor's choice of sub-agents, in order
AGENT_ERROR = "agent_error"  # a sub-agent failed: the run ends there
SUPERVISOR = "supervisor"  # the agent that routes; every other one is a sub-agent
# What counts as a failed WebSocket session: refused or broken handshake, dropped connection,
# no answer in time, a network error.
WS_FAILURES = (WebSocketException, OSError, TimeoutError)
DEFAULT_STALL_S = 10.0


class AgentStalled(Exception):
    """The agent pipeline sent no event for the stall time: a hang, recognised before the
    test's timeout. Not a WebSocket failure: the session itself is open."""


class AgentFailed(Exception):
    """A sub-agent (or the pipeline) reported agent_error: the run stopped there, without an
    answer."""


@dataclasses.dataclass(frozen=True)
class Session:
    """A logged-in user."""

    email: str
    user_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this user."""
        return {"authorization": f"Bearer {self.access_token}"}


@dataclasses.dataclass(frozen=True)
class Conversation:
    """What one user_message produced on the WebSocket, with its timings."""

    events: tuple[dict[str, Any], ...]
    elapsed_ms: float
    first_chunk_ms: float | None

    @property
    def kinds(self) -> list[str]:
        """The sub-agents' event types, chunks (and the supervisor's routing) left out."""
        return [
            e["type"] for e in self.events if e["type"] != CHUNK and e.get("agent") != SUPERVISOR
        ]

    @property
    def route(self) -> list[str]:
        """The sub-agents the supervisor chose, in order ([] when it announced none)."""
        routed = next((e for e in self.events if e["type"] == ROUTED), {})
        return list(routed.get("agents", []))

    def of(self, agent: str) -> list[dict[str, Any]]:
        """The events one agent sent, in order."""
        return [e for e in self.events if e.get("agent") == agent]

    def tools(self, agent: str) -> list[str]:
        """The tools one sub-agent ran, in order."""
        return [e["tool"] for e in self.of(agent) if e["type"] == "tool_executing"]

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """The answer's chunks in arrival order."""
        return [e for e in self.events if e["type"] == CHUNK]

    @property
    def completed(self) -> dict[str, Any]:
        """The agent_completed event."""
        return self.events[-1]

    @property
    def answer(self) -> str:
        """The final answer."""
        return str(self.completed["content"])


def _ends_run(event: dict[str, Any]) -> bool:
    """The run's last event: the final agent_completed (a platform without sub-agents sends
    only one), an agent_error, or an error refusing the message."""
    kind = event["type"]
    return kind in (AGENT_ERROR, "error") or (
        kind == "agent_completed" and event.get("final", True)
    )


def _agent_named(event: dict[str, Any]) -> str:
    """Who sent an event, as a failure names it: "data sub-agent", or "agent pipeline" for
    the supervisor (and for a platform whose events name no agent)."""
    agent = event.get("agent", SUPERVISOR)
    return "agent pipeline" if agent == SUPERVISOR else f"{agent} sub-agent"


class Platform:
    """The deployed services behind the environment's URLs."""

    def __init__(
        self,
        urls: dict[str, str],
        http: httpx.Client,
        ws_connect: Callable[..., ClientConnection],
        users: tuple[str, ...],
        password: Callable[[], str],
        stall_s: float = DEFAULT_STALL_S,
    ) -> None:
        self.urls = urls
        self.http = http
        self.ws_connect = ws_connect
        self.users = users
        self._password = password
        self.stall_s = stall_s

    @property
    def password(self) -> str:
        """The test users' password, asked for only by the tests that log in."""
        return self._password()

    @property
    def backend(self) -> str:
        """The backend's base URL."""
        return self.urls["backend"]

    @property
    def auth(self) -> str:
        """The auth service's base URL."""
        return self.urls["auth"]

    def ready(self) -> httpx.Response:
        """The backend's readiness answer."""
        return self.http.get(f"{self.backend}/health/ready")

    def login(self, user: int = 0) -> Session:
        """Logs one of the environment's test users in; fails the test if that fails."""
        email = self.users[user]
        response = self.http.post(
            f"{self.auth}/auth/login", json={"email": email, "password": self.password}
        )
        assert response.status_code == 200, f"login of {email}: HTTP {response.status_code}"
        body = response.json()
        return Session(email, body["user"]["id"], body["access_token"], body["refresh_token"])

    def create_thread(self, session: Session, title: str = "e2e thread") -> dict[str, Any]:
        """A new thread of the user's."""
        response = self.http.post(
            f"{self.backend}/api/threads", json={"title": title}, headers=session.headers
        )
        assert response.status_code == 201, f"create thread: HTTP {response.status_code}"
        return dict(response.json())

    def messages(self, session: Session, thread_id: str) -> list[dict[str, Any]]:
        """A thread's messages, oldest first."""
        response = self.http.get(
            f"{self.backend}/api/threads/{thread_id}/messages", headers=session.headers
        )
        assert response.status_code == 200, f"read messages: HTTP {response.status_code}"
        return list(response.json()["messages"])

    def connect(self, session: Session) -> ClientConnection:
        """An open, authenticated WebSocket session (its 'connected' greeting consumed)."""
        ws = self.ws_connect(token=session.access_token)
        greeting = json.loads(ws.recv(timeout=10))
        assert greeting["type"] == "connected", greeting
        return ws

    def converse(
        self,
        ws: ClientConnection,
        content: str,
        thread_id: str | None = None,
        timeout_s: float = 60.0,
    ) -> Conversation:
        """Sends one user_message and reads events until the final agent_completed (the last
        sub-agent's). A pipeline that sends nothing for ``stall_s`` is stalled: AgentStalled
        (naming the sub-agent it stalled in), not a wait until the timeout; a sub-agent's
        agent_error is AgentFailed naming it."""
        message: dict[str, Any] = {"type": "user_message", "content": content}
        if thread_id is not None:
            message["thread_id"] = thread_id
        started = time.perf_counter()
        ws.send(json.dumps(message))
        events: list[dict[str, Any]] = []
        first_chunk: float | None = None
        deadline = started + timeout_s
        while not events or not _ends_run(events[-1]):
            left = deadline - time.perf_counter()
            try:
                raw = ws.recv(timeout=max(min(left, self.stall_s), 0.001))
            except TimeoutError:
                if left <= self.stall_s:
                    raise
                after = events[-1]["type"] if events else "the user_message"
                last = events[-1] if events else {}
                # After one sub-agent completed, the next has not started: neither is to blame.
                where = _agent_named({} if last.get("type") == "agent_completed" else last)
                raise AgentStalled(
                    f"{where} stalled: no event for {self.stall_s:g} s after {after}"
                ) from None
            event = json.loads(raw)
            if event["type"] == CHUNK and first_chunk is None:
                first_chunk = (time.perf_counter() - started) * 1000
            events.append(event)
        if events[-1]["type"] == AGENT_ERROR:
            failed = events[-1]
            raise AgentFailed(
                f"{_agent_named(failed)} failed in {failed.get('tool') or 'its run'}: "
                f"{failed.get('error')}"
            )
        assert events[-1]["type"] == "agent_completed", events[-1]
        return Conversation(tuple(events), (time.perf_counter() - started) * 1000, first_chunk)

    # Helpers added for phases 2-5.

    def unique_email(self, label: str = "e2e") -> str:
        """A fresh address in the test users' domain, unique per call (parallel-safe signups)."""
        domain = self.users[0].rpartition("@")[2]
        return f"{label}-{uuid.uuid4().hex[:16]}@{domain}"

    def signup(self, email: str | None = None, password: str | None = None) -> Session:
        """Signs a new user up (a unique email, a random password unless given); fails the test
        if that fails."""
        email = email or self.unique_email()
        password = password or secrets.token_urlsafe(16)
        response = self.http.post(
            f"{self.auth}/auth/signup", json={"email": email, "password": password}
        )
        assert response.status_code == 201, f"signup of {email}: HTTP {response.status_code}"
        body = response.json()
        return Session(email, body["user"]["id"], body["access_token"], body["refresh_token"])

    def refresh(self, session: Session) -> Session:
        """The session with the token pair /auth/refresh issues for its refresh token."""
        response = self.http.post(
            f"{self.auth}/auth/refresh", json={"refresh_token": session.refresh_token}
        )
        assert response.status_code == 200, f"refresh: HTTP {response.status_code}"
        body = response.json()
        return Session(
            session.email, body["user"]["id"], body["access_token"], body["refresh_token"]
        )

    def verify(self, token: str) -> httpx.Response:
        """The auth service's verdict on a bearer token."""
        return self.http.get(
            f"{self.auth}/auth/verify", headers={"authorization": f"Bearer {token}"}
        )

    def exchange(
        self, ws: ClientConnection, message: dict[str, Any], timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """Sends one message on a session and returns the next event it gets."""
        ws.send(json.dumps(message))
        event: dict[str, Any] = json.loads(ws.recv(timeout=timeout_s))
        return event

    @contextlib.contextmanager
    def measured_session(
        self, session: Session, criterion: Callable[[str, float], None]
    ) -> Iterator[ClientConnection]:
        """An open session (greeting consumed) whose outcome is recorded as
        ``websocket_success_rate``: 0.0 when the handshake, the greeting or the connection
        failed (refused, dropped, no answer in time), 1.0 when the session served the block (even
        if what it served was wrong: that is the application's failure, not the session's)."""
        try:
            ws = self.connect(session)
        except (AssertionError, *WS_FAILURES):
            criterion("websocket_success_rate", 0.0)
            raise
        try:
            yield ws
        except WS_FAILURES:
            criterion("websocket_success_rate", 0.0)
            raise
        except Exception:
            # Wrong content or a stalled agent: the session itself served, so it counts.
            criterion("websocket_success_rate", 1.0)
            raise
        criterion("websocket_success_rate", 1.0)
