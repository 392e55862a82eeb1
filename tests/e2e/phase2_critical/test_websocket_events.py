"""Phase 2: the agent's WebSocket events arrive complete and in the documented order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.client import AGENT_EVENTS, CHUNK, Conversation, Platform, Session

pytestmark = [pytest.mark.phase(2), pytest.mark.priority("P1"), pytest.mark.area("websocket")]


def _run(
    platform: Platform, session: Session, criterion: Callable[[str, float], None], content: str
) -> Conversation:
    with platform.measured_session(session, criterion) as ws:
        conversation = platform.converse(ws, content)
    criterion("agent_pipeline_ms", conversation.elapsed_ms)
    return conversation


@pytest.mark.area("agent")
def test_five_events_arrive_in_order(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """The run sends agent_started, agent_thinking, tool_executing, tool_completed,
    agent_completed: each once, in that order."""
    conversation = _run(platform, user, criterion, "Explain how our deploys work")
    assert conversation.kinds == list(AGENT_EVENTS), f"events {conversation.kinds}"


@pytest.mark.area("agent")
def test_chunks_come_after_the_tool_and_before_completion(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """At least one answer chunk is sent, all between tool_completed and agent_completed."""
    conversation = _run(platform, user, criterion, "Describe the release process")
    types = [event["type"] for event in conversation.events]
    chunk_positions = [i for i, kind in enumerate(types) if kind == CHUNK]
    assert chunk_positions, f"no {CHUNK} in {types}"
    assert min(chunk_positions) > types.index("tool_completed"), f"order {types}"
    assert max(chunk_positions) < types.index("agent_completed"), f"order {types}"


@pytest.mark.area("agent")
def test_every_event_carries_one_run_id(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """All events of one run, chunks included, carry the same run_id and thread_id."""
    conversation = _run(platform, user, criterion, "Who owns the billing service?")
    run_ids = {event.get("run_id") for event in conversation.events}
    thread_ids = {event.get("thread_id") for event in conversation.events}
    assert len(run_ids) == 1, f"run ids {run_ids}"
    assert None not in run_ids, "an event without run_id"
    assert len(thread_ids) == 1, f"thread ids {thread_ids}"


@pytest.mark.area("agent")
def test_tool_events_name_the_same_tool(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """tool_executing and tool_completed name the same tool, and it is a non-empty name."""
    conversation = _run(platform, user, criterion, "What is the weekly error budget?")
    by_type = {event["type"]: event for event in conversation.events}
    executing, completed = by_type["tool_executing"], by_type["tool_completed"]
    assert executing.get("tool"), f"tool_executing without tool: {executing}"
    assert executing["tool"] == completed.get("tool"), f"{executing} then {completed}"


@pytest.mark.area("agent")
def test_second_message_on_a_session_gets_a_full_run(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """A second message on the same session gets the whole event sequence under a new run_id."""
    with platform.measured_session(user, criterion) as ws:
        first = platform.converse(ws, "First question: what is a thread?")
        second = platform.converse(ws, "Second question: what is a run?")
    for conversation in (first, second):
        criterion("agent_pipeline_ms", conversation.elapsed_ms)
    assert second.kinds == list(AGENT_EVENTS), f"second run events {second.kinds}"
    assert second.chunks, "second run streamed no chunks"
    assert first.completed["run_id"] != second.completed["run_id"], "run_id reused"
