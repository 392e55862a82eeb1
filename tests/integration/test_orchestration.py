"""Multi-agent orchestration on a real platform: the supervisor's routing, each sub-agent's
events and tools in order, and the visible effect of each per-sub-agent fault (an error
that names its sub-agent; a hang that leaves the other sub-agents answering)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from reference_platform import revisions, stack
from tests.integration.conftest import StartStack
from tests.integration.helpers import log_entries, login, wait_for

pytestmark = pytest.mark.integration

Event = dict[str, Any]
THREE = "Analyse the checkout cost trend and write a report"


async def _run(
    url: str, token: str, content: str, quiet_s: float = 5.0, thread_id: str | None = None
) -> list[Event]:
    """One user_message on a fresh session: its events until the run ends (the final
    agent_completed, or an agent_error) or nothing comes for ``quiet_s``."""
    async with websockets.connect(f"{url}?token={token}") as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        message: dict[str, Any] = {"type": "user_message", "content": content}
        if thread_id is not None:
            message["thread_id"] = thread_id
        await ws.send(json.dumps(message))
        events: list[Event] = []
        while not events or not _ends(events[-1]):
            try:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), quiet_s)))
            except TimeoutError:
                break
        return events


def _ends(event: Event) -> bool:
    return event["type"] == "agent_error" or (
        event["type"] == "agent_completed" and bool(event["final"])
    )


def _steps(events: list[Event]) -> list[tuple[str, str, str]]:
    """(agent, event type, tool) of every event but the chunks."""
    return [
        (e["agent"], e["type"], e.get("tool", ""))
        for e in events
        if e["type"] != "agent_response_chunk"
    ]


def _converse(state: stack.State, content: str, quiet_s: float = 5.0) -> list[Event]:
    return asyncio.run(_run(state.urls["websocket"], login(state.urls["auth"]), content, quiet_s))


def test_a_three_agent_request_runs_each_sub_agent_in_turn(healthy: stack.State) -> None:
    """The supervisor routes to data, optimization and reporting; each then runs its own two
    tools between its start and its completion, and only reporting streams and is final."""
    events = _converse(healthy, THREE)
    assert _steps(events) == [
        ("supervisor", "agent_started", ""),
        ("supervisor", "agent_thinking", ""),
        ("supervisor", "agent_routed", ""),
        ("data", "agent_started", ""),
        ("data", "agent_thinking", ""),
        ("data", "tool_executing", "query_metrics"),
        ("data", "tool_completed", "query_metrics"),
        ("data", "tool_executing", "compute_trend"),
        ("data", "tool_completed", "compute_trend"),
        ("data", "agent_completed", "compute_trend"),
        ("optimization", "agent_started", ""),
        ("optimization", "agent_thinking", ""),
        ("optimization", "tool_executing", "cost_breakdown"),
        ("optimization", "tool_completed", "cost_breakdown"),
        ("optimization", "tool_executing", "recommend_savings"),
        ("optimization", "tool_completed", "recommend_savings"),
        ("optimization", "agent_completed", "recommend_savings"),
        ("reporting", "agent_started", ""),
        ("reporting", "agent_thinking", ""),
        ("reporting", "tool_executing", "build_report"),
        ("reporting", "tool_completed", "build_report"),
        ("reporting", "tool_executing", "summarise"),
        ("reporting", "tool_completed", "summarise"),
        ("reporting", "agent_completed", "summarise"),
    ]
    assert events[2]["agents"] == ["data", "optimization", "reporting"]
    chunks = [e for e in events if e["type"] == "agent_response_chunk"]
    assert {c["agent"] for c in chunks} == {"reporting"}
    assert "".join(c["content"] for c in chunks) == events[-1]["content"]
    assert [e["final"] for e in events if e["type"] == "agent_completed"] == [False, False, True]
    assert events[-1]["content"].startswith("Checkout report. Summary: 2 findings on checkout:")
    assert "save $1,840 a month" in events[-1]["content"]


@pytest.mark.parametrize(
    ("content", "agent", "tools"),
    [
        ("checkout is down", "triage", ["classify_incident", "lookup_runbook", "page_oncall"]),
        ("the search latency spike", "data", ["query_metrics", "compute_trend", "detect_anomaly"]),
        ("cut the gateway cost", "optimization", ["cost_breakdown", "recommend_savings"]),
        ("a summary of ledger", "reporting", ["build_report", "summarise"]),
        ("what is 6 * 7", "general", ["calculator"]),
    ],
)
def test_each_domain_is_routed_to_its_sub_agent_and_tools(
    healthy: stack.State, content: str, agent: str, tools: list[str]
) -> None:
    """A request of one domain is routed to that sub-agent alone, which runs its tools in
    order and gives the final answer."""
    events = _converse(healthy, content)
    assert events[2]["agents"] == [agent]
    ran = [tool for who, kind, tool in _steps(events) if kind == "tool_executing"]
    assert ran == tools
    assert {e["agent"] for e in events[3:]} == {agent}
    assert events[-1]["final"] is True


def test_subagent_error_ends_the_run_naming_the_sub_agent(start_stack: StartStack) -> None:
    """Under subagent_error=data, a run that needs data stops at data's first tool with an
    agent_error naming data, the tool and the error; no later sub-agent starts, no answer is
    stored, the backend logs the failure by sub-agent; requests that do not need data, even
    on the same session, are answered."""
    state = start_stack("subagent_error=data")
    token = login(state.urls["auth"])
    backend = state.urls["backend"]
    thread = httpx.post(
        f"{backend}/api/threads", json={}, headers={"authorization": f"Bearer {token}"}
    ).json()

    async def two_runs() -> tuple[list[Event], list[Event]]:
        failed = await _run(state.urls["websocket"], token, THREE, thread_id=thread["id"])
        answered = await _run(state.urls["websocket"], token, "checkout is down")
        return failed, answered

    failed, answered = asyncio.run(two_runs())
    assert failed[-1] | {"run_id": "", "thread_id": ""} == {
        "type": "agent_error",
        "agent": "data",
        "tool": "query_metrics",
        "error": "ToolError: the metrics store is unavailable",
        "run_id": "",
        "thread_id": "",
    }
    assert {e["agent"] for e in failed} == {"supervisor", "data"}, "a later sub-agent started"
    assert not [e for e in failed if e["type"] == "agent_completed"]
    messages = httpx.get(
        f"{backend}/api/threads/{thread['id']}/messages",
        headers={"authorization": f"Bearer {token}"},
    ).json()["messages"]
    assert [m["role"] for m in messages] == ["user"], "an answer was stored for a failed run"
    assert answered[-1]["type"] == "agent_completed"
    assert answered[-1]["content"].startswith("SEV1 incident on checkout")
    run_id = failed[-1]["run_id"]
    wait_for(
        lambda: any(
            e["severity"] == "ERROR"
            and e["message"]
            == f"data sub-agent failed in run {run_id}: query_metrics failed: ToolError: the "
            "metrics store is unavailable"
            for e in log_entries(state, "backend")
        )
    )
    revision = revisions.revisions(Path(state.logs["backend"]).parent.parent, "backend")[-1]
    env = {e["name"]: e.get("value") for e in revision["containers"][0]["env"]}
    assert env["SUBAGENT_ERROR"] == "data"


def test_subagent_hang_stops_only_the_hung_sub_agent(start_stack: StartStack) -> None:
    """Under subagent_hang=optimization, a run that needs it gets data's whole answer, then
    optimization starts and thinks and nothing more comes; meanwhile requests that do not
    need optimization are answered in full."""
    state = start_stack("subagent_hang=optimization")
    token = login(state.urls["auth"])
    url = state.urls["websocket"]

    async def at_once() -> list[list[Event]]:
        return list(
            await asyncio.gather(
                _run(url, token, "What is the checkout cost trend?", quiet_s=1.0),
                _run(url, token, "the search latency spike"),
                _run(url, token, "checkout is down"),
                _run(url, token, "a summary of ledger"),
            )
        )

    hung, *others = asyncio.run(at_once())
    assert _steps(hung)[-3:] == [
        ("data", "agent_completed", "compute_trend"),
        ("optimization", "agent_started", ""),
        ("optimization", "agent_thinking", ""),
    ], _steps(hung)
    for events in others:
        assert events[-1]["type"] == "agent_completed", _steps(events)
        assert events[-1]["final"] is True
        assert "optimization" not in {e["agent"] for e in events}


def test_an_unknown_sub_agent_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """--fault subagent_hang=billing exits 2 with one line naming the valid sub-agents, and
    leaves no stack behind."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference_platform",
            "--state-dir",
            str(tmp_path),
            "start",
            "--fault",
            "subagent_hang=billing",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: unknown sub-agent 'billing' for fault subagent_hang: valid sub-agents are "
        "triage, data, optimization, reporting, general, e.g. --fault subagent_hang=data\n"
    )
    assert stack.read_state(tmp_path) is None


