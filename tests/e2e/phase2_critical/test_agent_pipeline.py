"""Phase 2: a message sent over the WebSocket runs the agent pipeline end to end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.client import Platform, Session

# Every test runs the agent but the last, which is refused before the pipeline: it does not
# depend on the agent (a hung pipeline must not make it fail, nor keep it from running).
pytestmark = [pytest.mark.phase(2), pytest.mark.area("websocket")]
AGENT = pytest.mark.area("agent")


@pytest.mark.priority("P1")
@AGENT
def test_first_message_gets_an_answer(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """A first message without a thread is answered, in a new thread, with a non-empty answer."""
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "Hello, what can you do for me?")
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    assert conversation.answer.strip(), f"empty answer: {conversation.completed}"
    assert conversation.completed["thread_id"], f"no thread: {conversation.completed}"


@pytest.mark.priority("P1")
@AGENT
def test_answer_goes_to_the_given_thread(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """With a thread_id, every event of the run names that thread."""
    thread = platform.create_thread(user, "pipeline thread")
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "Which options do we have?", thread["id"])
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    threads = {event.get("thread_id") for event in conversation.events}
    assert threads == {thread["id"]}, f"events name threads {threads}"


@pytest.mark.priority("P1")
@AGENT
def test_completion_names_the_stored_message_and_duration(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """agent_completed carries the stored message's id and a duration within the round trip."""
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "What is the status of the project?")
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    completed = conversation.completed
    assert completed.get("message_id"), f"no message_id: {completed}"
    duration = completed.get("duration_ms")
    assert isinstance(duration, int | float), f"duration_ms {duration!r}"
    assert 0 < duration <= conversation.elapsed_ms, (
        f"duration_ms {duration} vs round trip {conversation.elapsed_ms:.1f} ms"
    )


@pytest.mark.priority("P2")
@AGENT
def test_calculator_answer_is_correct(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """An arithmetic request is answered with the right result, not just any text."""
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, "Please calculate 2 + 3 * 4")
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    assert "14" in conversation.answer, f"answer {conversation.answer!r}"


@pytest.mark.priority("P2")
@AGENT
def test_empty_message_is_an_error_and_the_session_goes_on(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """A blank user_message gets an error event, no run, and the session still answers."""
    with platform.measured_session(user, criterion) as ws:
        refused = platform.exchange(ws, {"type": "user_message", "content": "   "})
        assert refused["type"] == "error", f"blank message got {refused}"
        conversation = platform.converse(ws, "And now a real question?")
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    assert conversation.answer.strip(), "no answer after the error"


@pytest.mark.priority("P1")
@pytest.mark.area("threads")
def test_message_to_another_users_thread_is_refused(
    platform: Platform, user: Session, other_user: Session, criterion: Callable[[str, float], None]
) -> None:
    """Naming another user's thread gets an error event and stores nothing in that thread."""
    foreign = platform.create_thread(other_user, "not yours")
    with platform.measured_session(user, criterion) as ws:
        event = platform.exchange(
            ws, {"type": "user_message", "content": "let me in", "thread_id": foreign["id"]}
        )
    assert event["type"] == "error", f"got {event}"
    assert platform.messages(other_user, foreign["id"]) == [], "a message reached the thread"
