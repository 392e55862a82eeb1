"""Phase 2: the user's message and the agent's answer are persisted in the thread, in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [
    pytest.mark.phase(2),
    pytest.mark.priority("P1"),
    pytest.mark.area("threads", "agent"),
]


def test_message_and_answer_are_persisted_in_order(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """After a run the thread holds the user's message, then the agent's answer."""
    thread = platform.create_thread(user, "message flow")
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "How do I rotate a key?", thread["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    stored = [(m["role"], m["content"]) for m in platform.messages(user, thread["id"])]
    assert stored == [("user", "How do I rotate a key?"), ("assistant", conversation.answer)], (
        f"thread holds {stored}"
    )


def test_answer_is_stored_under_the_announced_id(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """The message_id of agent_completed is the id of the stored assistant message."""
    thread = platform.create_thread(user)
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "Where are the logs kept?", thread["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    last = platform.messages(user, thread["id"])[-1]
    assert last["id"] == conversation.completed["message_id"], f"last message {last}"
    assert last["role"] == "assistant", f"last message {last}"


def test_message_without_thread_creates_a_readable_thread(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """A message sent without a thread_id lands in a new thread the user can read over REST."""
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "Start a new conversation please")
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    thread_id = conversation.completed["thread_id"]
    detail = platform.http.get(f"{platform.backend}/api/threads/{thread_id}", headers=user.headers)
    assert detail.status_code == 200, f"new thread: HTTP {detail.status_code}"
    roles = [m["role"] for m in platform.messages(user, thread_id)]
    assert roles == ["user", "assistant"], f"roles {roles}"


def test_rest_message_and_websocket_run_share_the_thread(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """A message posted over REST, then a run over the WebSocket: all three stored, in order."""
    thread = platform.create_thread(user)
    posted = platform.http.post(
        f"{platform.backend}/api/threads/{thread['id']}/messages",
        json={"content": "context from the REST API"},
        headers=user.headers,
    )
    assert posted.status_code == 201, f"post: HTTP {posted.status_code}"
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "Now answer over the socket", thread["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    contents = [m["content"] for m in platform.messages(user, thread["id"])]
    assert contents == [
        "context from the REST API",
        "Now answer over the socket",
        conversation.answer,
    ], f"thread holds {contents}"


def test_stored_messages_are_in_time_order(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """Stored messages name their thread and their timestamps never go backwards."""
    thread = platform.create_thread(user)
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "Timestamp check", thread["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    messages = platform.messages(user, thread["id"])
    assert {m["thread_id"] for m in messages} == {thread["id"]}, messages
    stamps = [dt.datetime.fromisoformat(m["created_at"]) for m in messages]
    assert stamps == sorted(stamps), f"timestamps {[m['created_at'] for m in messages]}"
    assert len(set(m["id"] for m in messages)) == len(messages), "duplicate message ids"


def test_two_turns_are_stored_in_turn_order(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """Two runs in one thread leave question, answer, question, answer, under the announced
    ids."""
    thread = platform.create_thread(user)
    with platform.measured_session(user, criterion) as ws:
        first = platform.converse(ws, "First turn: what is a deploy?", thread["id"])
        second = platform.converse(ws, "Second turn: and a rollback?", thread["id"])
    for conversation in (first, second):
        criterion("agent_pipeline_ms", conversation.elapsed_ms)
    stored = platform.messages(user, thread["id"])
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "First turn: what is a deploy?"),
        ("assistant", first.answer),
        ("user", "Second turn: and a rollback?"),
        ("assistant", second.answer),
    ], f"thread holds {stored}"
    assert [stored[1]["id"], stored[3]["id"]] == [
        first.completed["message_id"],
        second.completed["message_id"],
    ], "answers stored under other ids"


def test_a_run_touches_only_its_own_thread(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """A run in one of a user's two threads leaves the other thread empty."""
    session = platform.signup()
    target, bystander = platform.create_thread(session, "target"), platform.create_thread(session)
    with platform.measured_session(session, criterion) as ws:
        conversation = platform.converse(ws, "Only for the target thread", target["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    assert len(platform.messages(session, target["id"])) == 2, "the target lacks the exchange"
    assert platform.messages(session, bystander["id"]) == [], "the other thread got messages"


def test_non_ascii_message_is_stored_as_sent(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """A message with accents, CJK and emoji is stored character for character."""
    content = "Grüße — 你好 🚀: where are the deploy logs?"
    thread = platform.create_thread(user)
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, content, thread["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    stored = platform.messages(user, thread["id"])
    assert stored[0]["content"] == content, f"stored {stored[0]['content']!r}"
    assert stored[1]["content"] == conversation.answer, f"stored answer {stored[1]['content']!r}"


def test_refused_message_leaves_no_trace(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """A blank message is refused with an error and not stored; the next one is stored alone
    with its answer."""
    thread = platform.create_thread(user)
    with platform.measured_session(user, criterion) as ws:
        refused = platform.exchange(
            ws, {"type": "user_message", "content": "  ", "thread_id": thread["id"]}
        )
        assert refused["type"] == "error", f"blank message got {refused}"
        assert platform.messages(user, thread["id"]) == [], "the blank message was stored"
        conversation = platform.converse(ws, "A real question after all", thread["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    contents = [m["content"] for m in platform.messages(user, thread["id"])]
    assert contents == ["A real question after all", conversation.answer], f"thread {contents}"


def test_thread_opened_by_a_message_is_listed_first(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """The thread a first message opens is the new user's one listed thread."""
    session = platform.signup()
    with platform.measured_session(session, criterion) as ws:
        conversation = platform.converse(ws, "Begin a fresh conversation")
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert listed.status_code == 200, f"HTTP {listed.status_code}"
    ids = [t["id"] for t in listed.json()["threads"]]
    assert ids == [conversation.completed["thread_id"]], f"listed {ids}"
