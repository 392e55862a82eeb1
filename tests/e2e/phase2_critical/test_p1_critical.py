"""Phase 2: the platform's core, test by test: sign-in and token checks, threads, a message and
its answer, the WebSocket session, each service's health, and the shape of its errors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(2), pytest.mark.priority("P1")]

CLOCK_SKEW_S = 300  # how far the services' clocks may be from this machine's


def _login(platform: Platform, email: str, password: str) -> httpx.Response:
    return platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _refused_handshake(platform: Platform, token: str) -> int:
    """The HTTP status of a WebSocket handshake that must be refused; fails if it is accepted."""
    try:
        ws = platform.ws_connect(token=token)
    except InvalidStatus as refused:
        return refused.response.status_code
    greeting = ws.recv(timeout=10)
    pytest.fail(f"handshake accepted: {greeting!r}")


# Sign-in and token checks.


@pytest.mark.area("auth")
def test_login_issues_bearer_jwts_with_a_lifetime(platform: Platform) -> None:
    """Login answers two three-part JWTs of type bearer and a positive expires_in."""
    response = _login(platform, platform.users[0], platform.password)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
    body = response.json()
    for kind in ("access_token", "refresh_token"):
        parts = str(body[kind]).split(".")
        assert len(parts) == 3, f"{kind} is not a signed JWT: {len(parts)} parts"
        assert all(parts), f"{kind} has an empty part"
    assert str(body["token_type"]).lower() == "bearer", f"token_type {body['token_type']!r}"
    assert isinstance(body["expires_in"], int), f"expires_in {body['expires_in']!r}"
    assert body["expires_in"] > 0, f"expires_in {body['expires_in']}"


@pytest.mark.area("auth")
def test_access_token_expires_when_login_said(platform: Platform) -> None:
    """/auth/verify's expires_at is now + the expires_in login announced (within clock skew)."""
    response = _login(platform, platform.users[0], platform.password)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
    body = response.json()
    verified = platform.verify(body["access_token"])
    assert verified.status_code == 200, f"verify: HTTP {verified.status_code}"
    lifetime = verified.json()["expires_at"] - time.time()
    assert abs(lifetime - body["expires_in"]) <= CLOCK_SKEW_S, (
        f"token lives {lifetime:.0f} s, login said {body['expires_in']} s"
    )


@pytest.mark.area("auth")
def test_login_ignores_the_case_of_the_email(platform: Platform) -> None:
    """The upper-cased email of a test user logs in as that same user."""
    email = platform.users[0]
    lower = _login(platform, email.lower(), platform.password)
    upper = _login(platform, email.upper(), platform.password)
    assert (lower.status_code, upper.status_code) == (200, 200), (
        f"HTTP {lower.status_code} lower case, HTTP {upper.status_code} upper case"
    )
    assert upper.json()["user"]["id"] == lower.json()["user"]["id"], "two users for one email"


@pytest.mark.area("auth")
@pytest.mark.parametrize(
    "variant",
    [str.upper, lambda p: p + " ", lambda p: p[:-1]],
    ids=["upper-cased", "trailing-space", "last-char-missing"],
)
def test_near_miss_password_is_refused(platform: Platform, variant: Callable[[str], str]) -> None:
    """A password that is almost right is 401 with an error and no token."""
    wrong = variant(platform.password)
    if wrong == platform.password:
        pytest.skip("this variant of the test users' password is the password itself")
    response = _login(platform, platform.users[0], wrong)
    assert response.status_code == 401, f"HTTP {response.status_code}"
    body = response.json()
    assert body.get("error"), f"no error message: {body}"
    assert not {"access_token", "refresh_token"} & set(body), "tokens issued"


@pytest.mark.area("auth")
@pytest.mark.parametrize("index", [0, 1], ids=["first-user", "second-user"])
def test_each_test_user_logs_in_as_themself(platform: Platform, index: int) -> None:
    """Each test user's login is verified by auth as that user's email and id."""
    session = platform.login(index)
    verified = platform.verify(session.access_token)
    assert verified.status_code == 200, f"verify: HTTP {verified.status_code}"
    claims = verified.json()
    assert (claims["email"].lower(), claims["user_id"]) == (
        platform.users[index].lower(),
        session.user_id,
    ), f"verify names {claims['email']} / {claims['user_id']}"


@pytest.mark.area("auth")
def test_verify_refuses_a_refresh_token(platform: Platform, user: Session) -> None:
    """A refresh token is not an access token: /auth/verify answers 401 with an error."""
    response = platform.verify(user.refresh_token)
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"
    assert response.json().get("error"), response.text


