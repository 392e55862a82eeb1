"""The reference dataset the sub-agents' tools read, and what flows between them.

Services with their weekly metrics (p95 latency, traffic, CPU, spend), monthly costs by
component, runbooks, owning teams and on-call engineers; "platform" stands for the whole
platform when a message names no service. A :class:`Request` is what the supervisor
understood of a message, a :class:`Call` one tool run, a :class:`Finding` what a sub-agent
concluded.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

WEEKS = 4  # every series is the last four weeks, oldest first


@dataclasses.dataclass(frozen=True)
class Service:
    """One service of the reference dataset."""

    name: str
    team: str
    oncall: str
    runbook: str
    latency_ms: tuple[int, ...]  # p95 by week
    traffic_k: tuple[int, ...]  # thousand requests a day, by week
    cpu_pct: tuple[int, ...]  # CPU utilisation by week
    spend_usd: tuple[int, ...]  # spend by week
    cost_usd: Mapping[str, int]  # monthly cost by component: compute, storage, network

    def series(self, metric: str) -> tuple[int, ...]:
        """The weekly values of one metric."""
        return {
            "latency": self.latency_ms,
            "traffic": self.traffic_k,
            "cpu": self.cpu_pct,
            "cost": self.spend_usd,
        }[metric]


def _service(  # noqa: PLR0917 - one row of the table, read left to right
    name: str,
    team: str,
    oncall: str,
    runbook: str,
    latency: tuple[int, ...],
    traffic: tuple[int, ...],
    cpu: tuple[int, ...],
    spend: tuple[int, ...],
    compute: int,
    storage: int,
    network: int,
) -> Service:
    costs = {"compute": compute, "storage": storage, "network": network}
    return Service(name, team, oncall, runbook, latency, traffic, cpu, spend, costs)


# The reference dataset; "platform" stands for the whole platform when no service is named.
SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        _service(
            "checkout", "payments-team", "maria.lopez", "RB-101",
            (212, 224, 231, 248), (410, 428, 455, 472), (58, 61, 66, 71),
            (3400, 3450, 3520, 3610), 9200, 3100, 2400,
        ),
        _service(
            "payments", "payments-team", "james.chen", "RB-102",
            (180, 176, 171, 169), (220, 226, 231, 240), (44, 45, 47, 46),
            (2800, 2790, 2810, 2850), 4100, 6800, 1500,
        ),
        _service(
            "search", "discovery-team", "priya.nair", "RB-103",
            (95, 102, 99, 141), (1250, 1310, 1290, 1420), (63, 67, 65, 78),
            (5100, 5200, 5150, 5600), 14800, 5200, 3900,
        ),
        _service(
            "gateway", "edge-team", "tom.becker", "RB-104",
            (38, 37, 39, 40), (2900, 3010, 3120, 3300), (35, 36, 38, 40),
            (2100, 2150, 2180, 2240), 3200, 600, 7400,
        ),
        _service(
            "inventory", "supply-team", "ana.silva", "RB-105",
            (150, 148, 152, 149), (330, 320, 318, 305), (41, 40, 40, 39),
            (1600, 1580, 1570, 1550), 2900, 4300, 800,
        ),
        _service(
            "notifications", "messaging-team", "li.wei", "RB-106",
            (310, 295, 288, 260), (780, 805, 850, 910), (52, 55, 57, 60),
            (1200, 1260, 1310, 1390), 1800, 700, 2600,
        ),
        _service(
            "recommendations", "ml-team", "sara.kim", "RB-107",
            (420, 415, 470, 455), (520, 540, 560, 610), (72, 75, 83, 80),
            (4800, 4900, 5300, 5250), 16400, 3800, 1200,
        ),
        _service(
            "ledger", "finance-team", "omar.haddad", "RB-108",
            (120, 122, 121, 123), (150, 152, 151, 153), (30, 30, 31, 31),
            (900, 905, 910, 915), 1500, 2700, 300,
        ),
        _service(
            "platform", "platform-team", "jo.martin", "RB-100",
            (190, 193, 196, 204), (6560, 6791, 6975, 7410), (49, 51, 53, 55),
            (21900, 22185, 22750, 23410), 59000, 29100, 24400,
        ),
    )
}  # fmt: skip
DEFAULT_SERVICE = "platform"


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric the data sub-agent reads: how it is named and how its values read."""

    name: str
    label: str
    words: frozenset[str]
    format: Callable[[int], str]


def dollars(value: int) -> str:
    """A whole amount of US dollars as the answers write it: $14,700."""
    return f"${value:,}"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "latency",
            "p95 latency",
            frozenset({"latency", "slow", "slowness", "performance", "p95"}),
            lambda v: f"{v} ms",
        ),
        Metric(
            "traffic",
            "traffic",
            frozenset({"traffic", "requests", "throughput"}),
            lambda v: f"{v:,}k requests a day",
        ),
        Metric(
            "cpu",
            "CPU utilisation",
            frozenset({"cpu", "utilisation", "utilization", "saturation"}),
            lambda v: f"{v}%",
        ),
        Metric("cost", "weekly spend", frozenset({"cost", "costs", "spend", "spending"}), dollars),
    )
}
DEFAULT_METRIC = "latency"


def words(text: str) -> frozenset[str]:
    """A set of keywords written as one string."""
    return frozenset(text.split())


def words_of(content: str) -> tuple[str, ...]:
    """The message's words, lower-cased, in order (keywords match whole words only)."""
    return tuple(re.findall(r"[a-z0-9]+", content.lower()))


@dataclasses.dataclass(frozen=True)
class Request:
    """What the supervisor understood of one message: its words, the service and the metric
    it is about (the first named in the message; the whole platform and latency otherwise)."""

    content: str
    words: tuple[str, ...]
    service: Service
    metric: Metric

    @classmethod
    def parse(cls, content: str) -> Request:
        """The request a message makes."""
        words = words_of(content)
        service = next((SERVICES[w] for w in words if w in SERVICES), SERVICES[DEFAULT_SERVICE])
        metric = next(
            (m for w in words for m in METRICS.values() if w in m.words), METRICS[DEFAULT_METRIC]
        )
        return cls(content, words, service, metric)

    def mentions(self, words: frozenset[str]) -> bool:
        """Whether any of these words is in the message."""
        return not words.isdisjoint(self.words)


@dataclasses.dataclass(frozen=True)
class Call:
    """One tool run: what went in, the line a person reads, and the figures behind it."""

    tool: str
    input: str
    result: str
    output: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Finding:
    """What a sub-agent concluded: a sentence or two, and a few words for a summary."""

    agent: str
    text: str
    headline: str


class ToolError(Exception):
    """A tool could not do its work (its source is down); the sub-agent fails with it."""


@dataclasses.dataclass(frozen=True)
class Work:
    """What a tool sees: the request, the calls of its sub-agent so far, and the findings of
    the sub-agents before it."""

    request: Request
    calls: tuple[Call, ...] = ()
    findings: tuple[Finding, ...] = ()

    def output(self, tool: str) -> Mapping[str, Any]:
        """The output of an earlier call of this sub-agent."""
        return next(c.output for c in self.calls if c.tool == tool)


def signed(first: int, last: int) -> str:
    """The change from first to last in percent, signed: +17.0%."""
    return f"{(last - first) / first * 100:+.1f}%"
