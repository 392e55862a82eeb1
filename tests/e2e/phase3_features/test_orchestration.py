"""Phase 3: multi-agent orchestration. The supervisor routes a request to the sub-agents it
needs and they run one after the other, each with its own tools, each building on the
findings before it; every event says which agent sent it."""

from __future__ import annotations

import pytest

from tests.e2e.client import CHUNK, SUPERVISOR, Conversation, Platform, Session
from tests.e2e.domains import SERVICES, TOOLSETS, data_facts, optimization_facts

pytestmark = [
    pytest.mark.phase(3),
    pytest.mark.priority("P2"),
    pytest.mark.area("agent", "orchestration"),
]

THREE = "Analyse the checkout cost trend and write a report"
THREE_ROUTE = ["data", "optimization", "reporting"]
THREE_AREAS = ("agent.data", "agent.optimization", "agent.reporting")


def _ask(platform: Platform, session: Session, content: str) -> Conversation:
    return platform.converse(platform.connect(session), content)


def _sub_agent_events(conversation: Conversation) -> list[dict[str, object]]:
    return [e for e in conversation.events if e.get("agent") != SUPERVISOR and e["type"] != CHUNK]


@pytest.mark.area(*THREE_AREAS)
def test_the_supervisor_routes_before_any_sub_agent_starts(
    platform: Platform, user: Session
) -> None:
    """The supervisor starts, thinks and announces the route (with the words that chose each
    sub-agent) before the first sub-agent starts."""
    conversation = _ask(platform, user, THREE)
    head = [(e["type"], e.get("agent")) for e in conversation.events[:4]]
    assert head == [
        ("agent_started", SUPERVISOR),
        ("agent_thinking", SUPERVISOR),
        ("agent_routed", SUPERVISOR),
        ("agent_started", "data"),
    ], f"run began with {head}"
    routed = conversation.events[2]
    assert routed["agents"] == THREE_ROUTE, routed
    assert routed["matched"] == {
        "data": ["trend"],
        "optimization": ["cost"],
        "reporting": ["report"],
    }, routed
    assert routed["service"] == "checkout", routed


@pytest.mark.area(*THREE_AREAS)
def test_sub_agents_run_one_after_the_other_in_route_order(
    platform: Platform, user: Session
) -> None:
    """Each sub-agent completes before the next starts, numbered 1 to 3 of 3, and only the
    last one's completion is final."""
    conversation = _ask(platform, user, THREE)
    lifecycle = [
        (e["type"], e["agent"], e.get("step"), e.get("final"))
        for e in _sub_agent_events(conversation)
        if e["type"] in ("agent_started", "agent_completed")
    ]
    assert lifecycle == [
        ("agent_started", "data", 1, None),
        ("agent_completed", "data", None, False),
        ("agent_started", "optimization", 2, None),
        ("agent_completed", "optimization", None, False),
        ("agent_started", "reporting", 3, None),
        ("agent_completed", "reporting", None, True),
    ], f"lifecycle {lifecycle}"
    assert {e.get("of") for e in conversation.events if e["type"] == "agent_started"} == {
        None,
        3,
    }


@pytest.mark.area(*THREE_AREAS)
def test_the_wording_does_not_change_the_pipeline_order(platform: Platform, user: Session) -> None:
    """Asking for the report first still runs data, then optimization, then reporting: a
    report needs the findings before it."""
    conversation = _ask(platform, user, "Write a report on the checkout cost trend")
    assert conversation.route == THREE_ROUTE, f"route {conversation.route}"
    started = [e["agent"] for e in _sub_agent_events(conversation) if e["type"] == "agent_started"]
    assert started == THREE_ROUTE, f"started {started}"


@pytest.mark.area(*THREE_AREAS)
def test_every_event_names_its_agent_within_one_run(platform: Platform, user: Session) -> None:
    """Every event, chunks included, names the supervisor or a routed sub-agent, and all carry
    the same run and thread."""
    conversation = _ask(platform, user, THREE)
    agents = {e.get("agent") for e in conversation.events}
    assert agents == {SUPERVISOR, *THREE_ROUTE}, f"agents {agents}"
    runs = {e.get("run_id") for e in conversation.events}
    threads = {e.get("thread_id") for e in conversation.events}
    assert len(runs) == 1, f"run ids {runs}"
    assert None not in runs, "an event without run_id"
    assert len(threads) == 1, f"thread ids {threads}"
    assert None not in threads, "an event without thread_id"