@pytest.mark.area("auth")
@pytest.mark.parametrize("forgery", ["garbage", "alg-none", "swapped-signature"])
def test_verify_refuses_a_forged_token(
    platform: Platform, user: Session, other_user: Session, forgery: str
) -> None:
    """Garbage, an unsigned (alg none) token and one user's claims under another's signature
    are all 401."""
    head, payload, _ = user.access_token.split(".")
    token = {
        "garbage": "not-a-token",
        "alg-none": f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "swapped-signature": f"{head}.{payload}.{other_user.access_token.split('.')[2]}",
    }[forgery]
    response = platform.verify(token)
    assert response.status_code == 401, f"{forgery}: HTTP {response.status_code}"


@pytest.mark.area("auth")
def test_refresh_issues_a_fresh_pair_for_the_same_user(platform: Platform, user: Session) -> None:
    """/auth/refresh gives new tokens, not the old ones, naming the same user."""
    refreshed = platform.refresh(user)
    assert refreshed.access_token != user.access_token, "the old access token came back"
    assert refreshed.refresh_token != user.refresh_token, "the old refresh token came back"
    assert refreshed.user_id == user.user_id, f"refresh names {refreshed.user_id}"
    assert platform.verify(refreshed.access_token).json()["user_id"] == user.user_id


# Threads.


@pytest.mark.area("threads")
def test_creating_a_thread_needs_a_token(platform: Platform) -> None:
    """POST /api/threads without a bearer token is 401 with an error, not a thread."""
    response = platform.http.post(f"{platform.backend}/api/threads", json={"title": "anonymous"})
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"
    assert set(response.json()) == {"error"}, response.text


@pytest.mark.area("threads")
def test_new_thread_is_stamped_now(platform: Platform) -> None:
    """A new thread's created_at is a timezone-aware time within the clock skew of now."""
    thread = platform.create_thread(platform.signup(), "stamped")
    created = dt.datetime.fromisoformat(thread["created_at"].replace("Z", "+00:00"))
    assert created.tzinfo is not None, f"created_at {thread['created_at']} has no zone"
    drift = abs((dt.datetime.now(dt.UTC) - created).total_seconds())
    assert drift <= CLOCK_SKEW_S, f"created_at {thread['created_at']} is {drift:.0f} s off"


@pytest.mark.area("threads")
def test_thread_without_title_gets_one(platform: Platform) -> None:
    """A thread created with an empty body is 201 with a non-empty title."""
    session = platform.signup()
    response = platform.http.post(
        f"{platform.backend}/api/threads", json={}, headers=session.headers
    )
    assert response.status_code == 201, f"HTTP {response.status_code}: {response.text}"
    title = response.json()["title"]
    assert isinstance(title, str), f"title {title!r}"
    assert title.strip(), "blank title"


@pytest.mark.area("threads")
def test_threads_are_listed_newest_first(platform: Platform) -> None:
    """Three threads of a new user are listed, all of them, the newest first."""
    session = platform.signup()
    ids = [platform.create_thread(session, f"thread {i}")["id"] for i in range(3)]
    response = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert response.status_code == 200, f"HTTP {response.status_code}"
    assert [t["id"] for t in response.json()["threads"]] == ids[::-1], response.text


@pytest.mark.area("threads")
def test_listed_thread_is_the_thread_itself(platform: Platform) -> None:
    """A thread's entry in the list and its detail are the same id, title and time."""
    session = platform.signup()
    thread = platform.create_thread(session, "listed and detailed")
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    detail = platform.http.get(
        f"{platform.backend}/api/threads/{thread['id']}", headers=session.headers
    )
    assert (listed.status_code, detail.status_code) == (200, 200), (
        f"list HTTP {listed.status_code}, detail HTTP {detail.status_code}"
    )
    assert listed.json()["threads"] == [detail.json()], f"{listed.text} vs {detail.text}"


@pytest.mark.area("threads")
@pytest.mark.parametrize("thread_id", ["not-a-uuid", "12345"])
def test_malformed_thread_id_is_404_not_5xx(
    platform: Platform, user: Session, thread_id: str
) -> None:
    """A thread id that is not an id at all is 404 for the thread and its messages."""
    for path in (f"/api/threads/{thread_id}", f"/api/threads/{thread_id}/messages"):
        response = platform.http.get(f"{platform.backend}{path}", headers=user.headers)
        assert response.status_code == 404, f"{path}: HTTP {response.status_code}"


