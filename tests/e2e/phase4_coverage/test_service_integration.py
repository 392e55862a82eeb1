"""Phase 4: the auth service's tokens and the backend agree on who a user is and what is theirs."""

from __future__ import annotations

import json
import secrets
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


def _token_from(platform: Platform, source: str) -> Session:
    """A new user's session whose tokens came from the named auth route."""
    if source == "signup":
        return platform.signup()
    email, password = platform.unique_email("integration"), secrets.token_urlsafe(16)
    signed_up = platform.signup(email, password)
    if source == "refresh":
        return platform.refresh(signed_up)
    response = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, f"login: HTTP {response.status_code}"
    body = response.json()
    return Session(email, body["user"]["id"], body["access_token"], body["refresh_token"])


@pytest.mark.area("auth", "threads", "websocket")
@pytest.mark.parametrize("route", ["list-threads", "create-thread", "websocket"])
@pytest.mark.parametrize("source", ["signup", "login", "refresh"])
def test_every_issued_token_serves_every_backend_route(
    platform: Platform, source: str, route: str
) -> None:
    """An access token from signup, login or refresh is accepted by the thread list, thread
    creation and the WebSocket, as the user auth issued it for."""
    session = _token_from(platform, source)
    if route == "list-threads":
        response = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
        assert response.status_code == 200, f"{source} token: HTTP {response.status_code}"
        assert response.json()["threads"] == [], f"a new user has threads: {response.text}"
    elif route == "create-thread":
        thread = platform.create_thread(session, f"made with a {source} token")
        detail = platform.http.get(
            f"{platform.backend}/api/threads/{thread['id']}", headers=session.headers
        )
        assert detail.json() == thread, f"{source} token: {detail.text}"
    else:
        greeting = json.loads(platform.ws_connect(token=session.access_token).recv(timeout=10))
        assert (greeting["type"], greeting.get("user_id")) == ("connected", session.user_id), (
            f"{source} token: greeting {greeting}"
        )


@pytest.mark.area("auth", "websocket")
@pytest.mark.parametrize("index", [0, 1], ids=["first-user", "second-user"])
def test_test_user_has_one_id_everywhere(platform: Platform, index: int) -> None:
    """A test user's login, /auth/verify and the WebSocket greeting name one user id."""
    session = platform.login(index)
    verified = platform.verify(session.access_token).json()
    greeting = json.loads(platform.ws_connect(token=session.access_token).recv(timeout=10))
    ids = {session.user_id, verified.get("user_id"), greeting.get("user_id")}
    assert len(ids) == 1, f"login, verify and greeting name {ids}"


@pytest.mark.area("threads", "agent", "websocket")
def test_thread_opened_over_websocket_takes_rest_messages(platform: Platform) -> None:
    """A thread the agent run opened accepts a REST message, stored after the answer."""
    session = platform.signup()
    conversation = platform.converse(platform.connect(session), "Open a thread for me")
    thread_id = conversation.completed["thread_id"]
    posted = platform.http.post(
        f"{platform.backend}/api/threads/{thread_id}/messages",
        json={"content": "added over REST"},
        headers=session.headers,
    )
    assert posted.status_code == 201, f"HTTP {posted.status_code}: {posted.text}"
    contents = [m["content"] for m in platform.messages(session, thread_id)]
    assert contents == ["Open a thread for me", conversation.answer, "added over REST"], contents


@pytest.mark.area("threads", "redis", "database")
def test_cached_list_agrees_with_the_stored_threads(platform: Platform) -> None:
    """Every thread of the list (ids cached in Redis) is the thread PostgreSQL returns."""
    session = platform.signup()
    for title in ("alpha", "beta", "gamma"):
        platform.create_thread(session, title)
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    threads = listed.json()["threads"]
    assert len(threads) == 3, listed.text
    for thread in threads:
        detail = platform.http.get(
            f"{platform.backend}/api/threads/{thread['id']}", headers=session.headers
        )
        assert detail.json() == thread, f"list {thread} vs detail {detail.text}"


@pytest.mark.priority("P4")
@pytest.mark.area("connectivity", "websocket")
def test_one_backend_revision_on_every_surface(platform: Platform) -> None:
    """/health, /health/ready and the WebSocket greeting name the same backend revision."""
    health = platform.http.get(f"{platform.backend}/health").json()["revision"]
    ready = platform.ready().json()["revision"]
    greeting = json.loads(
        platform.ws_connect(token=platform.signup().access_token).recv(timeout=10)
    )
    assert health == ready == greeting["revision"], (
        f"/health {health}, /health/ready {ready}, greeting {greeting['revision']}"
    )


@pytest.mark.priority("P4")
@pytest.mark.area("auth", "threads")
@pytest.mark.parametrize("refreshes", [1, 3])
def test_refresh_chain_stays_the_same_user(platform: Platform, refreshes: int) -> None:
    """Each token of a chain of refreshes is new, verified as the user, and reads their thread."""
    session = platform.signup()
    thread = platform.create_thread(session, "before the refreshes")
    seen = {session.access_token}
    for _ in range(refreshes):
        session = platform.refresh(session)
        assert session.access_token not in seen, "a refresh gave an earlier token back"
        seen.add(session.access_token)
        assert platform.verify(session.access_token).json()["user_id"] == session.user_id
        detail = platform.http.get(
            f"{platform.backend}/api/threads/{thread['id']}", headers=session.headers
        )
        assert detail.status_code == 200, f"refreshed token: HTTP {detail.status_code}"
