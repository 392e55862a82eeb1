"""What the integration tests do to a running platform, as a client would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import websockets

from reference_platform import stack

T = TypeVar("T")
PASSWORD = "dev-password"
EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]


def login(auth_url: str, email: str = "alice@example.com") -> str:
    """An access token for a seeded dev user."""
    response = httpx.post(f"{auth_url}/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


def log_entries(state: stack.State, service: str) -> list[dict[str, Any]]:
    """The service's JSON log lines, as Cloud Logging would hold them."""
    return [json.loads(line) for line in Path(state.logs[service]).read_text().splitlines()]


async def converse(
    url: str,
    token: str,
    content: str,
    thread_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Sends one user_message and collects events until agent_completed."""
    async with websockets.connect(f"{url}?token={token}", additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        message: dict[str, Any] = {"type": "user_message", "content": content}
        if thread_id:
            message["thread_id"] = thread_id
        await ws.send(json.dumps(message))
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] != "agent_completed":
            events.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        return events


def wait_for(probe: Callable[[], T], timeout_s: float = 5.0) -> T:
    """The first truthy result of ``probe``, polled until ``timeout_s``; fails the test after."""
    deadline = time.monotonic() + timeout_s
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout_s} s from {probe}")
        time.sleep(0.02)
    return result


def service_secrets(state: stack.State) -> list[str]:
    """The JWT secret and the database password the running backend was given, read from its
    process environment (the platform never writes them anywhere)."""
    backend = next(p for p in state.processes if p.name == "backend")
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{backend.pid}/environ").read_text().split("\0")
        if "=" in item
    )
    return [environ["JWT_SECRET"], environ["DATABASE_URL"].split(":")[2].split("@")[0]]


def files_holding(folder: Path, values: list[str]) -> list[Path]:
    """The files under ``folder`` whose text contains any of the values."""
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and any(value in path.read_text(errors="replace") for value in values)
    ]
