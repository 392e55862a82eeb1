"""The agent pipeline: a supervisor that routes each message to domain sub-agents.

Deterministic (no model, no network) with a configurable pace. The supervisor starts, thinks
(one step) and routes: ``agent_started``, ``agent_thinking`` and ``agent_routed`` (the chosen
sub-agents, in order), each with ``"agent": "supervisor"``. Then each sub-agent of the route,
in turn, sends ``agent_started``, ``agent_thinking``, ``tool_executing`` and ``tool_completed``
for each of its tools (a step each), and ``agent_completed`` with its finding, every event
naming it in ``"agent"``. The last sub-agent streams the run's answer in chunks before its
``agent_completed``, which alone is ``"final": true`` and carries the whole answer. A run of
one sub-agent is thus the five events clients always saw, after the supervisor's.

A sub-agent whose tool fails sends ``agent_error`` naming it and the tool, and the run stops
there: nothing after it runs, and no final answer is claimed. The same message always gets the
same route, tools and answer (see :mod:`reference_platform.subagents` for the domains).

Two code defects live here, each behind its revision fault: a ``wrong`` sub-agent looks the
service up one row off in the dataset, so it answers, calmly and completely, about the next
service; with ``out_of_order`` each sub-agent sends its ``agent_thinking`` only once its first
tool is under way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any

from reference_platform.domain import SERVICES, Call, Finding, Request, ToolError, Work
from reference_platform.subagents import DOMAIN, FALLBACK, NAMES, Reporting, SubAgent

EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
CHUNK_EVENT = "agent_response_chunk"
ROUTED_EVENT = "agent_routed"
ERROR_EVENT = "agent_error"
SUPERVISOR = "supervisor"
SUBAGENTS = NAMES  # the sub-agents a fault may name
DOMAIN_SUBAGENTS = tuple(agent.name for agent in DOMAIN)  # those whose answer is about a service
MAX_CHUNKS = 10  # a long answer streams in bigger chunks, not in more of them


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the pipeline will do with one message: the route and each sub-agent's tools."""

    request: Request
    agents: tuple[SubAgent, ...]

    @property
    def route(self) -> list[str]:
        """The sub-agents' names, in order."""
        return [agent.name for agent in self.agents]

    def tools(self) -> dict[str, tuple[str, ...]]:
        """Each sub-agent's tools for this request, in order."""
        return {agent.name: agent.plan(self.request) for agent in self.agents}


@dataclasses.dataclass(frozen=True)
class Faults:
    """The pipeline's faults: ``hang`` holds the supervisor after its thinking until it is
    set (``agent_hang``); a ``hung`` sub-agent starts, thinks and never goes on; a ``failing``
    one finds its source down, so its first tool raises. ``wrong`` and ``out_of_order`` are
    the code defects of the module's docstring."""

    hang: asyncio.Event | None = None
    hung: frozenset[str] = frozenset()
    failing: frozenset[str] = frozenset()
    wrong: frozenset[str] = frozenset()  # code defect: they read the next service's figures
    out_of_order: bool = False  # code defect: agent_thinking after the first tool_executing


def route(request: Request) -> tuple[SubAgent, ...]:
    """The sub-agents a request needs, in pipeline order; the fallback when none claims it."""
    chosen = tuple(agent for agent in DOMAIN if request.mentions(agent.keywords))
    return chosen or (FALLBACK,)


def matched(request: Request, agent: SubAgent) -> list[str]:
    """The words of the message that routed it to this sub-agent, in message order."""
    return [w for w in dict.fromkeys(request.words) if w in agent.keywords]


def answer(findings: Sequence[Finding]) -> str:
    """The run's answer: the report when the last sub-agent wrote one, else every finding in
    order."""
    if findings[-1].agent == Reporting.name:
        return findings[-1].text
    return " ".join(f.text for f in findings)


def misread(request: Request) -> Request:
    """The request as the ``wrong`` defect reads it: about the service one row further in the
    dataset (the first after the last)."""
    names = list(SERVICES)
    following = names[(names.index(request.service.name) + 1) % len(names)]
    return dataclasses.replace(request, service=SERVICES[following])


def plan(content: str) -> Plan:
    """The deterministic plan for a message."""
    request = Request.parse(content)
    return Plan(request, route(request))


def chunks(text: str, size: int = 24) -> list[str]:
    """The answer split into the chunks it streams in: ``size`` characters each, bigger when
    that would make more than MAX_CHUNKS."""
    size = max(size, math.ceil(len(text) / MAX_CHUNKS))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _tool_event(kind: str, agent: str, call: Call) -> dict[str, Any]:
    if kind == "tool_executing":
        return {"type": kind, "agent": agent, "tool": call.tool, "input": call.input}
    return {
        "type": kind,
        "agent": agent,
        "tool": call.tool,
        "result": call.result,
        "output": dict(call.output),
    }


async def run(
    content: str, step_s: float, faults: Faults | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Yields the run's events; ``step_s`` is the pace of each step (a chunk takes a quarter)."""
    faults = faults or Faults()
    decided = plan(content)
    tools = decided.tools()
    yield {"type": "agent_started", "agent": SUPERVISOR}
    await asyncio.sleep(step_s)
    yield {
        "type": "agent_thinking",
        "agent": SUPERVISOR,
        "thought": f"routing to {' then '.join(decided.route)}",
    }
    if faults.hang is not None:
        await faults.hang.wait()
    yield {
        "type": ROUTED_EVENT,
        "agent": SUPERVISOR,
        "agents": decided.route,
        "matched": {a.name: matched(decided.request, a) for a in decided.agents},
        "service": decided.request.service.name,
    }
    findings: list[Finding] = []
    for step, agent in enumerate(decided.agents, start=1):
        name, final = agent.name, step == len(decided.agents)
        request = misread(decided.request) if name in faults.wrong else decided.request
        yield {"type": "agent_started", "agent": name, "step": step, "of": len(decided.agents)}
        thinking = {
            "type": "agent_thinking",
            "agent": name,
            "thought": f"running {', '.join(tools[name])} for {request.service.name}",
            "tools": list(tools[name]),
        }
        if not faults.out_of_order:
            yield thinking
        if name in faults.hung:
            await asyncio.Event().wait()  # nothing sets it: the sub-agent never goes on
        work = Work(request, (), tuple(findings))
        for index, tool in enumerate(tools[name]):
            preview = agent.call(tool, work)  # pure: its input is known before the paced run
            yield _tool_event("tool_executing", name, preview)
            if faults.out_of_order and index == 0:
                yield thinking
            await asyncio.sleep(step_s)
            try:
                call = agent.call(tool, work, source_up=name not in faults.failing)
            except ToolError as exc:
                yield {
                    "type": ERROR_EVENT,
                    "agent": name,
                    "tool": tool,
                    "error": f"{type(exc).__name__}: {exc}",
                }
                return
            work = dataclasses.replace(work, calls=(*work.calls, call))
            yield _tool_event("tool_completed", name, call)
        finding = agent.conclude(work)
        findings.append(finding)
        text = answer(findings) if final else finding.text
        if final:
            for index, piece in enumerate(chunks(text)):
                await asyncio.sleep(step_s / 4)
                yield {"type": CHUNK_EVENT, "agent": name, "index": index, "content": piece}
        completed: dict[str, Any] = {
            "type": "agent_completed",
            "agent": name,
            "content": text,
            "tool": work.calls[-1].tool,
            "tools": [c.tool for c in work.calls],
            "final": final,
        }
        if final:
            completed["agents"] = decided.route
        yield completed
