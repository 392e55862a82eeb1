"""Each fault behaves as the real failure would, seen only from outside: URLs, logs, documents."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from reference_platform import revisions, stack, telemetry
from reference_platform.domain import SERVICES
from tests.integration.conftest import StartStack
from tests.integration.helpers import EVENTS, converse, log_entries, login, wait_for

pytestmark = pytest.mark.integration


def test_redis_down_closes_its_port_and_ready_names_it(start_stack: StartStack) -> None:
    """Under redis_down, ready is 503 naming redis (postgres still up) and the log says why."""
    state = start_stack("redis_down")
    response = httpx.get(f"{state.urls['backend']}/health/ready")
    assert response.status_code == 503
    deps = response.json()["dependencies"]
    assert deps["postgres"]["status"] == "up"
    assert deps["redis"]["status"] == "down"
    assert f":{state.ports['redis']}" in deps["redis"]["error"]
    assert "redis" not in {p.name for p in state.processes}
    # The API that needs Redis fails as a dependency failure, logged with the connection error.
    token = login(state.urls["auth"])
    created = httpx.post(
        f"{state.urls['backend']}/api/threads",
        json={},
        headers={"authorization": f"Bearer {token}"},
    )
    assert created.status_code == 503
    errors = [e["message"] for e in log_entries(state, "backend") if e["severity"] == "ERROR"]
    assert any("ConnectionError" in m and str(state.ports["redis"]) in m for m in errors)


@pytest.mark.parametrize(("delay_ms", "ready"), [(400, False), (50, True)])
def test_db_slow_beyond_the_limit_makes_ready_503(
    start_stack: StartStack, delay_ms: int, ready: bool
) -> None:
    """db_slow over the latency limit is 503 "slow" with the measured latency; under it, 200."""
    state = start_stack(f"db_slow={delay_ms}", db_latency_limit_ms=250)
    response = httpx.get(f"{state.urls['backend']}/health/ready", timeout=10)
    postgres = response.json()["dependencies"]["postgres"]
    assert response.status_code == (200 if ready else 503)
    assert postgres["status"] == ("up" if ready else "slow")
    assert postgres["latency_ms"] >= delay_ms
    assert postgres["limit_ms"] == 250


def test_missing_secret_fails_token_issue_with_500_and_names_the_variable(
    start_stack: StartStack,
) -> None:
    """Without JWT_SECRET, login is 500, the ERROR log names it, and the revision lacks it."""
    state = start_stack("missing_secret")
    response = httpx.post(
        f"{state.urls['auth']}/auth/login",
        json={"email": "alice@example.com", "password": "dev-password"},
    )
    assert response.status_code == 500
    errors = [e for e in log_entries(state, "auth") if e["severity"] == "ERROR"]
    assert any("JWT_SECRET" in e["message"] for e in errors)
    assert httpx.get(f"{state.urls['auth']}/health/ready").status_code == 503
    auth_revision = revisions.revisions(Path(state.logs["auth"]).parent.parent, "auth")[-1]
    assert "JWT_SECRET" not in {e["name"] for e in auth_revision["containers"][0]["env"]}


def test_missing_module_makes_every_backend_url_503(start_stack: StartStack) -> None:
    """The backend fails at import: 503 on any URL, the ModuleNotFoundError in its log, and a
    revision that is created but not ready."""
    state = start_stack("missing_module")
    backend = state.urls["backend"]
    for path in ("/health", "/health/ready", "/api/threads", "/anything"):
        assert httpx.get(f"{backend}{path}").status_code == 503
    assert httpx.post(f"{backend}/api/threads", json={}).status_code == 503
    crash = [e for e in log_entries(state, "backend") if e["severity"] == "CRITICAL"]
    assert crash
    assert "ModuleNotFoundError: No module named" in crash[0]["message"]
    assert "Traceback" in crash[0]["message"]
    assert state.not_ready == {"backend": "HTTP 503 on /health"}
    state_dir = Path(state.logs["backend"]).parent.parent
    service = json.loads((state_dir / "services" / "backend.json").read_text())
    assert service["latestCreatedRevision"].endswith(state.revisions["backend"])
    assert service["latestReadyRevision"] == ""
    assert service["terminalCondition"]["state"] == "CONDITION_FAILED"


def test_agent_hang_never_completes(start_stack: StartStack) -> None:
    """Under agent_hang the pipeline starts and thinks, then nothing more arrives."""
    state = start_stack("agent_hang")
    token = login(state.urls["auth"])

    async def events_within(seconds: float) -> list[str]:
        seen: list[str] = []
        async with websockets.connect(f"{state.urls['websocket']}?token={token}") as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "user_message", "content": "hello"}))
            deadline = asyncio.get_running_loop().time() + seconds
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    seen.append(json.loads(await asyncio.wait_for(ws.recv(), left))["type"])
                except TimeoutError:
                    break
        return seen

    assert asyncio.run(events_within(1.0)) == ["agent_started", "agent_thinking"]


def test_ws_drop_closes_sessions_with_1011_mid_stream(start_stack: StartStack) -> None:
    """With ws_drop=1 every session closes with 1011 after the first answer chunk."""
    state = start_stack("ws_drop=1")
    token = login(state.urls["auth"])
    with pytest.raises(websockets.ConnectionClosedError) as closed:
        asyncio.run(converse(state.urls["websocket"], token, "hello"))
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
    wait_for(
        lambda: any("dropped mid-stream" in e["message"] for e in log_entries(state, "backend"))
    )


def _revision(state: stack.State, service: str) -> dict[str, Any]:
    """The revision document of the service's current revision."""
    state_dir = Path(state.logs[service]).parent.parent
    return next(
        doc
        for doc in revisions.revisions(state_dir, service)
        if doc["name"].endswith(state.revisions[service])
    )


