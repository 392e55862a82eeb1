"""Phase 4: edge cases of the API: text beyond ASCII, long input, and empty or malformed input,
which must be refused with a 4xx naming what is wrong and must leave nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(4), pytest.mark.priority("P5")]

TEXTS = {
    "accents": "Grüße aus Köln: Straße, café, naïve façade",
    "cjk": "你好，世界。日本語のテキストと한국어",
    "right-to-left": "مرحبا بالعالم — שלום עולם",
    "emoji": "Deploy 🚀 went 🔥, fix the 🐛 please",
    "combining-marks": "e\u0301 n\u0303 a\u030a: decomposed accents",
    "math-symbols": "∑ x² ≤ ∞ and √2 ≠ π",
    "zero-width": "zero\u200bwidth\u200djoiners\u2060here",
    "flags": "🇩🇪 🇯🇵 🇧🇷 regional indicator pairs",
}
# Bodies that are not the JSON object an endpoint asks for, as raw bytes.
NOT_AN_OBJECT = {
    "list": b"[]",
    "string": b'"just a string"',
    "number": b"42",
    "broken-json": b'{"content": ',
}


def _messages_url(platform: Platform, thread_id: str) -> str:
    return f"{platform.backend}/api/threads/{thread_id}/messages"


def _refused(response: httpx.Response, status: int = 422) -> None:
    """The response is the given 4xx with a one-line JSON error. A wrong answer is named by
    its status only: had it been accepted, its body would hold tokens."""
    assert response.status_code == status, f"HTTP {response.status_code}, not {status}"
    error = response.json().get("error")
    assert isinstance(error, str), f"error {error!r}"
    assert error.strip(), "a blank error"
    assert "\n" not in error, f"error of several lines {error!r}"


# Text beyond ASCII round-trips unchanged.


@pytest.mark.area("threads")
@pytest.mark.parametrize("title", TEXTS.values(), ids=TEXTS.keys())
def test_title_beyond_ascii_round_trips(platform: Platform, title: str) -> None:
    """A thread's title comes back unchanged from creation, detail and the list."""
    session = platform.signup()
    created = platform.create_thread(session, title)
    detail = platform.http.get(
        f"{platform.backend}/api/threads/{created['id']}", headers=session.headers
    )
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    titles = (created["title"], detail.json()["title"], listed.json()["threads"][0]["title"])
    assert titles == (title, title, title), f"titles {titles}"


@pytest.mark.area("threads")
@pytest.mark.parametrize("content", TEXTS.values(), ids=TEXTS.keys())
def test_message_beyond_ascii_round_trips(platform: Platform, content: str) -> None:
    """A message posted over REST is stored and read back character for character."""
    session = platform.signup()
    thread = platform.create_thread(session)
    posted = platform.http.post(
        _messages_url(platform, thread["id"]), json={"content": content}, headers=session.headers
    )
    assert posted.status_code == 201, f"HTTP {posted.status_code}: {posted.text}"
    assert posted.json()["content"] == content, f"stored {posted.json()['content']!r}"
    assert [m["content"] for m in platform.messages(session, thread["id"])] == [content]


@pytest.mark.area("threads", "agent", "websocket")
@pytest.mark.parametrize("name", ["cjk", "right-to-left", "emoji", "combining-marks"])
def test_question_beyond_ascii_is_answered_and_stored(platform: Platform, name: str) -> None:
    """A question in non-Latin script or emoji is answered and stored exactly as sent."""
    session = platform.signup()
    thread = platform.create_thread(session)
    conversation = platform.converse(platform.connect(session), TEXTS[name], thread["id"])
    assert conversation.answer.strip(), f"empty answer: {conversation.completed}"
    stored = [(m["role"], m["content"]) for m in platform.messages(session, thread["id"])]
    assert stored == [("user", TEXTS[name]), ("assistant", conversation.answer)], stored


# Long input.


