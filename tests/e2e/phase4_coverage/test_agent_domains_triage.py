"""Phase 4: the triage sub-agent grades an incident, names the service's runbook and owner,
and pages the on-call engineer only for a SEV1."""

from __future__ import annotations

import pytest

from tests.e2e.client import Platform, Session
from tests.e2e.domains import SERVICES, Case, check, named, triage_facts

pytestmark = [pytest.mark.phase(4)]

# (message, the severity its words give)
PHRASES = (
    ("{S} is down", "SEV1"),
    ("{S} keeps crashing after the deploy", "SEV1"),
    ("We see errors on {s}", "SEV2"),
    ("An alert fired for {s}", "SEV3"),
)
CASES = [
    Case(
        id=f"{service.name}-{severity}-{number}",
        message=phrase.format(s=named(service), S=named(service).capitalize()),
        route=("triage",),
        tools=(
            (
                "classify_incident",
                "lookup_runbook",
                *(("page_oncall",) if severity == "SEV1" else ()),
            ),
        ),
        says=triage_facts(service, severity),
        never_says=() if severity == "SEV1" else ("has been paged",),
    )
    for service in SERVICES.values()
    for number, (phrase, severity) in enumerate(PHRASES)
]


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_triage_sub_agent_grades_and_routes_the_incident(
    platform: Platform, user: Session, case: Case
) -> None:
    """Routed to triage alone, it runs classify_incident then lookup_runbook (then
    page_oncall for a SEV1) and names the severity, the runbook and the owning team."""
    check(platform.converse(platform.connect(user), case.message), case)
