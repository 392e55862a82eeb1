"""Phase 5: the golden path, one step a test: sign in, open a thread, chat over the WebSocket,
the agent answers, the history is persisted, a follow-up, the token is refreshed, sign out.

Each test walks the path from the start with a user of its own, up to its step, and checks that
step. The platform offers no server-side sign-out or token revocation: signing out is ending
the session, and what must hold after it is that the conversation survives it."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import ClientConnection

from tests.e2e.client import Conversation, Platform, Session

pytestmark = [pytest.mark.phase(5), pytest.mark.priority("P1"), pytest.mark.area("critical_path")]

QUESTION = "Golden path: how do I see what changed in the last deploy?"
FOLLOW_UP = "And how do I roll it back if it is broken?"


@dataclasses.dataclass(frozen=True)
class Account:
    """A new user's email and password, and the session their sign-in gave."""

    email: str
    password: str
    session: Session


def _login(platform: Platform, email: str, password: str) -> Session:
    response = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, f"sign-in of {email}: HTTP {response.status_code}"
    body = response.json()
    return Session(email, body["user"]["id"], body["access_token"], body["refresh_token"])


def _sign_in(platform: Platform) -> Account:
    """A new account, signed up and then signed in with its password."""
    email, password = platform.unique_email("golden"), secrets.token_urlsafe(16)
    platform.signup(email, password)
    return Account(email, password, _login(platform, email, password))


def _converse(
    platform: Platform,
    ws: ClientConnection,
    content: str,
    thread_id: str,
    criterion: Callable[[str, float], None],
) -> Conversation:
    conversation = platform.converse(ws, content, thread_id)
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    return conversation


def _answered(
    platform: Platform, criterion: Callable[[str, float], None]
) -> tuple[Account, dict[str, Any], Conversation]:
    """The path up to the agent's answer: signed in, a thread, one question answered."""
    account = _sign_in(platform)
    thread = platform.create_thread(account.session, "golden path")
    with platform.measured_session(account.session, criterion) as ws:
        conversation = _converse(platform, ws, QUESTION, thread["id"], criterion)
    return account, thread, conversation


@pytest.mark.area("auth")
def test_1_sign_in(platform: Platform) -> None:
    """A new user signs in with their password; auth verifies the token as theirs and the
    backend serves them an empty thread list."""
    account = _sign_in(platform)
    verified = platform.verify(account.session.access_token)
    assert verified.status_code == 200, f"verify: HTTP {verified.status_code}"
    assert (verified.json()["user_id"], verified.json()["email"]) == (
        account.session.user_id,
        account.email,
    ), f"verify names {verified.json()}"
    threads = platform.http.get(f"{platform.backend}/api/threads", headers=account.session.headers)
    assert threads.status_code == 200, f"thread list: HTTP {threads.status_code}"
    assert threads.json()["threads"] == [], f"a new user has threads: {threads.text}"


@pytest.mark.area("auth", "threads")
def test_2_open_a_thread(platform: Platform) -> None:
    """The signed-in user opens a thread: 201, empty, and their one listed thread."""
    session = _sign_in(platform).session
    thread = platform.create_thread(session, "golden path")
    assert thread["title"] == "golden path", f"thread {thread}"
    assert platform.messages(session, thread["id"]) == [], "a new thread has messages"
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert [t["id"] for t in listed.json()["threads"]] == [thread["id"]], listed.text


@pytest.mark.area("auth", "websocket")
def test_3_connect_to_chat(platform: Platform, criterion: Callable[[str, float], None]) -> None:
    """The user's WebSocket session opens, greets them by id and answers a ping."""
    session = _sign_in(platform).session
    platform.create_thread(session, "golden path")
    try:
        ws = platform.ws_connect(token=session.access_token)
        greeting = json.loads(ws.recv(timeout=10))
        pong = platform.exchange(ws, {"type": "ping"})
    except Exception:
        criterion("websocket_success_rate", 0.0)
        raise
    criterion("websocket_success_rate", 1.0)
    assert (greeting["type"], greeting["user_id"]) == ("connected", session.user_id), greeting
    assert pong == {"type": "pong"}, f"ping got {pong}"