@pytest.mark.area(*THREE_AREAS)
def test_each_sub_agent_runs_its_own_tools_in_order(platform: Platform, user: Session) -> None:
    """data queries then computes the trend, optimization breaks the cost down then
    recommends, reporting builds then summarises: no sub-agent runs another's tool."""
    conversation = _ask(platform, user, THREE)
    ran = {name: conversation.tools(name) for name in THREE_ROUTE}
    assert ran == {
        "data": ["query_metrics", "compute_trend"],
        "optimization": ["cost_breakdown", "recommend_savings"],
        "reporting": ["build_report", "summarise"],
    }, f"tools {ran}"
    for name, tools in ran.items():
        assert set(tools) <= set(TOOLSETS[name]), f"{name} ran {tools}"


@pytest.mark.area(*THREE_AREAS)
def test_only_the_last_sub_agent_streams_and_its_chunks_are_the_answer(
    platform: Platform, user: Session
) -> None:
    """The chunks all come from reporting, after its last tool and before its completion,
    and join to the run's answer; the earlier sub-agents hand over without streaming."""
    conversation = _ask(platform, user, THREE)
    chunks = conversation.chunks
    assert {c["agent"] for c in chunks} == {"reporting"}, f"chunks' agents in {chunks}"
    assert "".join(c["content"] for c in chunks) == conversation.answer
    kinds = [(e["type"], e.get("agent")) for e in conversation.events]
    first_chunk = kinds.index((CHUNK, "reporting"))
    assert kinds[first_chunk - 1] == ("tool_completed", "reporting"), kinds
    assert kinds[-1] == ("agent_completed", "reporting"), kinds


@pytest.mark.area(*THREE_AREAS)
def test_the_report_builds_on_the_findings_before_it(platform: Platform, user: Session) -> None:
    """reporting's report has a section per earlier sub-agent, each quoting that sub-agent's
    own finding, and the figures are the checkout service's."""
    conversation = _ask(platform, user, THREE)
    findings = {
        e["agent"]: e["content"]
        for e in conversation.events
        if e["type"] == "agent_completed" and not e["final"]
    }
    build = next(e for e in conversation.of("reporting") if e["type"] == "tool_executing")
    assert build["input"] == "data, optimization", f"build_report input {build['input']!r}"
    answer = conversation.answer
    assert f"Data: {findings['data']}" in answer, answer
    assert f"Optimization: {findings['optimization']}" in answer, answer
    checkout = SERVICES["checkout"]
    for fact in (*data_facts(checkout, "cost"), *optimization_facts(checkout)):
        assert fact in answer, f"{fact!r} not in {answer!r}"


@pytest.mark.area("agent.triage", "agent.reporting")
def test_an_outage_postmortem_pages_first_and_reports_the_page(
    platform: Platform, user: Session
) -> None:
    """An outage goes to triage, which pages the on-call engineer, then to reporting, whose
    report carries triage's finding."""
    conversation = _ask(platform, user, "Write a postmortem for the search outage")
    assert conversation.route == ["triage", "reporting"], f"route {conversation.route}"
    assert conversation.tools("triage")[-1] == "page_oncall", conversation.tools("triage")
    assert "Triage: SEV1 incident on search" in conversation.answer, conversation.answer
    assert "priya.nair has been paged" in conversation.answer, conversation.answer


@pytest.mark.area("agent.general")
def test_a_request_no_domain_claims_goes_to_the_general_sub_agent_alone(
    platform: Platform, user: Session
) -> None:
    """No domain keyword: the supervisor routes to general only, which runs one tool."""
    conversation = _ask(platform, user, "Where can I find the holiday calendar?")
    assert conversation.route == ["general"], f"route {conversation.route}"
    assert {e.get("agent") for e in conversation.events} == {SUPERVISOR, "general"}
    assert conversation.tools("general") == ["knowledge_search"]
