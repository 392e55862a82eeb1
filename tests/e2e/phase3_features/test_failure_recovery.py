"""Phase 3: after a closed session or a refused request, the user carries on where they were."""

from __future__ import annotations

import json

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(3), pytest.mark.priority("P2")]


@pytest.mark.area("agent")
@pytest.mark.area("websocket", "threads")
def test_reconnect_continues_the_same_thread(platform: Platform, user: Session) -> None:
    """A session is closed; a new one continues the thread, and the history holds both turns."""
    thread = platform.create_thread(user, "reconnect")
    first_ws = platform.connect(user)
    first = platform.converse(first_ws, "Before the reconnect", thread["id"])
    first_ws.close()
    second = platform.converse(platform.connect(user), "After the reconnect", thread["id"])
    contents = [m["content"] for m in platform.messages(user, thread["id"])]
    assert contents == [
        "Before the reconnect",
        first.answer,
        "After the reconnect",
        second.answer,
    ], f"history {contents}"


@pytest.mark.area("agent")
@pytest.mark.area("websocket", "threads")
def test_reconnect_after_closing_mid_answer(platform: Platform, user: Session) -> None:
    """A session closed while the agent streams; a new session's run completes and is stored."""
    thread = platform.create_thread(user, "closed mid answer")
    ws = platform.connect(user)
    ws.send(
        json.dumps({"type": "user_message", "content": "Interrupted", "thread_id": thread["id"]})
    )
    assert json.loads(ws.recv(timeout=10))["type"] == "agent_started"
    ws.close()
    conversation = platform.converse(platform.connect(user), "Resumed", thread["id"])
    stored = platform.messages(user, thread["id"])
    ids = [m["id"] for m in stored]
    assert conversation.completed["message_id"] in ids, f"answer not stored: {stored}"
    contents = [m["content"] for m in stored]
    assert "Resumed" in contents, f"history {contents}"
    assert contents.index("Resumed") < ids.index(conversation.completed["message_id"])
    assert contents[0] == "Interrupted", f"history {contents}"


@pytest.mark.area("agent")
@pytest.mark.area("websocket")
def test_session_recovers_from_a_refused_message(platform: Platform, user: Session) -> None:
    """A message to a thread that does not exist gets an error; the next one is answered."""
    ws = platform.connect(user)
    refused = platform.exchange(
        ws,
        {
            "type": "user_message",
            "content": "into the void",
            "thread_id": "00000000-0000-0000-0000-000000000000",
        },
    )
    assert refused["type"] == "error", f"got {refused}"
    assert platform.converse(ws, "Try again").answer, "no answer after the error"


@pytest.mark.area("threads")
def test_retry_of_a_message_after_422(platform: Platform, user: Session) -> None:
    """A message without content is 422 and not stored; the corrected retry is 201 and stored."""
    thread = platform.create_thread(user)
    url = f"{platform.backend}/api/threads/{thread['id']}/messages"
    bad = platform.http.post(url, json={"text": "wrong field"}, headers=user.headers)
    assert bad.status_code == 422, f"bad body: HTTP {bad.status_code}"
    good = platform.http.post(url, json={"content": "right field"}, headers=user.headers)
    assert good.status_code == 201, f"retry: HTTP {good.status_code}"
    assert [m["content"] for m in platform.messages(user, thread["id"])] == ["right field"]


@pytest.mark.area("threads")
def test_retry_of_thread_creation_after_invalid_json(platform: Platform, user: Session) -> None:
    """A body that is not JSON is 422; the retry with a valid body creates the thread."""
    url = f"{platform.backend}/api/threads"
    headers = {**user.headers, "content-type": "application/json"}
    bad = platform.http.post(url, content=b"{not json", headers=headers)
    assert bad.status_code == 422, f"bad body: HTTP {bad.status_code}"
    good = platform.http.post(url, json={"title": "retried"}, headers=user.headers)
    assert good.status_code == 201, f"retry: HTTP {good.status_code}"
    assert good.json()["title"] == "retried", good.text


@pytest.mark.area("auth")
def test_retry_of_login_after_401(platform: Platform) -> None:
    """A failed login does not lock the user out: the retry with the right password is 200."""
    url = f"{platform.auth}/auth/login"
    email = platform.users[0]
    bad = platform.http.post(url, json={"email": email, "password": "not-the-password"})
    assert bad.status_code == 401, f"wrong password: HTTP {bad.status_code}"
    good = platform.http.post(url, json={"email": email, "password": platform.password})
    assert good.status_code == 200, f"retry: HTTP {good.status_code}"
