"""Phase 4: the API's conventions a client relies on: content types, methods, the bearer
scheme, field names and formats, and the length and order of the thread list."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(4), pytest.mark.priority("P6")]


def _get(platform: Platform, session: Session, target: str) -> httpx.Response:
    """A GET of one of the API's JSON endpoints (as the user), with what it needs made first."""
    backend, auth = platform.backend, platform.auth
    if target in ("thread-detail", "messages"):
        thread = platform.create_thread(session, "conventions")
        suffix = "/messages" if target == "messages" else ""
        url = f"{backend}/api/threads/{thread['id']}{suffix}"
    else:
        url = {
            "backend-health": f"{backend}/health",
            "backend-ready": f"{backend}/health/ready",
            "auth-health": f"{auth}/health",
            "auth-ready": f"{auth}/health/ready",
            "verify": f"{auth}/auth/verify",
            "thread-list": f"{backend}/api/threads",
        }[target]
    return platform.http.get(url, headers=session.headers)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("backend-health", marks=pytest.mark.area("connectivity")),
        pytest.param("backend-ready", marks=pytest.mark.area("database", "redis")),
        pytest.param("auth-health", marks=pytest.mark.area("auth")),
        pytest.param("auth-ready", marks=pytest.mark.area("auth")),
        pytest.param("verify", marks=pytest.mark.area("auth")),
        pytest.param("thread-list", marks=pytest.mark.area("threads")),
        pytest.param("thread-detail", marks=pytest.mark.area("threads")),
        pytest.param("messages", marks=pytest.mark.area("threads")),
    ],
)
def test_json_endpoints_answer_json(platform: Platform, target: str) -> None:
    """Each JSON endpoint answers 200 with an application/json body that is one object."""
    response = _get(platform, platform.signup(), target)
    assert response.status_code == 200, f"{target}: HTTP {response.status_code}"
    assert response.headers["content-type"].startswith("application/json"), (
        f"{target}: content-type {response.headers['content-type']}"
    )
    assert isinstance(response.json(), dict), f"{target}: body {response.text[:200]}"


@pytest.mark.parametrize(
    ("service", "method", "path"),
    [
        pytest.param("backend", "DELETE", "/api/threads", marks=pytest.mark.area("threads")),
        pytest.param("backend", "PUT", "/api/threads/{thread}", marks=pytest.mark.area("threads")),
        pytest.param(
            "backend", "PATCH", "/api/threads/{thread}/messages", marks=pytest.mark.area("threads")
        ),
        pytest.param("auth", "GET", "/auth/login", marks=pytest.mark.area("auth")),
        pytest.param("auth", "GET", "/auth/signup", marks=pytest.mark.area("auth")),
        pytest.param("auth", "POST", "/auth/verify", marks=pytest.mark.area("auth")),
    ],
)
def test_unsupported_method_is_405(
    platform: Platform, user: Session, service: str, method: str, path: str
) -> None:
    """A method a route does not serve is 405, neither served nor a server error."""
    url = platform.urls[service] + path.format(thread=uuid.uuid4())
    response = platform.http.request(method, url, headers=user.headers)
    assert response.status_code == 405, f"{method} {path}: HTTP {response.status_code}"


@pytest.mark.area("threads")
def test_delete_does_not_remove_threads(platform: Platform) -> None:
    """A refused DELETE of the thread list leaves the user's threads in place."""
    session = platform.signup()
    thread = platform.create_thread(session, "stays")
    platform.http.delete(f"{platform.backend}/api/threads", headers=session.headers)
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert [t["id"] for t in listed.json()["threads"]] == [thread["id"]], listed.text


@pytest.mark.area("threads", "auth")
@pytest.mark.parametrize(
    ("scheme", "status"),
    [("Bearer", 200), ("bearer", 200), ("BEARER", 200), ("Basic", 401), ("Token", 401)],
)
def test_bearer_scheme_is_case_insensitive_and_required(
    platform: Platform, user: Session, scheme: str, status: int
) -> None:
    """The token is taken under the Bearer scheme in any case, and under no other scheme."""
    response = platform.http.get(
        f"{platform.backend}/api/threads",
        headers={"authorization": f"{scheme} {user.access_token}"},
    )
    assert response.status_code == status, f"{scheme}: HTTP {response.status_code}"


