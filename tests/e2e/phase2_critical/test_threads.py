"""Phase 2: a user creates a thread and reads it back, with its messages, over REST."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(2), pytest.mark.priority("P1"), pytest.mark.area("threads")]


def test_create_thread_returns_it(platform: Platform, user: Session) -> None:
    """POST /api/threads is 201 with the new thread's id and the title given."""
    title = f"critical {uuid.uuid4().hex[:8]}"
    response = platform.http.post(
        f"{platform.backend}/api/threads", json={"title": title}, headers=user.headers
    )
    assert response.status_code == 201, f"HTTP {response.status_code}: {response.text}"
    thread = response.json()
    assert thread["id"], f"no id in {thread}"
    assert thread["title"] == title, f"title {thread['title']!r}"


def test_created_thread_is_readable(platform: Platform, user: Session) -> None:
    """GET /api/threads/{id} returns the thread just created, unchanged."""
    thread = platform.create_thread(user, "read me back")
    response = platform.http.get(
        f"{platform.backend}/api/threads/{thread['id']}", headers=user.headers
    )
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
    assert response.json() == thread


def test_new_thread_has_no_messages(platform: Platform, user: Session) -> None:
    """A thread just created has an empty message list."""
    thread = platform.create_thread(user)
    assert platform.messages(user, thread["id"]) == []


def test_new_thread_is_listed_among_recent_threads(platform: Platform, own_user: Session) -> None:
    """The user's thread list includes the thread just created."""
    thread = platform.create_thread(own_user)
    response = platform.http.get(f"{platform.backend}/api/threads", headers=own_user.headers)
    assert response.status_code == 200, f"HTTP {response.status_code}"
    ids = [t["id"] for t in response.json()["threads"]]
    assert thread["id"] in ids, f"{thread['id']} not among {len(ids)} recent threads"


def test_posted_message_is_stored(platform: Platform, user: Session) -> None:
    """POST of a message is 201 with the stored user message; reading the thread shows it."""
    thread = platform.create_thread(user)
    response = platform.http.post(
        f"{platform.backend}/api/threads/{thread['id']}/messages",
        json={"content": "first message"},
        headers=user.headers,
    )
    assert response.status_code == 201, f"HTTP {response.status_code}: {response.text}"
    message = response.json()
    assert (message["role"], message["content"]) == ("user", "first message"), message
    assert message["thread_id"] == thread["id"], message
    assert platform.messages(user, thread["id"]) == [message]


def test_unknown_thread_is_404(platform: Platform, user: Session) -> None:
    """A thread id that does not exist is 404 for the thread and for its messages."""
    missing = uuid.uuid4()
    for path in (f"/api/threads/{missing}", f"/api/threads/{missing}/messages"):
        response = platform.http.get(f"{platform.backend}{path}", headers=user.headers)
        assert response.status_code == 404, f"{path}: HTTP {response.status_code}"
