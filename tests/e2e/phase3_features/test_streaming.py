"""Phase 3: the answer streams in ordered chunks that add up to the final answer."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.e2e.client import Conversation, Platform, Session

pytestmark = [pytest.mark.phase(3), pytest.mark.priority("P2"), pytest.mark.area("streaming")]


def _streamed(
    platform: Platform, session: Session, criterion: Callable[[str, float], None], content: str
) -> Conversation:
    conversation = platform.converse(platform.connect(session), content)
    assert conversation.first_chunk_ms is not None, f"no chunk among {conversation.kinds}"
    criterion("first_chunk_ms", conversation.first_chunk_ms)
    return conversation


@pytest.mark.area("agent")
def test_chunk_indexes_count_up_from_zero(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """Chunks arrive with index 0, 1, 2, ... in arrival order, none missing or repeated."""
    conversation = _streamed(platform, user, criterion, "Walk me through the onboarding steps")
    indexes = [chunk["index"] for chunk in conversation.chunks]
    assert indexes == list(range(len(indexes))), f"indexes {indexes}"


@pytest.mark.area("agent")
def test_chunks_concatenate_to_the_answer(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """The chunks' contents, joined in arrival order, are exactly the completed answer."""
    conversation = _streamed(platform, user, criterion, "Give me an overview of the platform")
    joined = "".join(chunk["content"] for chunk in conversation.chunks)
    assert joined == conversation.answer, f"chunks {joined!r} vs answer {conversation.answer!r}"


@pytest.mark.area("agent")
def test_a_long_answer_streams_in_several_chunks(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """An answer of over a hundred characters is streamed in pieces, not in one event."""
    conversation = _streamed(
        platform, user, criterion, "Tell me everything about how the nightly jobs are scheduled"
    )
    assert len(conversation.answer) > 100, f"short answer {conversation.answer!r}"
    assert len(conversation.chunks) >= 2, f"{len(conversation.chunks)} chunk(s)"


@pytest.mark.area("agent")
def test_every_chunk_carries_text(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """Each chunk has a non-empty string content; the first one starts the answer."""
    conversation = _streamed(platform, user, criterion, "Which teams own the gateway?")
    empty = [
        c for c in conversation.chunks if not isinstance(c["content"], str) or not c["content"]
    ]
    assert not empty, f"empty chunks {empty}"
    assert conversation.answer.startswith(conversation.chunks[0]["content"]), (
        f"first chunk {conversation.chunks[0]['content']!r}, answer {conversation.answer!r}"
    )


@pytest.mark.area("agent")
@pytest.mark.area("threads")
def test_streamed_answer_is_the_stored_answer(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """What was streamed is what the thread stores as the assistant's message."""
    thread = platform.create_thread(user)
    conversation = platform.converse(platform.connect(user), "What changed in v2?", thread["id"])
    assert conversation.first_chunk_ms is not None, "no chunk streamed"
    criterion("first_chunk_ms", conversation.first_chunk_ms)
    stored = platform.messages(user, thread["id"])[-1]
    joined = "".join(chunk["content"] for chunk in conversation.chunks)
    assert stored["content"] == joined, f"stored {stored['content']!r}, streamed {joined!r}"


@pytest.mark.area("agent")
@pytest.mark.area("websocket")
def test_nothing_is_streamed_after_completion(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """After agent_completed the next event is the answer to a ping, not a stray chunk."""
    ws = platform.connect(user)
    conversation = platform.converse(ws, "One short question")
    assert conversation.first_chunk_ms is not None, "no chunk streamed"
    criterion("first_chunk_ms", conversation.first_chunk_ms)
    ws.send(json.dumps({"type": "ping"}))
    after = json.loads(ws.recv(timeout=10))
    assert after == {"type": "pong"}, f"after completion got {after}"
