"""Phase 4: each of the agent's domains is chosen by its keywords and answers in kind."""

from __future__ import annotations

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(4), pytest.mark.priority("P3"), pytest.mark.area("agent")]

# (tool, a message whose keyword selects it, a fragment the answer must contain)
DOMAIN_CASES = [
    ("calculator", "Please calculate 17 * 3 + 4", "= 55"),
    ("calculator", "compute (2 + 3) * 4", "= 20"),
    ("cost_optimizer", "How can we lower our cloud cost this quarter?", "cost optimizer"),
    ("cost_optimizer", "Our billing went up in March", "cost optimizer"),
    ("performance_analyzer", "Why is checkout latency so high?", "performance analyzer"),
    ("performance_analyzer", "The search page feels slow", "performance analyzer"),
    ("data_analyzer", "Show the weekly metrics for signups", "data analyzer"),
    ("data_analyzer", "Prepare the monthly report", "data analyzer"),
    ("triage", "We have an outage in the payments API", "triage"),
    ("triage", "An alert fired on the queue workers", "triage"),
    ("knowledge_search", "What is the onboarding process for new engineers?", "knowledge search"),
    ("knowledge_search", "Where is the style guide?", "knowledge search"),
]


@pytest.mark.parametrize(
    ("tool", "content", "fragment"),
    DOMAIN_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(DOMAIN_CASES)],
)
def test_domain_is_chosen_and_answers(
    platform: Platform, user: Session, tool: str, content: str, fragment: str
) -> None:
    """The message's keyword selects the domain's tool, named in tool_executing, tool_completed
    and agent_completed, and the answer carries the domain's result."""
    conversation = platform.converse(platform.connect(user), content)
    by_type = {event["type"]: event for event in conversation.events}
    assert by_type["tool_executing"]["tool"] == tool, f"tool_executing {by_type['tool_executing']}"
    assert by_type["tool_completed"]["tool"] == tool, f"tool_completed {by_type['tool_completed']}"
    assert conversation.completed.get("tool") == tool, f"agent_completed {conversation.completed}"
    assert fragment in conversation.answer, f"answer {conversation.answer!r}"


@pytest.mark.priority("P4")
def test_calculator_passes_the_expression_to_the_tool(platform: Platform, user: Session) -> None:
    """tool_executing carries the arithmetic found in the message as the tool's input."""
    conversation = platform.converse(platform.connect(user), "calculate 12 / 4 + 1 please")
    executing = next(e for e in conversation.events if e["type"] == "tool_executing")
    assert executing["input"] == "12 / 4 + 1", f"tool input {executing['input']!r}"
    assert "= 4" in conversation.answer, f"answer {conversation.answer!r}"


@pytest.mark.priority("P4")
def test_calculator_does_not_invent_a_result_for_division_by_zero(
    platform: Platform, user: Session
) -> None:
    """Division by zero is reported as not evaluable instead of a number."""
    conversation = platform.converse(platform.connect(user), "calculate 1 / 0")
    assert "could not evaluate" in conversation.answer, f"answer {conversation.answer!r}"


@pytest.mark.priority("P4")
def test_same_message_gets_the_same_tool_and_answer(platform: Platform, user: Session) -> None:
    """The agent is deterministic: one message asked twice gets the same tool and answer."""
    ws = platform.connect(user)
    first = platform.converse(ws, "What is our throughput target?")
    second = platform.converse(ws, "What is our throughput target?")
    assert first.completed["tool"] == second.completed["tool"], (
        f"{first.completed['tool']} then {second.completed['tool']}"
    )
    assert first.answer == second.answer, f"{first.answer!r} then {second.answer!r}"
