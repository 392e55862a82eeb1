"""The agent pipeline: the supervisor routes deterministically to its sub-agents, each runs
its own tools in order, every event names its agent, and faults hit only their sub-agent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reference_platform import agent
from reference_platform.domain import SERVICES, Request, ToolError, Work
from reference_platform.subagents import BY_NAME, DOMAIN

Event = dict[str, Any]


async def _events(content: str, faults: agent.Faults | None = None) -> list[Event]:
    return [event async for event in agent.run(content, step_s=0.0, faults=faults)]


def _run(content: str, faults: agent.Faults | None = None) -> list[Event]:
    return asyncio.run(_events(content, faults))


def _kinds(events: list[Event], who: str) -> list[str]:
    return [e["type"] for e in events if e["agent"] == who and e["type"] != agent.CHUNK_EVENT]


def test_a_one_agent_run_is_the_supervisor_then_the_five_events() -> None:
    """The supervisor starts, thinks and routes; the sub-agent then sends the five events in
    order, chunks before its agent_completed, which is final and carries the whole answer."""
    events = _run("what is our cloud spend")
    assert _kinds(events, agent.SUPERVISOR) == ["agent_started", "agent_thinking", "agent_routed"]
    assert events[2]["agents"] == ["optimization"]
    assert _kinds(events, "optimization") == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "tool_executing",
        "tool_completed",
        "agent_completed",
    ]
    chunks = [e for e in events if e["type"] == agent.CHUNK_EVENT]
    assert {c["agent"] for c in chunks} == {"optimization"}
    assert events[-1]["type"] == "agent_completed"
    assert events[-1]["final"] is True
    assert "".join(c["content"] for c in chunks) == events[-1]["content"]


@pytest.mark.parametrize(
    ("content", "route"),
    [
        ("reduce our cloud costs", ["optimization"]),
        ("p95 latency of search is up", ["data"]),
        ("incident in checkout", ["triage"]),
        ("write the weekly report", ["reporting"]),
        ("hello there", ["general"]),
        ("analyse the cost trend and write a report", ["data", "optimization", "reporting"]),
        ("write a report on the cost trend", ["data", "optimization", "reporting"]),
        ("outage on search: what do the metrics say?", ["triage", "data"]),
    ],
)
def test_the_supervisor_routes_by_keyword_in_pipeline_order(content: str, route: list[str]) -> None:
    """Each domain's keyword routes to its sub-agent; several go in pipeline order (triage,
    data, optimization, reporting) whatever the wording's order; none goes to general."""
    assert agent.plan(content).route == route


def test_keywords_match_whole_words_only() -> None:
    """'incidentally' or 'costume' route nowhere by a keyword inside them."""
    assert agent.plan("incidentally, the costume is datum-free").route == ["general"]


def test_a_multi_agent_run_hands_findings_on_and_ends_with_the_report() -> None:
    """Data, then optimization, then reporting: each completes before the next starts; the
    earlier ones are not final and the report quotes their findings."""
    events = _run("analyse the checkout cost trend and write a report")
    started = [e["agent"] for e in events if e["type"] == "agent_started"]
    assert started == [agent.SUPERVISOR, "data", "optimization", "reporting"]
    completed = [e for e in events if e["type"] == "agent_completed"]
    assert [(e["agent"], e["final"]) for e in completed] == [
        ("data", False),
        ("optimization", False),
        ("reporting", True),
    ]
    report = completed[-1]["content"]
    assert report.startswith("Checkout report. Summary: 2 findings on checkout:")
    assert f"Data: {completed[0]['content']}" in report
    assert f"Optimization: {completed[1]['content']}" in report
    assert completed[-1]["agents"] == ["data", "optimization", "reporting"]


def test_each_sub_agent_runs_only_its_own_tools() -> None:
    """Every tool event of a sub-agent names one of that sub-agent's tools."""
    events = _run("outage on search: page someone, then the latency spike, savings and a report")
    for event in events:
        if event["type"] in ("tool_executing", "tool_completed"):
            assert event["tool"] in BY_NAME[event["agent"]].tools(), event


def test_the_data_sub_agent_computes_the_trend_from_what_it_queried() -> None:
    """query_metrics returns the service's weeks; compute_trend's change is theirs; the
    anomaly is the largest week-over-week jump."""
    events = _run("show the search latency spike")
    outputs = {e["tool"]: e["output"] for e in events if e["type"] == "tool_completed"}
    weeks = list(SERVICES["search"].latency_ms)
    assert outputs["query_metrics"]["weeks"] == weeks == [95, 102, 99, 141]
    assert outputs["compute_trend"]["change_pct"] == round((141 - 95) / 95 * 100, 1)
    assert outputs["detect_anomaly"] == {"week": 4, "change_pct": round((141 - 99) / 99 * 100, 1)}
    assert events[-1]["content"] == (
        "For search, p95 latency went from 95 ms to 141 ms over 4 weeks (+48.4%). "
        "The largest weekly jump was in week 4 (+42.4%)."
    )


