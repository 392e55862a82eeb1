"""Phase 4: the auth service's tokens and the backend agree on who a user is and what is theirs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(4), pytest.mark.priority("P3"), pytest.mark.area("integration")]


@pytest.mark.area("auth")
def test_signup_token_is_accepted_by_the_backend(platform: Platform) -> None:
    """A token issued at signup works on the backend at once: the user can create a thread."""
    session = platform.signup()
    thread = platform.create_thread(session, "first")
    response = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert response.status_code == 200, f"HTTP {response.status_code}"
    assert [t["id"] for t in response.json()["threads"]] == [thread["id"]], response.text


@pytest.mark.area("auth", "websocket")
def test_one_user_id_across_auth_and_backend(platform: Platform) -> None:
    """Signup, /auth/verify and the WebSocket greeting all name the same user id."""
    session = platform.signup()
    verified = platform.verify(session.access_token)
    assert verified.status_code == 200, f"verify: HTTP {verified.status_code}"
    greeting: dict[str, Any] = json.loads(
        platform.ws_connect(token=session.access_token).recv(timeout=10)
    )
    ids = {session.user_id, verified.json()["user_id"], greeting.get("user_id")}
    assert len(ids) == 1, f"signup, verify and greeting name {ids}"


@pytest.mark.area("agent")
@pytest.mark.priority("P2")
@pytest.mark.area("auth", "threads")
def test_other_user_cannot_read_a_thread(
    platform: Platform, user: Session, other_user: Session
) -> None:
    """Another user's token gets 404 for a thread and its messages, not the content."""
    thread = platform.create_thread(user, "private")
    platform.converse(platform.connect(user), "A private question", thread["id"])
    for path in (f"/api/threads/{thread['id']}", f"/api/threads/{thread['id']}/messages"):
        response = platform.http.get(f"{platform.backend}{path}", headers=other_user.headers)
        assert response.status_code == 404, f"{path}: HTTP {response.status_code}"
        assert "A private question" not in response.text, f"{path} leaks the content"


@pytest.mark.priority("P2")
@pytest.mark.area("auth", "threads")
def test_other_user_cannot_post_into_a_thread(
    platform: Platform, user: Session, other_user: Session
) -> None:
    """Another user's message to a thread is 404 and the owner's history is unchanged."""
    thread = platform.create_thread(user, "private")
    response = platform.http.post(
        f"{platform.backend}/api/threads/{thread['id']}/messages",
        json={"content": "intrusion"},
        headers=other_user.headers,
    )
    assert response.status_code == 404, f"HTTP {response.status_code}"
    assert platform.messages(user, thread["id"]) == [], "the foreign message was stored"


@pytest.mark.area("threads")
def test_other_users_threads_are_not_listed(platform: Platform) -> None:
    """A user's thread list never includes another user's threads."""
    owner, stranger = platform.signup(), platform.signup()
    platform.create_thread(owner, "owner's thread")
    response = platform.http.get(f"{platform.backend}/api/threads", headers=stranger.headers)
    assert response.status_code == 200, f"HTTP {response.status_code}"
    assert response.json()["threads"] == [], f"stranger sees {response.json()['threads']}"


@pytest.mark.area("auth", "threads")
def test_refreshed_token_reads_the_same_threads(platform: Platform) -> None:
    """A token from /auth/refresh reads the threads made with the original token."""
    session = platform.signup()
    thread = platform.create_thread(session, "before refresh")
    refreshed = platform.refresh(session)
    response = platform.http.get(
        f"{platform.backend}/api/threads/{thread['id']}", headers=refreshed.headers
    )
    assert response.status_code == 200, f"HTTP {response.status_code}"
    assert response.json()["id"] == thread["id"], response.text
