"""The agent pipeline: deterministic (no model, no network), with a configurable pace.

A user message becomes, in order, ``agent_started``, ``agent_thinking``, ``tool_executing``,
``tool_completed``, the answer in chunks, and ``agent_completed``. The same message always gets
the same tool and answer, so tests can assert content, not just shape.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import operator
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
CHUNK_EVENT = "agent_response_chunk"

# The agent's domains: a keyword in the message selects the tool that handles it.
DOMAINS: dict[str, tuple[str, ...]] = {
    "calculator": ("calculate", "compute"),
    "cost_optimizer": ("cost", "billing", "spend", "budget"),
    "performance_analyzer": ("latency", "performance", "slow", "throughput"),
    "data_analyzer": ("data", "metrics", "report", "trend"),
    "triage": ("error", "incident", "outage", "alert"),
}
DEFAULT_TOOL = "knowledge_search"

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_OPERATION = re.compile(r"\d\s*[-+*/]\s*\d")  # a message with arithmetic in it
_ARITHMETIC = re.compile(r"[-+*/().\d\s]{3,}")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the agent will do with one message."""

    tool: str
    tool_input: str
    answer: str


def choose_tool(content: str) -> str:
    """The tool for a message: arithmetic goes to the calculator, otherwise the first domain
    one of whose keywords the message contains as a word."""
    if _OPERATION.search(content):
        return "calculator"
    words = set(re.findall(r"[a-z]+", content.lower()))
    for tool, keywords in DOMAINS.items():
        if words.intersection(keywords):
            return tool
    return DEFAULT_TOOL


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return float(_BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    raise ValueError("not arithmetic")


def plan(content: str) -> Plan:
    """The deterministic plan for a message."""
    tool = choose_tool(content)
    if tool == "calculator":
        match = _ARITHMETIC.search(content)
        expression = match.group(0).strip() if match else ""
        try:
            value = _evaluate(ast.parse(expression, mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError):
            return Plan(tool, expression, f"I could not evaluate {expression!r}.")
        return Plan(tool, expression, f"The result is {expression} = {value:g}.")
    topic = " ".join(content.split()[:8])
    answer = (
        f'Using {tool.replace("_", " ")}, here is what I found about "{topic}": '
        f"the analysis is complete and the findings are summarised in {len(content)} "
        "characters of input."
    )
    return Plan(tool, topic, answer)


def chunks(text: str, size: int = 24) -> list[str]:
    """The answer split into the chunks it streams in."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def run(
    content: str,
    step_s: float,
    hang: asyncio.Event | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yields the pipeline's events; with ``hang`` it stops after thinking until that is set."""
    decided = plan(content)
    yield {"type": "agent_started"}
    await asyncio.sleep(step_s)
    yield {"type": "agent_thinking", "thought": f"choosing a tool: {decided.tool}"}
    if hang is not None:
        await hang.wait()
    await asyncio.sleep(step_s)
    yield {"type": "tool_executing", "tool": decided.tool, "input": decided.tool_input}
    await asyncio.sleep(step_s)
    yield {"type": "tool_completed", "tool": decided.tool, "result": decided.answer}
    for index, piece in enumerate(chunks(decided.answer)):
        await asyncio.sleep(step_s / 4)
        yield {"type": CHUNK_EVENT, "index": index, "content": piece}
    yield {"type": "agent_completed", "content": decided.answer, "tool": decided.tool}
