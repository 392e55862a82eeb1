"""The platform as the end-to-end suite sees it: URLs, HTTP and WebSocket, nothing else.

It never imports the reference platform, so the same tests run against staging. Every request
goes through the plugin's ``http`` client and ``ws_connect``, so it carries the test's trace id.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from websockets.sync.client import ClientConnection

AGENT_EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed",
                "agent_completed")
CHUNK = "agent_response_chunk"


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
        """The event types, chunks left out."""
        return [e["type"] for e in self.events if e["type"] != CHUNK]

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


class Platform:
    """The deployed services behind the environment's URLs."""

    def __init__(self, urls: dict[str, str], http: httpx.Client,
                 ws_connect: Callable[..., ClientConnection], users: tuple[str, ...],
                 password: str) -> None:
        self.urls = urls
        self.http = http
        self.ws_connect = ws_connect
        self.users = users
        self.password = password

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
        response = self.http.post(f"{self.auth}/auth/login",
                                  json={"email": email, "password": self.password})
        assert response.status_code == 200, f"login of {email}: HTTP {response.status_code}"
        body = response.json()
        return Session(email, body["user"]["id"], body["access_token"], body["refresh_token"])

    def create_thread(self, session: Session, title: str = "e2e thread") -> dict[str, Any]:
        """A new thread of the user's."""
        response = self.http.post(f"{self.backend}/api/threads", json={"title": title},
                                  headers=session.headers)
        assert response.status_code == 201, f"create thread: HTTP {response.status_code}"
        return dict(response.json())

    def messages(self, session: Session, thread_id: str) -> list[dict[str, Any]]:
        """A thread's messages, oldest first."""
        response = self.http.get(f"{self.backend}/api/threads/{thread_id}/messages",
                                 headers=session.headers)
        assert response.status_code == 200, f"read messages: HTTP {response.status_code}"
        return list(response.json()["messages"])

    def connect(self, session: Session) -> ClientConnection:
        """An open, authenticated WebSocket session (its 'connected' greeting consumed)."""
        ws = self.ws_connect(token=session.access_token)
        greeting = json.loads(ws.recv(timeout=10))
        assert greeting["type"] == "connected", greeting
        return ws

    def converse(self, ws: ClientConnection, content: str, thread_id: str | None = None,
                 timeout_s: float = 60.0) -> Conversation:
        """Sends one user_message and reads events until agent_completed."""
        message: dict[str, Any] = {"type": "user_message", "content": content}
        if thread_id is not None:
            message["thread_id"] = thread_id
        started = time.perf_counter()
        ws.send(json.dumps(message))
        events: list[dict[str, Any]] = []
        first_chunk: float | None = None
        deadline = started + timeout_s
        while not events or events[-1]["type"] not in ("agent_completed", "error"):
            event = json.loads(ws.recv(timeout=max(deadline - time.perf_counter(), 0.001)))
            if event["type"] == CHUNK and first_chunk is None:
                first_chunk = (time.perf_counter() - started) * 1000
            events.append(event)
        assert events[-1]["type"] == "agent_completed", events[-1]
        return Conversation(tuple(events), (time.perf_counter() - started) * 1000, first_chunk)
