"""Phase 4: whole user journeys, from signing up to reading a conversation back."""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(4), pytest.mark.priority("P3"), pytest.mark.area("journey")]


@pytest.mark.area("agent")
@pytest.mark.area("auth", "threads", "agent")
def test_new_user_journey(platform: Platform) -> None:
    """Signup, login, a new thread, one conversation, then the history read back over REST."""
    email, password = platform.unique_email("journey"), secrets.token_urlsafe(16)
    signed_up = platform.signup(email, password)
    login = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert login.status_code == 200, f"login: HTTP {login.status_code}"
    body = login.json()
    assert body["user"]["id"] == signed_up.user_id, f"login is user {body['user']}"
    session = Session(email, body["user"]["id"], body["access_token"], body["refresh_token"])
    thread = platform.create_thread(session, "my first thread")
    conversation = platform.converse(
        platform.connect(session), "How do I get started?", thread["id"]
    )
    history = [(m["role"], m["content"]) for m in platform.messages(session, thread["id"])]
    assert history == [("user", "How do I get started?"), ("assistant", conversation.answer)], (
        f"history {history}"
    )


@pytest.mark.area("threads")
def test_new_user_starts_with_no_threads(platform: Platform) -> None:
    """A user who just signed up has an empty thread list, nobody else's threads."""
    session = platform.signup()
    response = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert response.status_code == 200, f"HTTP {response.status_code}"
    assert response.json()["threads"] == [], f"threads {response.json()['threads']}"


@pytest.mark.area("agent")
@pytest.mark.area("threads", "agent")
def test_returning_user_finds_the_conversation(platform: Platform) -> None:
    """A user converses, logs in again later, and finds the thread and its history."""
    email, password = platform.unique_email("returning"), secrets.token_urlsafe(16)
    first = platform.signup(email, password)
    conversation = platform.converse(platform.connect(first), "Remember this for later")
    thread_id = conversation.completed["thread_id"]
    login = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert login.status_code == 200, f"second login: HTTP {login.status_code}"
    headers = {"authorization": f"Bearer {login.json()['access_token']}"}
    threads = platform.http.get(f"{platform.backend}/api/threads", headers=headers).json()
    assert [t["id"] for t in threads["threads"]] == [thread_id], f"threads {threads}"
    messages = platform.http.get(
        f"{platform.backend}/api/threads/{thread_id}/messages", headers=headers
    ).json()["messages"]
    assert [m["content"] for m in messages] == ["Remember this for later", conversation.answer]


@pytest.mark.area("agent")
@pytest.mark.area("threads", "agent")
def test_two_threads_are_listed_newest_first(platform: Platform) -> None:
    """A user with two conversations sees both threads, the newest first, each with its history."""
    session = platform.signup()
    ws = platform.connect(session)
    older = platform.converse(ws, "First topic").completed["thread_id"]
    newer = platform.converse(ws, "Second topic").completed["thread_id"]
    response = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert [t["id"] for t in response.json()["threads"]] == [newer, older], response.text
    assert platform.messages(session, older)[0]["content"] == "First topic"
    assert platform.messages(session, newer)[0]["content"] == "Second topic"