@pytest.mark.area("threads")
def test_posted_messages_are_read_back_oldest_first(platform: Platform) -> None:
    """Three messages posted over REST are read back in the order they were posted."""
    session = platform.signup()
    thread = platform.create_thread(session)
    sent = ["first", "second", "third"]
    for content in sent:
        posted = platform.http.post(
            f"{platform.backend}/api/threads/{thread['id']}/messages",
            json={"content": content},
            headers=session.headers,
        )
        assert posted.status_code == 201, f"post {content!r}: HTTP {posted.status_code}"
    stored = platform.messages(session, thread["id"])
    assert [(m["role"], m["content"]) for m in stored] == [("user", c) for c in sent], stored


# A message and its answer.


@pytest.mark.area("agent", "websocket")
def test_message_is_answered_in_a_stream(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """A message gets a non-empty answer streamed in chunks that add up to it."""
    session = platform.signup()
    with platform.measured_session(session, criterion) as ws:
        conversation = platform.converse(ws, "What does the platform do for my team?")
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    assert conversation.answer.strip(), f"empty answer: {conversation.completed}"
    assert conversation.chunks, f"no chunk among {conversation.kinds}"
    streamed = "".join(chunk["content"] for chunk in conversation.chunks)
    assert streamed == conversation.answer, f"streamed {streamed!r}"


@pytest.mark.area("agent", "websocket", "threads")
def test_thread_opened_by_a_message_is_the_senders_only(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """The thread a first message opens is readable by its sender and 404 for anyone else."""
    sender, stranger = platform.signup(), platform.signup()
    with platform.measured_session(sender, criterion) as ws:
        conversation = platform.converse(ws, "Open a thread for this question")
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    url = f"{platform.backend}/api/threads/{conversation.completed['thread_id']}"
    own = platform.http.get(url, headers=sender.headers)
    foreign = platform.http.get(url, headers=stranger.headers)
    assert (own.status_code, foreign.status_code) == (200, 404), (
        f"sender HTTP {own.status_code}, stranger HTTP {foreign.status_code}"
    )


# The WebSocket session.


@pytest.mark.area("websocket")
def test_greeting_names_the_session_user_and_revision(platform: Platform) -> None:
    """The 'connected' greeting carries a session id, the user's id and a backend revision."""
    session = platform.signup()
    greeting = json.loads(platform.ws_connect(token=session.access_token).recv(timeout=10))
    assert greeting["type"] == "connected", greeting
    assert greeting["session_id"], f"no session id: {greeting}"
    assert greeting["user_id"] == session.user_id, f"greeting names {greeting['user_id']}"
    assert str(greeting["revision"]).startswith("backend-"), f"revision {greeting['revision']}"


@pytest.mark.area("websocket")
def test_each_connection_is_its_own_session(platform: Platform) -> None:
    """Two connections of one user get two session ids and both name the user."""
    session = platform.signup()
    greetings = [
        json.loads(platform.ws_connect(token=session.access_token).recv(timeout=10))
        for _ in range(2)
    ]
    assert greetings[0]["session_id"] != greetings[1]["session_id"], f"greetings {greetings}"
    assert {g["user_id"] for g in greetings} == {session.user_id}, f"greetings {greetings}"


@pytest.mark.area("websocket")
def test_pings_are_answered_one_for_one(platform: Platform) -> None:
    """Five pings sent at once get five pongs and nothing else."""
    ws = platform.connect(platform.signup())
    for _ in range(5):
        ws.send(json.dumps({"type": "ping"}))
    answers = [json.loads(ws.recv(timeout=10)) for _ in range(5)]
    assert answers == [{"type": "pong"}] * 5, f"answers {answers}"


@pytest.mark.area("websocket", "auth")
def test_handshake_with_a_refresh_token_is_refused(platform: Platform, user: Session) -> None:
    """A refresh token does not open a session: the handshake is refused with 403."""
    status = _refused_handshake(platform, user.refresh_token)
    assert status == 403, f"handshake refused with HTTP {status}"


@pytest.mark.area("websocket", "auth")
def test_handshake_with_a_swapped_signature_is_refused(
    platform: Platform, user: Session, other_user: Session
) -> None:
    """One user's claims under another user's signature do not open a session (403)."""
    head, payload, _ = user.access_token.split(".")
    forged = f"{head}.{payload}.{other_user.access_token.split('.')[2]}"
    status = _refused_handshake(platform, forged)
    assert status == 403, f"handshake refused with HTTP {status}"


@pytest.mark.area("websocket")
def test_message_without_a_type_is_an_error_and_the_session_goes_on(platform: Platform) -> None:
    """A message with no type gets an error event; the session still answers a ping."""
    ws = platform.connect(platform.signup())
    error = platform.exchange(ws, {"content": "no type here"})
    assert error["type"] == "error", f"got {error}"
    assert error.get("error"), f"an error without a message: {error}"
    assert platform.exchange(ws, {"type": "ping"}) == {"type": "pong"}


# Each service's health.


@pytest.mark.area("connectivity")
@pytest.mark.parametrize("service", ["backend", "auth"])
def test_liveness_and_readiness_name_one_revision(platform: Platform, service: str) -> None:
    """/health is ok and names the same revision as /health/ready of that service."""
    health = platform.http.get(f"{platform.urls[service]}/health")
    ready = platform.http.get(f"{platform.urls[service]}/health/ready")
    assert health.status_code == 200, f"{service} /health: HTTP {health.status_code}"
    assert health.json()["status"] == "ok", f"{service} /health: {health.text}"
    assert health.json()["revision"] == ready.json()["revision"], (
        f"{service}: /health {health.json()['revision']}, /health/ready {ready.json()['revision']}"
    )


@pytest.mark.parametrize(
    "service",
    [
        pytest.param("backend", marks=pytest.mark.area("database", "redis")),
        pytest.param("auth", marks=pytest.mark.area("auth")),
    ],
)
def test_every_dependency_is_up_within_its_limit(platform: Platform, service: str) -> None:
    """/health/ready is 200 'ready'; every dependency it lists is up and under its limit."""
    response = platform.http.get(f"{platform.urls[service]}/health/ready")
    body = response.json()
    assert response.status_code == 200, f"{service} not ready: HTTP {response.status_code}"
    assert body["status"] == "ready", f"{service}: {body}"
    dependencies: dict[str, dict[str, Any]] = body["dependencies"]
    assert dependencies, f"{service} lists no dependency"
    for name, check in dependencies.items():
        assert check["status"] == "up", f"{service} {name} {check['status']}: {check}"
        if "latency_ms" in check and "limit_ms" in check:
            assert check["latency_ms"] <= check["limit_ms"], f"{service} {name}: {check}"


# The shape of errors: JSON with one error message, never a trace.


def _error_case(platform: Platform, user: Session, case: str) -> tuple[int, httpx.Response]:
    backend, auth = platform.backend, platform.auth
    missing = uuid.uuid4()
    if case == "threads-without-token":
        return 401, platform.http.get(f"{backend}/api/threads")
    if case == "unknown-thread":
        return 404, platform.http.get(f"{backend}/api/threads/{missing}", headers=user.headers)
    if case == "thread-body-not-an-object":
        return 422, platform.http.post(f"{backend}/api/threads", json=[], headers=user.headers)
    if case == "wrong-password":
        return 401, _login(platform, platform.users[0], platform.password + "-wrong")
    if case == "login-without-password":
        return 422, platform.http.post(f"{auth}/auth/login", json={"email": platform.users[0]})
    if case == "verify-without-token":
        return 401, platform.http.get(f"{auth}/auth/verify")
    raise AssertionError(f"unknown error case {case}")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("threads-without-token", marks=pytest.mark.area("threads")),
        pytest.param("unknown-thread", marks=pytest.mark.area("threads")),
        pytest.param("thread-body-not-an-object", marks=pytest.mark.area("threads")),
        pytest.param("wrong-password", marks=pytest.mark.area("auth")),
        pytest.param("login-without-password", marks=pytest.mark.area("auth")),
        pytest.param("verify-without-token", marks=pytest.mark.area("auth")),
    ],
)
def test_error_is_json_with_one_message(platform: Platform, user: Session, case: str) -> None:
    """Each refused request has its status and a JSON body holding only a one-line error."""
    status, response = _error_case(platform, user, case)
    assert response.status_code == status, f"{case}: HTTP {response.status_code}, not {status}"
    assert response.headers["content-type"].startswith("application/json"), (
        f"{case}: content-type {response.headers['content-type']}"
    )
    body = response.json()
    assert set(body) == {"error"}, f"{case}: body {body}"
    message = body["error"]
    assert isinstance(message, str), f"{case}: error {message!r}"
    assert message.strip(), f"{case}: a blank error"
    assert "\n" not in message, f"{case}: error of several lines {message!r}"
    assert "Traceback" not in response.text, f"{case}: the body shows a traceback"
