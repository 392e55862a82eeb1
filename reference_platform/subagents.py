"""The supervisor's domain sub-agents and their tools: deterministic, no model, no network.

Each sub-agent owns two to four tools over the reference dataset (:mod:`.domain`). From one
request it decides which of its tools to run, in order; each tool returns a line a person
reads and the figures behind it, and the sub-agent ends with a finding the next sub-agent
builds on.

A sub-agent's tools read one source (the metrics store, the billing export, ...). When that
source is down (the ``subagent_error`` fault) its tool raises :class:`ToolError`, which the
supervisor reports as the sub-agent's ``agent_error``.
"""

from __future__ import annotations

import abc
import ast
import itertools
import operator
import re
from collections.abc import Callable
from typing import Any, ClassVar

from reference_platform.domain import (
    WEEKS,
    Call,
    Finding,
    Request,
    ToolError,
    Work,
    dollars,
    signed,
    words,
)

Tool = Callable[[Work], Call]


class SubAgent(abc.ABC):
    """A domain expert: its routing keywords, its tools, and the source they read."""

    name: ClassVar[str]
    keywords: ClassVar[frozenset[str]]  # a message with one of them is routed here
    source: ClassVar[str]  # what its tools read, named when it is down

    @abc.abstractmethod
    def tools(self) -> dict[str, Tool]:
        """Every tool it owns, by name, in the order it would run them."""

    @abc.abstractmethod
    def plan(self, request: Request) -> tuple[str, ...]:
        """The tools this request needs, in order."""

    @abc.abstractmethod
    def conclude(self, work: Work) -> Finding:
        """Its finding once its tools ran."""

    def call(self, tool: str, work: Work, *, source_up: bool = True) -> Call:
        """Runs one of its tools; raises ToolError when its source is down."""
        if not source_up:
            raise ToolError(f"the {self.source} is unavailable")
        return self.tools()[tool](work)


class Triage(SubAgent):
    """Incidents: how severe, which runbook, and who is paged."""

    name = "triage"
    keywords = words(
        "incident incidents outage outages alert alerts error errors down failing broken crash "
        "crashing sev1 sev2 sev3 paged"
    )
    source = "runbook index"
    SEVERITY: ClassVar[tuple[tuple[str, frozenset[str]], ...]] = (
        ("SEV1", words("outage outages down crash crashing sev1")),
        ("SEV2", words("error errors failing broken incident incidents sev2")),
    )

    def tools(self) -> dict[str, Tool]:
        """classify_incident, lookup_runbook, and page_oncall for a SEV1."""
        return {
            "classify_incident": self.classify_incident,
            "lookup_runbook": self.lookup_runbook,
            "page_oncall": self.page_oncall,
        }

    def severity(self, request: Request) -> str:
        """SEV1 for an outage, SEV2 for errors, SEV3 for an alert: the worst word wins."""
        return next((sev for sev, words in self.SEVERITY if request.mentions(words)), "SEV3")

    def plan(self, request: Request) -> tuple[str, ...]:
        """Classify and look up the runbook; page the on-call engineer for a SEV1."""
        paged = ("page_oncall",) if self.severity(request) == "SEV1" else ()
        return ("classify_incident", "lookup_runbook", *paged)

    def classify_incident(self, work: Work) -> Call:
        """The incident's severity and service."""
        service, severity = work.request.service.name, self.severity(work.request)
        return Call(
            "classify_incident",
            service,
            f"{severity} incident on {service}",
            {"severity": severity, "service": service},
        )

    def lookup_runbook(self, work: Work) -> Call:
        """The service's runbook and its owner."""
        service = work.request.service
        severity = work.output("classify_incident")["severity"]
        return Call(
            "lookup_runbook",
            f"{service.name} {severity}",
            f"runbook {service.runbook} for {service.name}, owned by {service.team}",
            {"runbook": service.runbook, "team": service.team},
        )

    def page_oncall(self, work: Work) -> Call:
        """Pages the service's on-call engineer."""
        service = work.request.service
        return Call(
            "page_oncall",
            service.name,
            f"paged {service.oncall}, on call for {service.name}",
            {"oncall": service.oncall},
        )

    def conclude(self, work: Work) -> Finding:
        """Severity, runbook, owner, and who was paged."""
        incident, runbook = work.output("classify_incident"), work.output("lookup_runbook")
        paged = [c.output["oncall"] for c in work.calls if c.tool == "page_oncall"]
        text = (
            f"{incident['severity']} incident on {incident['service']}: follow runbook "
            f"{runbook['runbook']} (owner {runbook['team']})"
            + (f"; {paged[0]} has been paged" if paged else "")
            + "."
        )
        return Finding(self.name, text, f"{incident['severity']}, runbook {runbook['runbook']}")