@pytest.mark.area("threads")
@pytest.mark.parametrize("length", [1_000, 10_000, 100_000])
def test_long_message_is_stored_whole(platform: Platform, length: int) -> None:
    """A message of up to 100,000 characters is stored and read back whole."""
    session = platform.signup()
    thread = platform.create_thread(session)
    content = ("The quick brown fox jumps over the lazy dog. " * (length // 45 + 1))[:length]
    posted = platform.http.post(
        _messages_url(platform, thread["id"]), json={"content": content}, headers=session.headers
    )
    assert posted.status_code == 201, f"HTTP {posted.status_code}"
    stored = platform.messages(session, thread["id"])[0]["content"]
    assert stored == content, f"stored {len(stored)} characters of {length}"


@pytest.mark.area("threads", "agent", "websocket")
def test_long_question_is_answered_and_stored_whole(platform: Platform) -> None:
    """A 20,000-character question is answered, streamed whole, and stored unchanged."""
    session = platform.signup()
    content = "Please review this log excerpt: " + "; ".join(["GET /api/health 200 12ms"] * 800)
    conversation = platform.converse(platform.connect(session), content)
    streamed = "".join(chunk["content"] for chunk in conversation.chunks)
    assert conversation.answer.strip(), f"empty answer: {conversation.completed}"
    assert streamed == conversation.answer, f"streamed {streamed!r}"
    stored = platform.messages(session, conversation.completed["thread_id"])
    assert stored[0]["content"] == content, f"stored {len(stored[0]['content'])} characters"


@pytest.mark.area("threads")
def test_long_title_is_shortened_not_refused(platform: Platform) -> None:
    """A 1,000-character title still creates the thread, its title a non-empty prefix of it."""
    title = "A very long title about the quarterly infrastructure review " * 17
    thread = platform.create_thread(platform.signup(), title[:1000])
    assert thread["title"], "empty title"
    assert title.startswith(thread["title"]), f"title {thread['title'][:80]!r}... is not a prefix"


# Empty and malformed input is refused with 4xx and leaves nothing behind.


@pytest.mark.area("threads")
@pytest.mark.parametrize(
    "body",
    [{"content": ""}, {"content": "   "}, {"content": "\n\t "}, {}, {"content": None}],
    ids=["empty", "spaces", "whitespace", "missing", "null"],
)
def test_blank_message_is_refused(platform: Platform, body: dict[str, Any]) -> None:
    """A message without content is 422 with an error, and the thread stays empty."""
    session = platform.signup()
    thread = platform.create_thread(session)
    response = platform.http.post(
        _messages_url(platform, thread["id"]), json=body, headers=session.headers
    )
    _refused(response)
    assert platform.messages(session, thread["id"]) == [], "the blank message was stored"


@pytest.mark.area("threads")
def test_message_with_a_nul_character_is_refused(platform: Platform) -> None:
    """A NUL character (which a database text column cannot hold) is 422 naming it, not a
    server error, and the thread stays empty."""
    session = platform.signup()
    thread = platform.create_thread(session)
    response = platform.http.post(
        _messages_url(platform, thread["id"]), json={"content": "a\x00b"}, headers=session.headers
    )
    _refused(response)
    assert "NUL" in response.json()["error"], response.text
    assert platform.messages(session, thread["id"]) == [], "the message was stored"


@pytest.mark.area("threads")
def test_thread_title_with_a_nul_character_is_refused(platform: Platform) -> None:
    """A title with a NUL character is 422 naming it, and no thread is opened."""
    session = platform.signup()
    response = platform.http.post(
        f"{platform.backend}/api/threads", json={"title": "a\x00b"}, headers=session.headers
    )
    _refused(response)
    assert "NUL" in response.json()["error"], response.text
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert listed.json()["threads"] == [], f"a thread was opened: {listed.text}"


@pytest.mark.area("threads")
@pytest.mark.parametrize("raw", NOT_AN_OBJECT.values(), ids=NOT_AN_OBJECT.keys())
def test_message_body_that_is_not_an_object_is_refused(platform: Platform, raw: bytes) -> None:
    """A message body that is not a JSON object is 422, and the thread stays empty."""
    session = platform.signup()
    thread = platform.create_thread(session)
    response = platform.http.post(
        _messages_url(platform, thread["id"]),
        content=raw,
        headers={**session.headers, "content-type": "application/json"},
    )
    _refused(response)
    assert platform.messages(session, thread["id"]) == [], "a message was stored"


@pytest.mark.area("threads")
@pytest.mark.parametrize("raw", NOT_AN_OBJECT.values(), ids=NOT_AN_OBJECT.keys())
def test_thread_body_that_is_not_an_object_is_refused(platform: Platform, raw: bytes) -> None:
    """A thread body that is not a JSON object is 422, and no thread is created."""
    session = platform.signup()
    response = platform.http.post(
        f"{platform.backend}/api/threads",
        content=raw,
        headers={**session.headers, "content-type": "application/json"},
    )
    _refused(response)
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert listed.json()["threads"] == [], f"a thread was created: {listed.text}"


SIGNUP_PASSWORD = "long-enough-password"
# Signup bodies without a usable email or password, built around a fresh email.
MISSING_CREDENTIALS: dict[str, Callable[[str], dict[str, str]]] = {
    "empty-email": lambda email: {"email": "", "password": SIGNUP_PASSWORD},
    "no-at-sign": lambda email: {"email": email.replace("@", "."), "password": SIGNUP_PASSWORD},
    "no-email": lambda email: {"password": SIGNUP_PASSWORD},
    "empty-password": lambda email: {"email": email, "password": ""},
    "no-password": lambda email: {"email": email},
}


@pytest.mark.area("auth")
@pytest.mark.parametrize("case", MISSING_CREDENTIALS)
def test_signup_with_missing_credentials_is_refused(platform: Platform, case: str) -> None:
    """A signup without a usable email or password is 422 and creates no account."""
    email = platform.unique_email("edge")
    body = MISSING_CREDENTIALS[case](email)
    _refused(platform.http.post(f"{platform.auth}/auth/signup", json=body))
    if body.get("email") == email:  # no account may exist under that email now
        login = platform.http.post(
            f"{platform.auth}/auth/login", json={"email": email, "password": SIGNUP_PASSWORD}
        )
        assert login.status_code == 401, f"the refused account logs in: HTTP {login.status_code}"


@pytest.mark.area("auth")
@pytest.mark.parametrize(
    "raw", [*NOT_AN_OBJECT.values(), b"{}"], ids=[*NOT_AN_OBJECT.keys(), "empty-object"]
)
def test_login_with_a_malformed_body_is_refused(platform: Platform, raw: bytes) -> None:
    """A login body that is not an object with email and password is 422, not 401 or 5xx."""
    response = platform.http.post(
        f"{platform.auth}/auth/login", content=raw, headers={"content-type": "application/json"}
    )
    _refused(response)


@pytest.mark.area("auth")
@pytest.mark.parametrize(
    "raw",
    [b"{}", b'{"refresh_token": 42}', b'{"refresh_token": null}', b"not json"],
    ids=["missing", "number", "null", "not-json"],
)
def test_refresh_with_a_malformed_body_is_refused(platform: Platform, raw: bytes) -> None:
    """A refresh body without a string refresh_token is 422 and issues no token."""
    response = platform.http.post(
        f"{platform.auth}/auth/refresh", content=raw, headers={"content-type": "application/json"}
    )
    _refused(response)
    assert "access_token" not in response.json(), "a token was issued"


@pytest.mark.area("auth")
def test_signup_is_refused_for_a_case_variant_of_a_taken_email(platform: Platform) -> None:
    """An email differing only in case from a registered one is taken (409), and signs in as
    the one account."""
    email, password = platform.unique_email("case"), "case-variant-password"
    account = platform.signup(email, password)
    variant = email.upper()
    taken = platform.http.post(
        f"{platform.auth}/auth/signup", json={"email": variant, "password": "other-password"}
    )
    _refused(taken, 409)
    login = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": variant, "password": password}
    )
    assert login.status_code == 200, f"login by the variant: HTTP {login.status_code}"
    assert login.json()["user"]["id"] == account.user_id, "the variant is another account"


# The WebSocket refuses what it cannot run, and goes on.


@pytest.mark.area("websocket")
@pytest.mark.parametrize(
    "message",
    [
        {"type": "user_message", "content": ""},
        {"type": "user_message", "content": "   "},
        {"type": "user_message", "content": "\n\t"},
        {"type": "user_message"},
    ],
    ids=["empty", "spaces", "whitespace", "missing"],
)
def test_blank_question_is_an_error_not_a_run(platform: Platform, message: dict[str, Any]) -> None:
    """A blank user_message gets one error event, no run starts, and the session goes on."""
    session = platform.signup()
    ws = platform.connect(session)
    error = platform.exchange(ws, message)
    assert error["type"] == "error", f"got {error}"
    assert error.get("error"), f"an error without a message: {error}"
    assert platform.exchange(ws, {"type": "ping"}) == {"type": "pong"}, "a run or nothing followed"
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert listed.json()["threads"] == [], f"a thread was opened: {listed.text}"


@pytest.mark.area("websocket")
def test_question_with_a_nul_character_is_an_error_not_a_run(platform: Platform) -> None:
    """A user_message with a NUL character gets one error naming it, no run starts, no
    thread is opened, and the session goes on."""
    session = platform.signup()
    ws = platform.connect(session)
    error = platform.exchange(ws, {"type": "user_message", "content": "hello\x00there"})
    assert error["type"] == "error", f"got {error}"
    assert "NUL" in str(error.get("error")), f"the error does not name it: {error}"
    assert platform.exchange(ws, {"type": "ping"}) == {"type": "pong"}, "a run or nothing followed"
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert listed.json()["threads"] == [], f"a thread was opened: {listed.text}"


@pytest.mark.area("websocket", "threads")
@pytest.mark.parametrize("thread_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_question_to_a_missing_thread_is_an_error(platform: Platform, thread_id: str) -> None:
    """A user_message naming a thread that is not there gets an error; the session goes on."""
    session = platform.signup()
    ws = platform.connect(session)
    error = platform.exchange(
        ws, {"type": "user_message", "content": "hello?", "thread_id": thread_id}
    )
    assert error["type"] == "error", f"got {error}"
    assert error.get("error"), f"an error without a message: {error}"
    assert platform.exchange(ws, {"type": "ping"}) == {"type": "pong"}


@pytest.mark.area("websocket")
def test_ping_with_extra_fields_is_still_a_ping(platform: Platform, user: Session) -> None:
    """A ping carrying fields of its own is answered with a plain pong."""
    ws = platform.connect(user)
    ws.send(json.dumps({"type": "ping", "id": 7, "sent_at": "2024-01-01T00:00:00Z"}))
    assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
