"""Phase 5: the auth service and the backend agree on every token, over HTTP and WebSocket."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(5), pytest.mark.priority("P4"), pytest.mark.area("auth")]


def _token(kind: str, session: Session) -> str:
    head, payload, signature = session.access_token.split(".")
    return {
        "access": session.access_token,
        "refresh": session.refresh_token,
        "tampered": f"{head}.{payload}.{signature[::-1]}",
        "garbage": "not-a-token",
    }[kind]


@pytest.mark.parametrize(
    ("kind", "accepted"),
    [("access", True), ("refresh", False), ("tampered", False), ("garbage", False)],
)
@pytest.mark.area("integration", "websocket")
def test_verify_agrees_with_the_backend(
    platform: Platform, user: Session, kind: str, accepted: bool
) -> None:
    """/auth/verify, the backend's REST API and its WebSocket all accept the token or all
    refuse it."""
    token = _token(kind, user)
    verify = platform.verify(token).status_code
    rest = platform.http.get(
        f"{platform.backend}/api/threads", headers={"authorization": f"Bearer {token}"}
    ).status_code
    try:
        greeting = json.loads(platform.ws_connect(token=token).recv(timeout=10))
        socket = greeting.get("type") == "connected"
    except InvalidStatus:
        socket = False
    seen = f"verify {verify}, REST {rest}, WebSocket {'accepted' if socket else 'refused'}"
    assert (verify == 200, rest == 200, socket) == (accepted, accepted, accepted), seen
    if not accepted:
        assert (verify, rest) == (401, 401), seen


@pytest.mark.area("agent")
@pytest.mark.area("websocket", "agent")
def test_refreshed_token_is_used_on_the_websocket(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """A refreshed access token opens a session as the same user, and a run on it completes."""
    refreshed = platform.refresh(user)
    with platform.measured_session(refreshed, criterion) as ws:
        conversation = platform.converse(ws, "Using a refreshed token")
    thread_id = conversation.completed["thread_id"]
    contents = [m["content"] for m in platform.messages(user, thread_id)]
    assert contents == ["Using a refreshed token", conversation.answer], f"history {contents}"
