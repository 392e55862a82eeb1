"""Phase 4: requests that need several sub-agents go through them in pipeline order (triage,
data, optimization, reporting), each building on the findings before it."""

from __future__ import annotations

import dataclasses

import pytest

from tests.e2e.client import Platform, Session
from tests.e2e.domains import (
    SERVICES,
    Case,
    Service,
    check,
    data_facts,
    named,
    optimization_facts,
    report_facts,
    triage_facts,
)

pytestmark = [pytest.mark.phase(4)]

DATA = ("query_metrics", "compute_trend")
COSTS = ("cost_breakdown", "recommend_savings")
REPORT = ("build_report", "summarise")
TRIAGE = ("classify_incident", "lookup_runbook")
PAGE = (*TRIAGE, "page_oncall")


def _cases(service: Service) -> list[Case]:
    s = named(service)
    latency, cost = data_facts(service, "latency"), data_facts(service, "cost")
    savings = optimization_facts(service)
    return [
        Case(
            f"{service.name}-data-reporting",
            f"Report on the {s} latency trend",
            ("data", "reporting"),
            (DATA, REPORT),
            (*report_facts(service, ("data",)), *latency),
        ),
        Case(
            f"{service.name}-optimization-reporting",
            f"Summarise the savings for {s}",
            ("optimization", "reporting"),
            (COSTS, REPORT),
            (*report_facts(service, ("optimization",)), *savings),
        ),
        Case(
            f"{service.name}-data-optimization-reporting",
            f"Analyse the {s} cost trend and write a report",
            ("data", "optimization", "reporting"),
            (DATA, COSTS, REPORT),
            (*report_facts(service, ("data", "optimization")), *cost, *savings),
        ),
        Case(
            f"{service.name}-data-optimization",
            f"What is the {s} cost trend?",
            ("data", "optimization"),
            (DATA, COSTS),
            (*cost, *savings),
            never_says=(" report.",),
        ),
        Case(
            f"{service.name}-triage-data",
            f"{s.capitalize()} is failing: show the latency metrics",
            ("triage", "data"),
            (TRIAGE, DATA),
            (*triage_facts(service, "SEV2"), *latency),
            never_says=("has been paged",),
        ),
        Case(
            f"{service.name}-triage-reporting",
            f"Write a postmortem for the {s} outage",
            ("triage", "reporting"),
            (PAGE, REPORT),
            (*report_facts(service, ("triage",)), *triage_facts(service, "SEV1")),
        ),
    ]


FOUR = tuple(
    Case(
        f"{service.name}-all-four",
        f"Incident on {named(service)}: analyse the latency trend, the cost savings and write "
        "a report",
        ("triage", "data", "optimization", "reporting"),
        (TRIAGE, DATA, COSTS, REPORT),
        (
            *report_facts(service, ("triage", "data", "optimization")),
            *triage_facts(service, "SEV2"),
            *data_facts(service, "latency"),
            *optimization_facts(service),
        ),
    )
    for service in (SERVICES["checkout"], SERVICES["search"], SERVICES["platform"])
)
# Orchestration is a key feature: these cases are P2.
CASES = [
    dataclasses.replace(case, priority="P2")
    for case in [*(case for service in SERVICES.values() for case in _cases(service)), *FOUR]
]


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_sub_agents_run_in_pipeline_order_and_build_on_each_other(
    platform: Platform, user: Session, case: Case
) -> None:
    """Each sub-agent of the route runs in turn with its own tools; the answer carries every
    one's findings (a report quoting them when reporting is last)."""
    check(platform.converse(platform.connect(user), case.message), case)
