"""Phase 4: a request no domain claims goes to the general sub-agent: arithmetic to its
calculator, anything else to the knowledge base; and the same request is answered the same."""

from __future__ import annotations

import pytest

from tests.e2e.client import Platform, Session
from tests.e2e.domains import Case, check

pytestmark = [pytest.mark.phase(4)]

# (message, the expression the calculator reads, its value)
ARITHMETIC = (
    ("Please calculate 17 * 3 + 4", "17 * 3 + 4", 55.0),
    ("compute (2 + 3) * 4", "(2 + 3) * 4", 20.0),
    ("what is 6 * 7", "6 * 7", 42.0),
    ("calculate 100 / 8", "100 / 8", 12.5),
    ("calculate 12 / 4 + 1 please", "12 / 4 + 1", 4.0),
    ("How much is 2 + 2 * 2?", "2 + 2 * 2", 6.0),
    ("calculate -5 + 12", "-5 + 12", 7.0),
    ("what is 1000 - 1", "1000 - 1", 999.0),
    ("calculate 3 * (4 + 5) - 6", "3 * (4 + 5) - 6", 21.0),
    ("calculate 7 / 2 * 4", "7 / 2 * 4", 14.0),
)
QUESTIONS = (
    "What is the onboarding process for new engineers?",
    "Where is the style guide?",
    "Who owns the billing service?",
    "How do we rotate the signing keys?",
    "Which teams own the gateway?",
    "What is our uptime goal?",
    "Explain how the nightly jobs are scheduled",
    "Is there a holiday calendar?",
)
CASES = [
    Case(
        id=f"calculator-{number}",
        message=message,
        route=("general",),
        tools=(("calculator",),),
        says=(f"The result is {expression} = {value:g}.",),
        priority="P4",
    )
    for number, (message, expression, value) in enumerate(ARITHMETIC)
] + [
    Case(
        id=f"knowledge-{number}",
        message=question,
        route=("general",),
        tools=(("knowledge_search",),),
        says=(
            f'here is what I found about "{" ".join(question.split()[:8])}"',
            f"summarised in {len(question)} characters of input",
        ),
        priority="P4",
    )
    for number, question in enumerate(QUESTIONS)
]


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_general_sub_agent_answers_what_no_domain_claims(
    platform: Platform, user: Session, case: Case
) -> None:
    """Routed to general alone, it runs the calculator for arithmetic (with the right value)
    and the knowledge search otherwise."""
    check(platform.converse(platform.connect(user), case.message), case)


@pytest.mark.priority("P4")
@pytest.mark.area("agent", "agent.general")
def test_calculator_passes_the_expression_to_the_tool(platform: Platform, user: Session) -> None:
    """tool_executing carries the arithmetic found in the message as the tool's input."""
    conversation = platform.converse(platform.connect(user), "calculate 12 / 4 + 1 please")
    executing = next(e for e in conversation.of("general") if e["type"] == "tool_executing")
    assert executing["input"] == "12 / 4 + 1", f"tool input {executing['input']!r}"


@pytest.mark.priority("P4")
@pytest.mark.area("agent", "agent.general")
def test_calculator_does_not_invent_a_result_for_division_by_zero(
    platform: Platform, user: Session
) -> None:
    """Division by zero is reported as not evaluable instead of a number."""
    conversation = platform.converse(platform.connect(user), "calculate 1 / 0")
    assert conversation.answer == "I could not evaluate '1 / 0'.", f"answer {conversation.answer!r}"


@pytest.mark.priority("P3")
@pytest.mark.area("agent", "agent.data", "agent.optimization", "agent.reporting")
def test_same_request_gets_the_same_route_tools_and_answer(
    platform: Platform, user: Session
) -> None:
    """The pipeline is deterministic: one request asked twice gets the same route, the same
    tools per sub-agent and the same answer."""
    ws = platform.connect(user)
    first = platform.converse(ws, "Analyse the search cost trend and write a report")
    second = platform.converse(ws, "Analyse the search cost trend and write a report")
    assert first.route == second.route == ["data", "optimization", "reporting"], first.route
    for name in first.route:
        assert first.tools(name) == second.tools(name), f"{name}: {first.tools(name)}"
    assert first.answer == second.answer, f"{first.answer!r} then {second.answer!r}"
