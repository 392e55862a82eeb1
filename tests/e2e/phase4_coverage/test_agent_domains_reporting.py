"""Phase 4: the reporting sub-agent alone writes a status report of the service: its latest
latency, its monthly cost and its owner."""

from __future__ import annotations

import pytest

from tests.e2e.client import Platform, Session
from tests.e2e.domains import SERVICES, Case, check, named, status_facts

pytestmark = [pytest.mark.phase(4)]

PHRASES = ("Write a status report on {s}", "Give me a summary of {s}")
CASES = [
    Case(
        id=f"{service.name}-{number}",
        message=phrase.format(s=named(service)),
        route=("reporting",),
        tools=(("build_report", "summarise"),),
        says=status_facts(service),
    )
    for service in SERVICES.values()
    for number, phrase in enumerate(PHRASES)
]


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_reporting_sub_agent_writes_a_status_report(
    platform: Platform, user: Session, case: Case
) -> None:
    """Routed to reporting alone, it runs build_report then summarise and reports the
    service's status in one section."""
    check(platform.converse(platform.connect(user), case.message), case)
