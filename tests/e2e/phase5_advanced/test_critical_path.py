"""Phase 5: the critical path in one test: login, thread, message, answer stored and readable."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.e2e.client import AGENT_EVENTS, Platform

pytestmark = [pytest.mark.phase(5), pytest.mark.priority("P1"), pytest.mark.area("critical_path")]


@pytest.mark.area("agent")
@pytest.mark.area("auth", "threads", "agent", "websocket")
def test_critical_path_end_to_end(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """Sign up, create a thread, converse over the WebSocket, and read the stored answer over
    REST: each step checked as it happens. A user of its own: the shared test user's recent
    threads are capped, and its neighbours' threads push this one out of the list."""
    session = platform.signup()
    assert platform.verify(session.access_token).status_code == 200, "login token not valid"

    thread = platform.create_thread(session, "critical path")
    assert platform.messages(session, thread["id"]) == [], "new thread not empty"

    with platform.measured_session(session, criterion) as ws:
        conversation = platform.converse(ws, "Critical path: what is 6 * 7?", thread["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    assert conversation.kinds == list(AGENT_EVENTS), f"events {conversation.kinds}"
    assert "42" in conversation.answer, f"answer {conversation.answer!r}"
    streamed = "".join(chunk["content"] for chunk in conversation.chunks)
    assert streamed == conversation.answer, f"streamed {streamed!r}"

    stored = platform.messages(session, thread["id"])
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "Critical path: what is 6 * 7?"),
        ("assistant", conversation.answer),
    ], f"stored {json.dumps(stored)}"
    assert stored[1]["id"] == conversation.completed["message_id"], "answer stored under another id"

    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert listed.status_code == 200, f"thread list: HTTP {listed.status_code}"
    assert thread["id"] in [t["id"] for t in listed.json()["threads"]], "thread not listed"
