"""Phase 4: the optimization sub-agent breaks a service's cost down, recommends the saving
on its largest component, and forecasts next quarter's budget when asked."""

from __future__ import annotations

import pytest

from tests.e2e.client import Platform, Session
from tests.e2e.domains import SERVICES, Case, check, named, optimization_facts

pytestmark = [pytest.mark.phase(4)]

# (message, whether a budget forecast is asked for)
PHRASES = (
    ("How can we cut the cost of {s}?", False),
    ("Where can {s} save money?", False),
    ("Is {s} too expensive?", False),
    ("Forecast next quarter's budget for {s}", True),
)
CASES = [
    Case(
        id=f"{service.name}-{number}",
        message=phrase.format(s=named(service)),
        route=("optimization",),
        tools=(("cost_breakdown", "recommend_savings", *(("forecast_budget",) if budget else ())),),
        says=optimization_facts(service, forecast=budget),
        never_says=() if budget else ("Next quarter's budget",),
    )
    for service in SERVICES.values()
    for number, (phrase, budget) in enumerate(PHRASES)
]


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_optimization_sub_agent_recommends_the_largest_saving(
    platform: Platform, user: Session, case: Case
) -> None:
    """Routed to optimization alone, it runs cost_breakdown then recommend_savings (then
    forecast_budget for a budget) and quotes the monthly total, its largest part and the
    saving on it."""
    check(platform.converse(platform.connect(user), case.message), case)
