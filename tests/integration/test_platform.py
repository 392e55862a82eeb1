"""The healthy platform behaves like the real services: ready, API, WebSocket agent, telemetry."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from reference_platform import stack
from tests.integration.helpers import (
    EVENTS,
    converse,
    files_holding,
    log_entries,
    login,
    service_secrets,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_ready_is_200_with_each_dependency_measured(healthy: stack.State) -> None:
    """/health/ready lists postgres and redis as up, each with a measured latency."""
    response = httpx.get(f"{healthy.urls['backend']}/health/ready")
    assert response.status_code == 200
    deps = response.json()["dependencies"]
    assert set(deps) == {"postgres", "redis"}
    for dep in deps.values():
        assert dep["status"] == "up"
        assert 0 < dep["latency_ms"] < dep["limit_ms"]


def test_agent_events_arrive_in_order_and_answer_is_persisted(healthy: stack.State) -> None:
    """The five events in order, chunks forming the answer, and the answer stored in the thread."""
    token = login(healthy.urls["auth"])
    events = asyncio.run(converse(healthy.urls["websocket"], token, "calculate 6*7"))
    # The supervisor's own events (start, thinking, routing) come first; the sub-agent's are
    # the five of the contract.
    kinds = [
        e["type"]
        for e in events
        if e["type"] != "agent_response_chunk" and e.get("agent") != "supervisor"
    ]
    assert kinds == EVENTS
    answer = events[-1]["content"]
    assert answer == "The result is 6*7 = 42."
    assert "".join(e["content"] for e in events if e["type"] == "agent_response_chunk") == answer
    thread_id = events[-1]["thread_id"]
    messages = httpx.get(
        f"{healthy.urls['backend']}/api/threads/{thread_id}/messages",
        headers={"authorization": f"Bearer {token}"},
    ).json()["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "calculate 6*7"),
        ("assistant", answer),
    ]
    assert messages[1]["id"] == events[-1]["message_id"]


def test_threads_are_private_to_their_user(healthy: stack.State) -> None:
    """Another user's thread is 404 on read and on write; the owner sees it in recent threads."""
    backend = healthy.urls["backend"]
    alice = {"authorization": f"Bearer {login(healthy.urls['auth'])}"}
    bob = {"authorization": f"Bearer {login(healthy.urls['auth'], 'bob@example.com')}"}
    created = httpx.post(f"{backend}/api/threads", json={"title": "plans"}, headers=alice)
    assert created.status_code == 201
    thread_id = created.json()["id"]
    messages = f"{backend}/api/threads/{thread_id}/messages"
    assert httpx.get(messages, headers=alice).status_code == 200
    assert httpx.get(messages, headers=bob).status_code == 404
    assert (
        httpx.post(
            f"{backend}/api/threads/{thread_id}/messages", json={"content": "x"}, headers=bob
        ).status_code
        == 404
    )
    assert httpx.get(f"{backend}/api/threads/{thread_id}", headers=bob).status_code == 404
    recent = httpx.get(f"{backend}/api/threads", headers=alice).json()["threads"]
    assert recent[0]["id"] == thread_id
    assert thread_id not in {
        t["id"] for t in httpx.get(f"{backend}/api/threads", headers=bob).json()["threads"]
    }


def test_api_and_websocket_refuse_missing_or_bad_tokens(healthy: stack.State) -> None:
    """No token or a forged one: 401 on the API, and the WebSocket handshake is refused."""
    backend = healthy.urls["backend"]
    assert httpx.get(f"{backend}/api/threads").status_code == 401
    forged = {"authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.bad"}
    assert httpx.get(f"{backend}/api/threads", headers=forged).status_code == 401

    async def handshake() -> None:
        async with websockets.connect(f"{healthy.urls['websocket']}?token=forged"):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(handshake())
    assert refused.value.response.status_code == 403


def test_auth_refresh_and_verify(healthy: stack.State) -> None:
    """A refresh token gives a new access token, which verify accepts for the same user."""
    auth = healthy.urls["auth"]
    tokens = httpx.post(
        f"{auth}/auth/login", json={"email": "carol@example.com", "password": "dev-password"}
    ).json()
    refreshed = httpx.post(f"{auth}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    verified = httpx.get(
        f"{auth}/auth/verify",
        headers={"authorization": f"Bearer {refreshed.json()['access_token']}"},
    )
    assert verified.json()["email"] == "carol@example.com"
    # An access token is not a refresh token, and a wrong password is refused.
    assert (
        httpx.post(
            f"{auth}/auth/refresh", json={"refresh_token": tokens["access_token"]}
        ).status_code
        == 401
    )
    assert (
        httpx.post(
            f"{auth}/auth/login", json={"email": "carol@example.com", "password": "wrong"}
        ).status_code
        == 401
    )


def test_client_trace_ids_appear_in_the_log_lines_of_that_request(healthy: stack.State) -> None:
    """traceparent and X-Cloud-Trace-Context both tie a request to its log lines, WebSocket too."""
    w3c, google, ws_trace = (secrets.token_hex(16) for _ in range(3))
    backend = healthy.urls["backend"]
    httpx.get(f"{backend}/health/ready", headers={"traceparent": f"00-{w3c}-{'1' * 16}-01"})
    httpx.get(f"{backend}/api/threads", headers={"x-cloud-trace-context": f"{google}/7;o=1"})
    token = login(healthy.urls["auth"])
    asyncio.run(
        converse(
            healthy.urls["websocket"],
            token,
            "hello",
            headers={"traceparent": f"00-{ws_trace}-{'2' * 16}-01"},
        )
    )

    def requests_of(trace: str) -> list[dict[str, Any]]:
        return [
            e
            for e in log_entries(healthy, "backend")
            if "httpRequest" in e
            and e.get("logging.googleapis.com/trace") == f"projects/local/traces/{trace}"
        ]

    assert [e["httpRequest"]["status"] for e in requests_of(w3c)] == [200]
    assert [e["httpRequest"]["status"] for e in requests_of(google)] == [401]
    # A WebSocket's request line is written when the session ends, just after the client left.
    ws_requests = wait_for(lambda: requests_of(ws_trace))
    assert ws_requests[0]["httpRequest"]["requestUrl"].endswith("/ws?token=[REDACTED]")
    assert ws_requests[0]["httpRequest"]["status"] == 101
    assert all(token not in json.dumps(e) for e in log_entries(healthy, "backend"))
    for entry in requests_of(w3c):
        assert {"severity", "message", "timestamp"} <= set(entry)
        assert float(entry["httpRequest"]["latency"].rstrip("s")) >= 0


def test_no_secret_value_reaches_any_file(healthy: stack.State) -> None:
    """The JWT secret and the database password given to the services are in no file we write."""
    secret_values = service_secrets(healthy)
    assert all(len(value) >= 16 for value in secret_values)
    state_dir = Path(healthy.logs["backend"]).parent.parent
    assert files_holding(state_dir, secret_values) == []