def test_optimization_saves_on_the_largest_component_and_forecasts_on_request() -> None:
    """The saving is the share of the largest component; a budget request adds the quarter."""
    events = _run("forecast the gateway budget and savings")
    outputs = {e["tool"]: e["output"] for e in events if e["type"] == "tool_completed"}
    assert outputs["cost_breakdown"]["total"] == 3200 + 600 + 7400
    assert outputs["recommend_savings"]["component"] == "network"
    assert outputs["recommend_savings"]["saving"] == 7400 * 25 // 100
    assert outputs["forecast_budget"]["quarter"] == 3 * (11200 - 1850)


@pytest.mark.parametrize(
    ("content", "severity", "paged"),
    [
        ("checkout is down", "SEV1", True),
        ("errors on checkout", "SEV2", False),
        ("an alert fired for checkout", "SEV3", False),
        ("an alert and an outage on checkout", "SEV1", True),
    ],
)
def test_triage_grades_the_incident_and_pages_only_for_sev1(
    content: str, severity: str, paged: bool
) -> None:
    """The worst word sets the severity; only a SEV1 runs page_oncall."""
    assert agent.plan(content).tools()["triage"] == (
        ("classify_incident", "lookup_runbook", "page_oncall")
        if paged
        else ("classify_incident", "lookup_runbook")
    )
    answer = _run(content)[-1]["content"]
    assert answer.startswith(f"{severity} incident on checkout: follow runbook RB-101")
    assert ("maria.lopez has been paged" in answer) is paged


def test_the_calculator_evaluates_with_precedence_and_refuses_code() -> None:
    """Arithmetic is computed, not guessed; anything else (a power) is refused, never run."""
    assert _run("calculate 2+3*4")[-1]["content"] == "The result is 2+3*4 = 14."
    assert _run("calculate 1/0")[-1]["content"] == "I could not evaluate '1/0'."
    assert _run("calculate 9 ** 9 + 1")[-1]["content"] == "I could not evaluate '9 ** 9 + 1'."


def test_the_same_message_gets_the_same_events() -> None:
    """Deterministic: one message run twice gives the same events, answer included."""
    content = "analyse the cost trend and write a report"
    assert _run(content) == _run(content)


def test_a_long_answer_streams_in_at_most_max_chunks() -> None:
    """Chunks keep their size for a short answer and grow for a long one."""
    assert agent.chunks("x" * 100) == ["x" * 24] * 4 + ["x" * 4]
    assert len(agent.chunks("x" * 1000)) == agent.MAX_CHUNKS


def test_agent_hang_holds_the_supervisor_after_its_thinking() -> None:
    """With the pipeline's hang event never set, nothing comes after the supervisor thinks."""
    assert _first_events("hi", agent.Faults(hang=asyncio.Event())) == [
        ("agent_started", agent.SUPERVISOR),
        ("agent_thinking", agent.SUPERVISOR),
    ]


def test_a_hung_sub_agent_starts_thinks_and_goes_no_further() -> None:
    """A hung optimization lets data finish, then starts, thinks and sends nothing more."""
    seen = _first_events("the cost trend", agent.Faults(hung=frozenset({"optimization"})))
    assert seen[-3:] == [
        ("agent_completed", "data"),
        ("agent_started", "optimization"),
        ("agent_thinking", "optimization"),
    ]


def test_a_hung_sub_agent_does_not_touch_requests_that_do_not_need_it() -> None:
    """Under a hung optimization a data request completes as it would without the fault."""
    faults = agent.Faults(hung=frozenset({"optimization"}))
    assert _run("checkout latency trend", faults) == _run("checkout latency trend")


def test_a_failing_sub_agent_ends_the_run_with_an_agent_error_naming_it() -> None:
    """Its first tool raises: agent_error names the sub-agent, the tool and the error, and
    nothing after it runs (no later sub-agent, no final answer)."""
    events = _run("the cost trend and a report", agent.Faults(failing=frozenset({"data"})))
    assert events[-1] == {
        "type": "agent_error",
        "agent": "data",
        "tool": "query_metrics",
        "error": "ToolError: the metrics store is unavailable",
    }
    assert events[-2] == {
        "type": "tool_executing",
        "agent": "data",
        "tool": "query_metrics",
        "input": "platform cost",
    }
    assert not any(e["type"] == "agent_completed" for e in events)
    assert {e["agent"] for e in events} == {agent.SUPERVISOR, "data"}


def test_every_sub_agent_has_two_to_four_tools_and_its_own_source() -> None:
    """The tool sets are disjoint, two to four each, and a down source names itself."""
    seen: set[str] = set()
    for sub in BY_NAME.values():
        tools = set(sub.tools())
        assert 2 <= len(tools) <= 4, sub.name
        assert not tools & seen, sub.name
        seen |= tools
        with pytest.raises(ToolError, match=f"the {sub.source} is unavailable"):
            sub.call(next(iter(tools)), Work(Request.parse("x")), source_up=False)
    assert [sub.name for sub in DOMAIN] == ["triage", "data", "optimization", "reporting"]


def _first_events(content: str, faults: agent.Faults) -> list[tuple[str, str]]:
    async def first() -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []

        async def consume() -> None:
            async for event in agent.run(content, step_s=0.0, faults=faults):
                seen.append((str(event["type"]), str(event["agent"])))

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(consume(), 0.2)
        return seen

    return asyncio.run(first())
