"""Phase 5: sessions and threads through their lifecycle; what one session stored, the next sees."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(5), pytest.mark.priority("P4"), pytest.mark.area("lifecycle")]


@pytest.mark.area("agent")
@pytest.mark.area("websocket", "threads")
def test_new_session_sees_the_persisted_history(platform: Platform, user: Session) -> None:
    """Connect, converse, close; a later login's session continues a history that holds it all."""
    first_ws = platform.connect(user)
    first = platform.converse(first_ws, "Lifecycle: first session")
    thread_id = first.completed["thread_id"]
    first_ws.close()
    later = platform.login(0)
    assert [m["content"] for m in platform.messages(later, thread_id)] == [
        "Lifecycle: first session",
        first.answer,
    ], "history after the first session closed"
    second = platform.converse(platform.connect(later), "Lifecycle: second session", thread_id)
    contents = [m["content"] for m in platform.messages(later, thread_id)]
    assert contents == [
        "Lifecycle: first session",
        first.answer,
        "Lifecycle: second session",
        second.answer,
    ], f"history {contents}"


@pytest.mark.area("agent")
@pytest.mark.area("threads")
def test_thread_lifecycle(platform: Platform) -> None:
    """A thread is created empty, gains messages over REST and WebSocket, is listed first, keeps
    its title and creation time, and stays private to its owner."""
    owner, stranger = platform.signup(), platform.signup()
    thread = platform.create_thread(owner, "lifecycle")
    assert platform.messages(owner, thread["id"]) == [], "new thread not empty"
    posted = platform.http.post(
        f"{platform.backend}/api/threads/{thread['id']}/messages",
        json={"content": "over REST"},
        headers=owner.headers,
    )
    assert posted.status_code == 201, f"post: HTTP {posted.status_code}"
    platform.converse(platform.connect(owner), "over the socket", thread["id"])
    roles = [m["role"] for m in platform.messages(owner, thread["id"])]
    assert roles == ["user", "user", "assistant"], f"roles {roles}"
    detail = platform.http.get(
        f"{platform.backend}/api/threads/{thread['id']}", headers=owner.headers
    )
    assert detail.json() == thread, f"thread changed: {detail.json()} was {thread}"
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=owner.headers)
    assert [t["id"] for t in listed.json()["threads"]] == [thread["id"]], listed.text
    foreign = platform.http.get(
        f"{platform.backend}/api/threads/{thread['id']}", headers=stranger.headers
    )
    assert foreign.status_code == 404, f"stranger: HTTP {foreign.status_code}"


@pytest.mark.area("agent")
@pytest.mark.area("websocket")
def test_two_open_sessions_are_independent(platform: Platform, user: Session) -> None:
    """Two sessions of one user at once get distinct session ids, and closing one leaves the
    other working."""
    first = platform.ws_connect(token=user.access_token)
    second = platform.ws_connect(token=user.access_token)
    greetings: list[dict[str, Any]] = [json.loads(ws.recv(timeout=10)) for ws in (first, second)]
    assert greetings[0]["session_id"] != greetings[1]["session_id"], f"greetings {greetings}"
    first.close()
    assert platform.exchange(second, {"type": "ping"}) == {"type": "pong"}
    assert platform.converse(second, "Still here?").answer, "no answer on the remaining session"