@pytest.mark.area("agent", "websocket", "threads")
def test_4_agent_answers(platform: Platform, criterion: Callable[[str, float], None]) -> None:
    """The question is answered: the run starts, every event names the thread and one run,
    and the streamed chunks add up to the non-empty final answer."""
    _, thread, conversation = _answered(platform, criterion)
    assert conversation.events[0]["type"] == "agent_started", f"first {conversation.events[0]}"
    assert conversation.answer.strip(), f"empty answer: {conversation.completed}"
    assert {e.get("thread_id") for e in conversation.events} == {thread["id"]}, "other threads"
    assert len({e.get("run_id") for e in conversation.events}) == 1, "events of several runs"
    streamed = "".join(chunk["content"] for chunk in conversation.chunks)
    assert streamed == conversation.answer, f"streamed {streamed!r}"


@pytest.mark.area("agent", "websocket", "threads")
def test_5_history_is_persisted(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """After the answer the thread holds the question and the answer, the answer under the id
    the run announced."""
    account, thread, conversation = _answered(platform, criterion)
    stored = platform.messages(account.session, thread["id"])
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", QUESTION),
        ("assistant", conversation.answer),
    ], f"history {stored}"
    assert stored[1]["id"] == conversation.completed["message_id"], "answer under another id"


@pytest.mark.area("agent", "websocket", "threads")
def test_6_follow_up_continues_the_thread(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """A follow-up on the same session is a new run in the same thread, stored after the
    first exchange."""
    account = _sign_in(platform)
    thread = platform.create_thread(account.session, "golden path")
    with platform.measured_session(account.session, criterion) as ws:
        first = _converse(platform, ws, QUESTION, thread["id"], criterion)
        second = _converse(platform, ws, FOLLOW_UP, thread["id"], criterion)
    assert first.completed["run_id"] != second.completed["run_id"], "the follow-up reused a run"
    contents = [m["content"] for m in platform.messages(account.session, thread["id"])]
    assert contents == [QUESTION, first.answer, FOLLOW_UP, second.answer], f"history {contents}"


@pytest.mark.area("agent", "websocket", "threads", "auth")
def test_7_token_refresh_keeps_the_conversation(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """The refreshed token is the same user: it reads the history and a session opened with it
    carries the conversation on."""
    account, thread, first = _answered(platform, criterion)
    refreshed = platform.refresh(account.session)
    assert refreshed.user_id == account.session.user_id, f"refresh names {refreshed.user_id}"
    assert refreshed.access_token != account.session.access_token, "no new access token"
    with platform.measured_session(refreshed, criterion) as ws:
        second = _converse(platform, ws, FOLLOW_UP, thread["id"], criterion)
    contents = [m["content"] for m in platform.messages(refreshed, thread["id"])]
    assert contents == [QUESTION, first.answer, FOLLOW_UP, second.answer], f"history {contents}"


@pytest.mark.area("agent", "websocket", "threads", "auth")
def test_8_sign_out_and_back_in(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """Signing out closes the session normally (1000, nothing more goes over it); signing back
    in opens a new session and finds the thread with its history."""
    account = _sign_in(platform)
    thread = platform.create_thread(account.session, "golden path")
    ws = platform.ws_connect(token=account.session.access_token)
    first = json.loads(ws.recv(timeout=10))
    conversation = _converse(platform, ws, QUESTION, thread["id"], criterion)
    ws.close()
    assert ws.close_code == 1000, f"session closed with {ws.close_code}"
    with pytest.raises(ConnectionClosedOK):
        ws.send(json.dumps({"type": "ping"}))
    again = _login(platform, account.email, account.password)
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=again.headers)
    assert [t["id"] for t in listed.json()["threads"]] == [thread["id"]], listed.text
    contents = [m["content"] for m in platform.messages(again, thread["id"])]
    assert contents == [QUESTION, conversation.answer], f"history {contents}"
    second = json.loads(platform.ws_connect(token=again.access_token).recv(timeout=10))
    assert (second["type"], second["user_id"]) == ("connected", account.session.user_id), second
    assert second["session_id"] != first["session_id"], "the signed-out session came back"
