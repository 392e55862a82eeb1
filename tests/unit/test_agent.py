"""The agent pipeline is deterministic: same message, same tool, same answer, same order."""

from __future__ import annotations

import asyncio

import pytest

from reference_platform import agent


async def _events(content: str) -> list[dict[str, object]]:
    return [event async for event in agent.run(content, step_s=0.0)]


def test_events_come_in_the_documented_order() -> None:
    """The five events in order, with the answer's chunks before agent_completed."""
    events = asyncio.run(_events("what is our cloud spend"))
    kinds = [e["type"] for e in events if e["type"] != agent.CHUNK_EVENT]
    assert kinds == list(agent.EVENTS)
    chunk_positions = [i for i, e in enumerate(events) if e["type"] == agent.CHUNK_EVENT]
    assert chunk_positions
    assert max(chunk_positions) < len(events) - 1
    answer = "".join(str(e["content"]) for e in events if e["type"] == agent.CHUNK_EVENT)
    assert answer == events[-1]["content"]


@pytest.mark.parametrize(
    ("content", "tool"),
    [
        ("reduce our billing", "cost_optimizer"),
        ("p95 latency is up", "performance_analyzer"),
        ("incident in prod", "triage"),
        ("hello there", agent.DEFAULT_TOOL),
    ],
)
def test_domain_keywords_select_the_tool(content: str, tool: str) -> None:
    """A keyword in the message picks its domain's tool."""
    assert agent.plan(content).tool == tool


def test_calculator_evaluates_with_precedence_and_refuses_code() -> None:
    """Arithmetic is computed, not guessed; anything else is refused, never executed."""
    assert agent.plan("calculate 2+3*4").answer == "The result is 2+3*4 = 14."
    assert agent.plan("calculate 1/0").answer == "I could not evaluate '1/0'."


def test_keywords_match_whole_words_only() -> None:
    """'summarise' or 'assumption' do not pick a tool by a word inside them."""
    assert agent.plan("summarise our assumptions").tool == agent.DEFAULT_TOOL


def test_hang_stops_after_thinking() -> None:
    """With a hang event that is never set, the pipeline never reaches tool_executing."""

    async def first_events() -> list[str]:
        seen: list[str] = []

        async def consume() -> None:
            async for event in agent.run("hi", step_s=0.0, hang=asyncio.Event()):
                seen.append(str(event["type"]))

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(consume(), 0.2)
        return seen

    assert asyncio.run(first_events()) == ["agent_started", "agent_thinking"]
