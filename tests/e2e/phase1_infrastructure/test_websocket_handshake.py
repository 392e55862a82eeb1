"""Phase 1: the WebSocket endpoint accepts an authenticated handshake and refuses others."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.client import Platform

pytestmark = [pytest.mark.phase(1), pytest.mark.priority("P1"), pytest.mark.area("websocket")]


def test_handshake_with_token_is_accepted(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """An authenticated handshake gets the 'connected' greeting naming the user."""
    session = platform.login(0)
    try:
        ws = platform.ws_connect(token=session.access_token)
        greeting = json.loads(ws.recv(timeout=10))
    except Exception:
        criterion("websocket_success_rate", 0.0)
        raise
    criterion("websocket_success_rate", 1.0 if greeting.get("type") == "connected" else 0.0)
    assert greeting["type"] == "connected"
    assert greeting["user_id"] == session.user_id


def test_ping_is_answered(platform: Platform) -> None:
    """A ping on an open session gets a pong."""
    ws = platform.connect(platform.login(0))
    ws.send(json.dumps({"type": "ping"}))
    assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}


def test_handshake_without_token_is_refused(platform: Platform) -> None:
    """No token: the handshake is refused with HTTP 403, not accepted."""
    with pytest.raises(InvalidStatus) as refused:
        platform.ws_connect()
    assert refused.value.response.status_code == 403


def test_handshake_with_forged_token_is_refused(platform: Platform) -> None:
    """A token not signed by the auth service is refused."""
    with pytest.raises(InvalidStatus):
        platform.ws_connect(token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged-signature")


def test_unknown_message_type_gets_an_error_not_a_close(platform: Platform) -> None:
    """The session stays open after a message it does not understand."""
    ws = platform.connect(platform.login(0))
    ws.send(json.dumps({"type": "nonsense"}))
    assert json.loads(ws.recv(timeout=10))["type"] == "error"
    ws.send(json.dumps({"type": "ping"}))
    assert json.loads(ws.recv(timeout=10))["type"] == "pong"