def test_the_fault_matrix_names_a_spared_test_that_failed_and_an_empty_check() -> None:
    """The matrix's spared check can fail: a failed test of a spared area (not needing the
    broken one) is named, one that also needs the broken area is not, and a run with no
    spared test at all is a miss too."""
    from ci_tools.phases import GateResult  # noqa: PLC0415
    from tests.fakes.records import make_record  # noqa: PLC0415
    from tests.integration.fault_matrix import BY_NAME, CaseResult, PhaseRun, spared_misses  # noqa: PLC0415

    case = BY_NAME["subagent_error=data"]
    gate = GateResult(phase=3, title="Three", status="not_met", reason="")

    def result(*records: Any) -> CaseResult:
        phase = PhaseRun(3, gate, records, (), has_selected_file=True)
        return CaseResult(case, 1.0, 1, "", Path("."), {}, (phase,), ())

    triage = make_record("triage", outcome="failed", areas=("agent", "agent.triage"))
    both = make_record("both", outcome="failed", areas=("agent.data", "agent.reporting"))
    passed = make_record("general", areas=("agent", "agent.general"))
    assert spared_misses(result(triage, both, passed)) == [
        "t.py::triage (agent, agent.triage) failed under agent.data's fault"
    ]
    assert spared_misses(result(both)) == [
        "no test of agent.triage, agent.optimization, agent.reporting, agent.general without "
        "agent.data ran"
    ]
    assert spared_misses(result(both, passed)) == []