class Data(SubAgent):
    """Metrics: a service's weekly figures, their trend, and the week that jumped."""

    name = "data"
    keywords = words(
        "data metrics metric trend trends latency slow slowness performance p95 traffic requests "
        "throughput cpu utilisation utilization saturation anomaly anomalies spike spikes "
        "dashboard"
    )
    source = "metrics store"
    ANOMALY = words("anomaly anomalies spike spikes unusual")

    def tools(self) -> dict[str, Tool]:
        """query_metrics, compute_trend, and detect_anomaly when asked for one."""
        return {
            "query_metrics": self.query_metrics,
            "compute_trend": self.compute_trend,
            "detect_anomaly": self.detect_anomaly,
        }

    def plan(self, request: Request) -> tuple[str, ...]:
        """Query and compute the trend; look for the jump when a spike or anomaly is asked."""
        anomaly = ("detect_anomaly",) if request.mentions(self.ANOMALY) else ()
        return ("query_metrics", "compute_trend", *anomaly)

    def query_metrics(self, work: Work) -> Call:
        """The metric's weekly values for the service."""
        service, metric = work.request.service, work.request.metric
        weeks = service.series(metric.name)
        return Call(
            "query_metrics",
            f"{service.name} {metric.name}",
            f"{service.name} {metric.label} by week: " + ", ".join(metric.format(v) for v in weeks),
            {"service": service.name, "metric": metric.name, "weeks": list(weeks)},
        )

    def compute_trend(self, work: Work) -> Call:
        """The change from the first week to the last, in percent."""
        metric = work.request.metric
        weeks = work.output("query_metrics")["weeks"]
        first, last = weeks[0], weeks[-1]
        change = (last - first) / first * 100
        direction = "up" if last > first else "down" if last < first else "flat"
        return Call(
            "compute_trend",
            f"{work.request.service.name} {metric.name} over {WEEKS} weeks",
            f"{metric.label} {change:+.1f}% over {WEEKS} weeks "
            f"({metric.format(first)} to {metric.format(last)})",
            {"first": first, "last": last, "change_pct": round(change, 1), "direction": direction},
        )

    def detect_anomaly(self, work: Work) -> Call:
        """The week whose change from the week before is the largest (the earliest on a tie)."""
        metric = work.request.metric
        weeks = work.output("query_metrics")["weeks"]
        changes = [(b - a) / a * 100 for a, b in itertools.pairwise(weeks)]
        index = max(range(len(changes)), key=lambda i: (abs(changes[i]), -i))
        week = index + 2  # weeks count from 1, and the first change is week 2's
        return Call(
            "detect_anomaly",
            f"{work.request.service.name} {metric.name} week over week",
            f"largest weekly jump: week {week}, {changes[index]:+.1f}% "
            f"({metric.format(weeks[index])} to {metric.format(weeks[index + 1])})",
            {"week": week, "change_pct": round(changes[index], 1)},
        )

    def conclude(self, work: Work) -> Finding:
        """The metric's first and last week, the change, and the jump if one was looked for."""
        metric, service = work.request.metric, work.request.service.name
        trend = work.output("compute_trend")
        text = (
            f"For {service}, {metric.label} went from {metric.format(trend['first'])} to "
            f"{metric.format(trend['last'])} over {WEEKS} weeks "
            f"({signed(trend['first'], trend['last'])})."
        )
        jumps = [c for c in work.calls if c.tool == "detect_anomaly"]
        if jumps:
            jump = jumps[0].output
            text += (
                f" The largest weekly jump was in week {jump['week']} ({jump['change_pct']:+.1f}%)."
            )
        return Finding(self.name, text, f"{metric.label} {signed(trend['first'], trend['last'])}")


