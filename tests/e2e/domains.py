"""The agent's domains as the suite knows them: the reference dataset, the cases built on it,
and the check every case makes of a conversation.

The platform's supervisor routes a request to domain sub-agents (triage, data, optimization,
reporting; general when none claims it) in that order, each running its own tools. The suite
knows the dataset the sub-agents answer from (services, their weekly figures, costs, runbooks,
owners, on-call engineers) as an operator would, and computes every figure it expects from it
here, on its own, so a wrong route, tool, figure or sentence fails the case.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import pytest

from tests.e2e.client import CHUNK, SUPERVISOR, Conversation

WEEKS = 4


@dataclasses.dataclass(frozen=True)
class Service:
    """One service of the reference dataset: weekly figures oldest first, monthly costs."""

    name: str
    team: str
    oncall: str
    runbook: str
    latency: tuple[int, ...]
    traffic: tuple[int, ...]
    cpu: tuple[int, ...]
    spend: tuple[int, ...]
    compute: int
    storage: int
    network: int

    @property
    def costs(self) -> dict[str, int]:
        """Monthly cost by component."""
        return {"compute": self.compute, "storage": self.storage, "network": self.network}


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service("checkout", "payments-team", "maria.lopez", "RB-101", (212, 224, 231, 248),
                (410, 428, 455, 472), (58, 61, 66, 71), (3400, 3450, 3520, 3610), 9200, 3100, 2400),
        Service("payments", "payments-team", "james.chen", "RB-102", (180, 176, 171, 169),
                (220, 226, 231, 240), (44, 45, 47, 46), (2800, 2790, 2810, 2850), 4100, 6800, 1500),
        Service("search", "discovery-team", "priya.nair", "RB-103", (95, 102, 99, 141),
                (1250, 1310, 1290, 1420), (63, 67, 65, 78), (5100, 5200, 5150, 5600), 14800, 5200,
                3900),
        Service("gateway", "edge-team", "tom.becker", "RB-104", (38, 37, 39, 40),
                (2900, 3010, 3120, 3300), (35, 36, 38, 40), (2100, 2150, 2180, 2240), 3200, 600,
                7400),
        Service("inventory", "supply-team", "ana.silva", "RB-105", (150, 148, 152, 149),
                (330, 320, 318, 305), (41, 40, 40, 39), (1600, 1580, 1570, 1550), 2900, 4300, 800),
        Service("notifications", "messaging-team", "li.wei", "RB-106", (310, 295, 288, 260),
                (780, 805, 850, 910), (52, 55, 57, 60), (1200, 1260, 1310, 1390), 1800, 700, 2600),
        Service("recommendations", "ml-team", "sara.kim", "RB-107", (420, 415, 470, 455),
                (520, 540, 560, 610), (72, 75, 83, 80), (4800, 4900, 5300, 5250), 16400, 3800,
                1200),
        Service("ledger", "finance-team", "omar.haddad", "RB-108", (120, 122, 121, 123),
                (150, 152, 151, 153), (30, 30, 31, 31), (900, 905, 910, 915), 1500, 2700, 300),
        # A message that names no service is about the whole platform.
        Service("platform", "platform-team", "jo.martin", "RB-100", (190, 193, 196, 204),
                (6560, 6791, 6975, 7410), (49, 51, 53, 55), (21900, 22185, 22750, 23410), 59000,
                29100, 24400),
    )
}  # fmt: skip

# What each sub-agent may run; general is the fallback for a request no domain claims.
TOOLSETS: dict[str, tuple[str, ...]] = {
    "triage": ("classify_incident", "lookup_runbook", "page_oncall"),
    "data": ("query_metrics", "compute_trend", "detect_anomaly"),
    "optimization": ("cost_breakdown", "recommend_savings", "forecast_budget"),
    "reporting": ("build_report", "summarise"),
    "general": ("calculator", "knowledge_search"),
}
# A metric's label in answers and how its values read.
METRICS: dict[str, tuple[str, Callable[[int], str]]] = {
    "latency": ("p95 latency", lambda v: f"{v} ms"),
    "traffic": ("traffic", lambda v: f"{v:,}k requests a day"),
    "cpu": ("CPU utilisation", lambda v: f"{v}%"),
    "cost": ("weekly spend", lambda v: f"${v:,}"),
}
# The saving the optimization sub-agent recommends on a service's largest cost component.
SAVINGS = {"compute": 20, "storage": 35, "network": 25}


def dollars(value: int) -> str:
    """$14,700."""
    return f"${value:,}"


def change(first: int, last: int) -> str:
    """+17.0%."""
    return f"{(last - first) / first * 100:+.1f}%"


def series(service: Service, metric: str) -> tuple[int, ...]:
    """A service's weekly values of one metric."""
    return {
        "latency": service.latency,
        "traffic": service.traffic,
        "cpu": service.cpu,
        "cost": service.spend,
    }[metric]