def _image(state: stack.State, service: str) -> str:
    return str(_revision(state, service)["containers"][0]["image"])


def test_handler_error_is_a_500_with_its_traceback_under_the_requests_trace(
    start_stack: StartStack,
) -> None:
    """Under handler_error creating a thread is 500, the backend logs the AttributeError's
    traceback at ERROR under that request's trace id, and the rest of the API still serves;
    the defect is in the backend's image (its digest), not in any env entry or in auth's."""
    state = start_stack("handler_error")
    headers = {"authorization": f"Bearer {login(state.urls['auth'])}"}
    trace = secrets.token_hex(16)
    created = httpx.post(
        f"{state.urls['backend']}/api/threads",
        json={"title": "a thread"},
        headers={**headers, "traceparent": f"00-{trace}-{secrets.token_hex(8)}-01"},
    )
    assert created.status_code == 500
    assert httpx.get(f"{state.urls['backend']}/api/threads", headers=headers).status_code == 200
    traced = wait_for(
        lambda: [
            e
            for e in log_entries(state, "backend")
            if e.get("logging.googleapis.com/trace") == telemetry.trace_resource(trace)
        ]
    )
    errors = [e["message"] for e in traced if e["severity"] == "ERROR"]
    assert any(
        "AttributeError: 'NoneType' object has no attribute 'strip'" in m and "Traceback" in m
        for m in errors
    ), errors
    assert any(e.get("httpRequest", {}).get("status") == 500 for e in traced)
    assert _image(state, "backend").endswith(revisions.image_digest("backend", ("handler_error",)))
    assert _image(state, "auth").endswith(revisions.image_digest("auth"))
    env = {e["name"] for e in _revision(state, "backend")["containers"][0]["env"]}
    assert not {"IMAGE_DEFECTS", "HANDLER_ERROR"} & env


def test_subagent_wrong_answers_calmly_about_another_service(start_stack: StartStack) -> None:
    """Under subagent_wrong=data the data sub-agent completes its run with the next service's
    figures instead of the one asked about, and the backend logs nothing wrong."""
    state = start_stack("subagent_wrong=data")
    names = list(SERVICES)
    asked, answered = names[0], names[1]
    token = login(state.urls["auth"])
    trace = secrets.token_hex(16)
    events = asyncio.run(
        converse(
            state.urls["websocket"],
            token,
            f"Show the p95 latency trend for {asked}",
            headers={"traceparent": f"00-{trace}-{secrets.token_hex(8)}-01"},
        )
    )
    completed = events[-1]
    assert completed["agent"] == "data"
    assert completed["final"] is True
    first, last = SERVICES[answered].latency_ms[0], SERVICES[answered].latency_ms[-1]
    assert f"For {answered}, p95 latency went from {first} ms to {last} ms" in completed["content"]
    assert asked not in completed["content"]
    assert "agent_error" not in {e["type"] for e in events}
    traced = wait_for(
        lambda: [
            e
            for e in log_entries(state, "backend")
            if e.get("logging.googleapis.com/trace") == telemetry.trace_resource(trace)
        ]
    )
    assert {e["severity"] for e in traced} == {"INFO"}, traced


def test_contract_change_renames_the_messages_content_field(start_stack: StartStack) -> None:
    """Under contract_change a posted message and the thread's messages come back 2xx with
    ``text`` and without ``content``; the agent's own events keep ``content``."""
    state = start_stack("contract_change")
    backend = state.urls["backend"]
    token = login(state.urls["auth"])
    headers = {"authorization": f"Bearer {token}"}
    thread = httpx.post(f"{backend}/api/threads", json={"title": "t"}, headers=headers).json()
    url = f"{backend}/api/threads/{thread['id']}/messages"
    posted = httpx.post(url, json={"content": "hello"}, headers=headers)
    assert posted.status_code == 201
    listed = httpx.get(url, headers=headers)
    assert listed.status_code == 200
    for message in (posted.json(), *listed.json()["messages"]):
        assert message["text"] == "hello"
        assert "content" not in message
    events = asyncio.run(converse(state.urls["websocket"], token, "hello"))
    assert events[-1]["content"]


def test_events_out_of_order_send_thinking_after_the_first_tool(
    start_stack: StartStack,
) -> None:
    """Under events_out_of_order every event of the run still arrives, but each sub-agent's
    agent_thinking comes after its first tool_executing."""
    state = start_stack("events_out_of_order")
    token = login(state.urls["auth"])
    events = asyncio.run(converse(state.urls["websocket"], token, "hello"))
    kinds = [e["type"] for e in events if e.get("agent") != "supervisor" and e["type"] in EVENTS]
    assert sorted(kinds) == sorted(EVENTS)
    assert kinds == ["agent_started", "tool_executing", "agent_thinking", *EVENTS[3:]]
