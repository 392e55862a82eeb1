"""Phase 4: the data sub-agent queries a service's weekly metric, computes its trend, and
finds the week that jumped when asked, for every service and metric of the dataset."""

from __future__ import annotations

import pytest

from tests.e2e.client import Platform, Session
from tests.e2e.domains import SERVICES, Case, check, data_facts, named

pytestmark = [pytest.mark.phase(4)]

# (message, metric, whether a spike is asked for)
PHRASES = (
    ("Show the p95 latency trend for {s}", "latency", False),
    ("Why is {s} so slow lately?", "latency", False),
    ("How much traffic does {s} get?", "traffic", False),
    ("Plot the daily requests of {s}", "traffic", False),
    ("What is the cpu utilisation of {s}?", "cpu", False),
    ("Check the saturation of {s}", "cpu", False),
    ("Find the latency spike in {s}", "latency", True),
)
CASES = [
    Case(
        id=f"{service.name}-{metric}-{number}",
        message=phrase.format(s=named(service)),
        route=("data",),
        tools=(("query_metrics", "compute_trend", *(("detect_anomaly",) if spike else ())),),
        says=data_facts(service, metric, anomaly=spike),
        never_says=() if spike else ("largest weekly jump",),
    )
    for service in SERVICES.values()
    for number, (phrase, metric, spike) in enumerate(PHRASES)
]


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_data_sub_agent_answers_with_the_services_figures(
    platform: Platform, user: Session, case: Case
) -> None:
    """Routed to data alone, it runs query_metrics then compute_trend (then detect_anomaly
    for a spike) and quotes the first and last week and the change of the asked metric."""
    check(platform.converse(platform.connect(user), case.message), case)