class Optimization(SubAgent):
    """Cost: where the money goes, what to save, and next quarter's budget."""

    name = "optimization"
    keywords = words(
        "cost costs spend spending savings save cheaper expensive optimise optimize "
        "optimisation optimization forecast"
    )
    source = "billing export"
    FORECAST = words("forecast budget budgets quarter")
    # What to do about the largest component of the cost, and the share it saves.
    ACTIONS: ClassVar[dict[str, tuple[str, int]]] = {
        "compute": ("rightsize the compute instances", 20),
        "storage": ("move cold data to the archive tier", 35),
        "network": ("cache responses at the edge", 25),
    }

    def tools(self) -> dict[str, Tool]:
        """cost_breakdown, recommend_savings, and forecast_budget when a forecast is asked."""
        return {
            "cost_breakdown": self.cost_breakdown,
            "recommend_savings": self.recommend_savings,
            "forecast_budget": self.forecast_budget,
        }

    def plan(self, request: Request) -> tuple[str, ...]:
        """Break the cost down and recommend; forecast the quarter when a budget is asked."""
        forecast = ("forecast_budget",) if request.mentions(self.FORECAST) else ()
        return ("cost_breakdown", "recommend_savings", *forecast)

    def cost_breakdown(self, work: Work) -> Call:
        """The service's monthly cost by component."""
        service = work.request.service
        costs = dict(service.cost_usd)
        total = sum(costs.values())
        parts = ", ".join(f"{part} {dollars(value)}" for part, value in costs.items())
        return Call(
            "cost_breakdown",
            service.name,
            f"{service.name} monthly cost {dollars(total)}: {parts}",
            {**costs, "total": total},
        )

    def recommend_savings(self, work: Work) -> Call:
        """The saving on the largest component (compute, storage, network on a tie)."""
        costs = work.output("cost_breakdown")
        largest = max(self.ACTIONS, key=lambda part: costs[part])
        action, percent = self.ACTIONS[largest]
        saving = costs[largest] * percent // 100
        return Call(
            "recommend_savings",
            f"{work.request.service.name} {largest}",
            f"{action}: save {dollars(saving)} a month ({percent}% of {largest})",
            {"component": largest, "action": action, "saving": saving, "percent": percent},
        )

    def forecast_budget(self, work: Work) -> Call:
        """Next quarter's cost once the saving is made."""
        total = work.output("cost_breakdown")["total"]
        quarter = 3 * (total - work.output("recommend_savings")["saving"])
        return Call(
            "forecast_budget",
            work.request.service.name,
            f"next quarter's budget: {dollars(quarter)} after savings",
            {"quarter": quarter},
        )

    def conclude(self, work: Work) -> Finding:
        """The monthly cost, its largest part, the saving, and the budget if forecast."""
        costs, saving = work.output("cost_breakdown"), work.output("recommend_savings")
        part = saving["component"]
        text = (
            f"For {work.request.service.name}, the monthly cost is {dollars(costs['total'])}, "
            f"most of it {part} ({dollars(costs[part])}); {saving['action']} to save "
            f"{dollars(saving['saving'])} a month."
        )
        forecasts = [c for c in work.calls if c.tool == "forecast_budget"]
        if forecasts:
            quarter = dollars(forecasts[0].output["quarter"])
            text += f" Next quarter's budget is {quarter} after savings."
        return Finding(self.name, text, f"save {dollars(saving['saving'])} a month")