@pytest.mark.area("connectivity")
@pytest.mark.parametrize("service", ["backend", "auth"])
def test_head_of_health_has_no_body(platform: Platform, service: str) -> None:
    """HEAD /health is 200 like GET, with headers only."""
    response = platform.http.head(f"{platform.urls[service]}/health")
    assert response.status_code == 200, f"{service}: HTTP {response.status_code}"
    assert response.content == b"", f"{service}: HEAD sent {len(response.content)} bytes"


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _utc(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.utcoffset() == dt.timedelta(0), f"{value} is not UTC"
    return moment


@pytest.mark.area("threads")
def test_thread_fields_have_their_formats(platform: Platform) -> None:
    """A thread has a UUID id, a string title and a UTC ISO-8601 created_at."""
    thread = platform.create_thread(platform.signup(), "formats")
    assert {"id", "title", "created_at"} <= set(thread), f"thread {thread}"
    assert _is_uuid(thread["id"]), f"id {thread['id']!r}"
    assert isinstance(thread["title"], str), f"title {thread['title']!r}"
    _utc(thread["created_at"])


@pytest.mark.area("threads")
def test_message_fields_have_their_formats(platform: Platform) -> None:
    """A message has UUID ids, its role, its content and a UTC ISO-8601 created_at."""
    session = platform.signup()
    thread = platform.create_thread(session)
    posted = platform.http.post(
        f"{platform.backend}/api/threads/{thread['id']}/messages",
        json={"content": "formats"},
        headers=session.headers,
    )
    message = posted.json()
    assert {"id", "thread_id", "role", "content", "created_at"} <= set(message), message
    assert _is_uuid(message["id"]), f"id {message['id']!r}"
    assert message["thread_id"] == thread["id"], message
    assert (message["role"], message["content"]) == ("user", "formats"), message
    assert _utc(message["created_at"]) >= _utc(thread["created_at"]), "message before thread"


@pytest.mark.area("threads")
def test_thread_list_is_capped_at_the_newest(platform: Platform) -> None:
    """With more threads than the list shows, it shows the newest ones, newest first."""
    session = platform.signup()
    ids = [platform.create_thread(session, f"thread {i}")["id"] for i in range(22)]
    listed = [
        t["id"]
        for t in platform.http.get(
            f"{platform.backend}/api/threads", headers=session.headers
        ).json()["threads"]
    ]
    assert listed, "an empty list"
    assert listed == ids[::-1][: len(listed)], f"not the newest {len(listed)} threads, newest first"
    older = ids[0]
    detail = platform.http.get(f"{platform.backend}/api/threads/{older}", headers=session.headers)
    assert detail.status_code == 200, f"a thread past the list: HTTP {detail.status_code}"


@pytest.mark.area("websocket")
def test_greeting_has_its_documented_fields(platform: Platform) -> None:
    """The greeting names its type, a session id, the user's UUID and the revision."""
    session = platform.signup()
    greeting = json.loads(platform.ws_connect(token=session.access_token).recv(timeout=10))
    assert {"type", "session_id", "user_id", "revision"} <= set(greeting), greeting
    for field in ("session_id", "revision"):
        assert isinstance(greeting[field], str), f"{field} in {greeting}"
        assert greeting[field], f"empty {field} in {greeting}"
    assert _is_uuid(greeting["user_id"]), f"user_id {greeting['user_id']!r}"


@pytest.mark.area("websocket")
@pytest.mark.parametrize("kind", ["nonsense", "PING", "user-message"])
def test_unknown_message_type_is_named_in_the_error(platform: Platform, kind: str) -> None:
    """A message of an unknown type (types are exact) gets an error naming that type."""
    ws = platform.connect(platform.signup())
    error = platform.exchange(ws, {"type": kind})
    assert error["type"] == "error", f"{kind!r} got {error}"
    assert kind in str(error.get("error")), f"the error does not name {kind!r}: {error}"


@pytest.mark.area("auth")
def test_token_pair_names_the_user(platform: Platform) -> None:
    """Signup's answer names the user by a UUID and the email signed up with, as verify does."""
    email = platform.unique_email("conventions")
    response = platform.http.post(
        f"{platform.auth}/auth/signup", json={"email": email, "password": "conventions-pass"}
    )
    assert response.status_code == 201, f"signup: HTTP {response.status_code}"
    user = response.json()["user"]
    assert user["email"] == email, f"user {user}"
    assert _is_uuid(user["id"]), f"user {user}"
    verified = platform.verify(response.json()["access_token"]).json()
    assert (verified["user_id"], verified["email"]) == (user["id"], email), verified