def data_facts(service: Service, metric: str, anomaly: bool = False) -> tuple[str, ...]:
    """What the data sub-agent's finding must say: the first and last week, the change, and
    the week of the largest jump when one was asked for."""
    label, show = METRICS[metric]
    weeks = series(service, metric)
    facts = [
        f"For {service.name}, {label} went from {show(weeks[0])} to {show(weeks[-1])}",
        f"over {WEEKS} weeks ({change(weeks[0], weeks[-1])})",
    ]
    if anomaly:
        jumps = [(b - a) / a for a, b in itertools.pairwise(weeks)]
        at = max(range(len(jumps)), key=lambda i: (abs(jumps[i]), -i))
        facts.append(f"jump was in week {at + 2} ({change(weeks[at], weeks[at + 1])})")
    return tuple(facts)


def saving(service: Service) -> tuple[str, int]:
    """The largest cost component (compute, storage, network on a tie) and what it saves."""
    part = max(SAVINGS, key=lambda p: service.costs[p])
    return part, service.costs[part] * SAVINGS[part] // 100


def optimization_facts(service: Service, forecast: bool = False) -> tuple[str, ...]:
    """The monthly cost, its largest part, the saving, and the quarter when forecast."""
    total = sum(service.costs.values())
    part, saved = saving(service)
    facts = [
        f"For {service.name}, the monthly cost is {dollars(total)}",
        f"most of it {part} ({dollars(service.costs[part])})",
        f"to save {dollars(saved)} a month",
    ]
    if forecast:
        facts.append(f"Next quarter's budget is {dollars(3 * (total - saved))} after savings")
    return tuple(facts)


def triage_facts(service: Service, severity: str) -> tuple[str, ...]:
    """The severity, the service's runbook and owner, and the page for a SEV1."""
    facts = [f"{severity} incident on {service.name}", f"runbook {service.runbook}", service.team]
    if severity == "SEV1":
        facts.append(f"{service.oncall} has been paged")
    return tuple(facts)


def status_facts(service: Service) -> tuple[str, ...]:
    """A status report on its own: latest latency, monthly cost, owner."""
    return (
        f"{service.name.capitalize()} report. Summary: 1 finding on {service.name}",
        f"p95 latency of {service.latency[-1]} ms",
        f"costs {dollars(sum(service.costs.values()))} a month",
        f"owned by {service.team}",
    )


def report_facts(service: Service, sections: tuple[str, ...]) -> tuple[str, ...]:
    """A report over the findings of the sub-agents before it: title, count, a section each."""
    count = f"{len(sections)} finding{'s' if len(sections) != 1 else ''}"
    return (
        f"{service.name.capitalize()} report. Summary: {count} on {service.name}",
        *(f"{section.capitalize()}: " for section in sections),
    )


@dataclasses.dataclass(frozen=True)
class Case:
    """One request: the sub-agents it needs, each one's tools in order, and what the answer
    must (and must not) say."""

    id: str
    message: str
    route: tuple[str, ...]
    tools: tuple[tuple[str, ...], ...]  # per sub-agent of the route
    says: tuple[str, ...]
    never_says: tuple[str, ...] = ()
    priority: str = "P3"

    def param(self) -> object:
        """The case as a pytest parameter, marked with its priority and the areas of its
        sub-agents."""
        areas = ("agent", *(f"agent.{name}" for name in self.route))
        return pytest.param(
            self,
            id=self.id,
            marks=[pytest.mark.priority(self.priority), pytest.mark.area(*areas)],
        )


def named(service: Service) -> str:
    """How a message names the service: the platform when it means all of it."""
    return "the platform" if service.name == "platform" else service.name


def check(conversation: Conversation, case: Case) -> None:
    """The case's route, each sub-agent's events in one block in route order with its own
    tools, chunks from the last sub-agent only, and the answer's content."""
    events = conversation.events
    assert conversation.route == list(case.route), f"routed to {conversation.route}"
    agents = [e.get("agent") for e in events if e["type"] != CHUNK and e.get("agent") != SUPERVISOR]
    blocks = [a for i, a in enumerate(agents) if i == 0 or agents[i - 1] != a]
    assert blocks == list(case.route), f"sub-agents ran in the order {blocks}"
    for name, tools in zip(case.route, case.tools, strict=True):
        ran = conversation.tools(name)
        assert ran == list(tools), f"{name} ran {ran}, expected {list(tools)}"
        done = [e["tool"] for e in conversation.of(name) if e["type"] == "tool_completed"]
        assert done == list(tools), f"{name} completed {done}"
        assert set(ran) <= set(TOOLSETS[name]), f"{name} ran another's tool: {ran}"
        kinds = [e["type"] for e in conversation.of(name) if e["type"] != CHUNK]
        assert kinds[:2] == ["agent_started", "agent_thinking"], f"{name}: {kinds}"
        assert kinds[-1] == "agent_completed", f"{name}: {kinds}"
    assert {c.get("agent") for c in conversation.chunks} == {case.route[-1]}, "chunks' agents"
    assert conversation.completed.get("agents") == list(case.route), conversation.completed
    answer = conversation.answer
    missing = [fact for fact in case.says if fact not in answer]
    assert not missing, f"answer lacks {missing}: {answer!r}"
    wrong = [fact for fact in case.never_says if fact in answer]
    assert not wrong, f"answer says {wrong}: {answer!r}"