class Reporting(SubAgent):
    """Reports: the findings before it in sections, with a summary; alone, a status report."""

    name = "reporting"
    keywords = words("report reports summary summarise summarize digest recap postmortem")
    source = "report renderer"

    def tools(self) -> dict[str, Tool]:
        """build_report and summarise."""
        return {"build_report": self.build_report, "summarise": self.summarise}

    def plan(self, request: Request) -> tuple[str, ...]:
        """Always both."""
        return ("build_report", "summarise")

    def _sections(self, work: Work) -> list[Finding]:
        if work.findings:
            return list(work.findings)
        service = work.request.service
        status = (
            f"{service.name} runs at a p95 latency of {service.latency_ms[-1]} ms and costs "
            f"{dollars(sum(service.cost_usd.values()))} a month; it is owned by {service.team}."
        )
        return [Finding("status", status, f"p95 latency {service.latency_ms[-1]} ms")]

    def build_report(self, work: Work) -> Call:
        """A report with one section per finding (a status section when there is none)."""
        title = f"{work.request.service.name.capitalize()} report"
        names = [f.agent for f in self._sections(work)]
        return Call(
            "build_report",
            ", ".join(names),
            f"'{title}' with {len(names)} section(s): {', '.join(names)}",
            {"title": title, "sections": names},
        )

    def summarise(self, work: Work) -> Call:
        """One line over the sections' headlines."""
        sections = self._sections(work)
        count = f"{len(sections)} finding{'s' if len(sections) != 1 else ''}"
        headlines = "; ".join(f.headline for f in sections)
        summary = f"{count} on {work.request.service.name}: {headlines}"
        return Call(
            "summarise", work.output("build_report")["title"], summary, {"summary": summary}
        )

    def conclude(self, work: Work) -> Finding:
        """The report: title, summary, then each section."""
        title = work.output("build_report")["title"]
        summary = work.output("summarise")["summary"]
        body = " ".join(f"{f.agent.capitalize()}: {f.text}" for f in self._sections(work))
        return Finding(self.name, f"{title}. Summary: {summary}. {body}", summary)


class General(SubAgent):
    """The fallback for a request no domain claims: arithmetic, or the knowledge base."""

    name = "general"
    keywords = frozenset()
    source = "knowledge index"

    def tools(self) -> dict[str, Tool]:
        """calculator and knowledge_search."""
        return {"calculator": self.calculator, "knowledge_search": self.knowledge_search}

    def plan(self, request: Request) -> tuple[str, ...]:
        """The calculator for a message with arithmetic in it, the knowledge base otherwise."""
        return ("calculator",) if _OPERATION.search(request.content) else ("knowledge_search",)

    def calculator(self, work: Work) -> Call:
        """Evaluates the arithmetic of the message; anything else is refused, never run."""
        match = _ARITHMETIC.search(work.request.content)
        expression = match.group(0).strip() if match else ""
        try:
            value = _evaluate(ast.parse(expression, mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError):
            text = f"I could not evaluate {expression!r}."
            return Call("calculator", expression, text, {"value": None})
        return Call(
            "calculator", expression, f"The result is {expression} = {value:g}.", {"value": value}
        )

    def knowledge_search(self, work: Work) -> Call:
        """What the knowledge base says about the message's first words."""
        content = work.request.content
        topic = " ".join(content.split()[:8])
        text = (
            f'Using knowledge search, here is what I found about "{topic}": the analysis is '
            f"complete and the findings are summarised in {len(content)} characters of input."
        )
        return Call("knowledge_search", topic, text, {"topic": topic})

    def conclude(self, work: Work) -> Finding:
        """Its one tool's answer."""
        return Finding(self.name, work.calls[-1].result, work.calls[-1].result)


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_OPERATION = re.compile(r"\d\s*[-+*/]\s*\d")  # a message with arithmetic in it
_ARITHMETIC = re.compile(r"[-+*/().\d\s]{3,}")


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


# In the order a request that needs several goes through them: triage first (what is on
# fire), then the figures, then what to do about the cost, and the report last.
DOMAIN: tuple[SubAgent, ...] = (Triage(), Data(), Optimization(), Reporting())
FALLBACK: SubAgent = General()
BY_NAME: dict[str, SubAgent] = {agent.name: agent for agent in (*DOMAIN, FALLBACK)}
NAMES: tuple[str, ...] = tuple(BY_NAME)
