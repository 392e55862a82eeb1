"""Each fault behaves as the real failure would, seen only from outside: URLs, logs, documents."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from reference_platform import revisions
from tests.integration.conftest import StartStack
from tests.integration.helpers import converse, log_entries, login, wait_for

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
