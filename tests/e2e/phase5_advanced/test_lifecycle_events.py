"""Phase 5: the lifecycle a client can see through the URLs: what liveness and readiness say,
which revision answered and for how long it has run, a session's life (connect, ping, close,
resume) and an agent run's events from start to final completion, or to a cancel.

A restart of the backend cannot be caused from here (the same suite runs against staging), so
what is checked is what each answer promises about the service's life.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from typing import Any

import httpx
import pytest

from tests.e2e.client import CHUNK, Conversation, Platform, Session

pytestmark = [pytest.mark.phase(5), pytest.mark.priority("P3"), pytest.mark.area("lifecycle")]

DEPENDENCY_STATUSES = {"up", "slow", "down"}


def uptime_of(response: httpx.Response) -> float:
    """The ``x-uptime-s`` header: seconds since the answering process started."""
    value = response.headers.get("x-uptime-s")
    assert value is not None, f"no x-uptime-s on {response.request.url.path}"
    return float(value)


def is_final(event: dict[str, Any]) -> bool:
    """The run's last event: the final agent_completed (a platform without sub-agents sends
    one agent_completed, with no ``final``)."""
    return event["type"] == "agent_completed" and bool(event.get("final", True))


@pytest.mark.area("database", "redis")
def test_the_ready_answer_has_its_documented_shape(platform: Platform) -> None:
    """A ready backend answers 200 "ready" for its own revision, without a reason, each
    dependency with a known status, a latency and its limit, and the startup it went through."""
    health, ready = platform.http.get(f"{platform.backend}/health"), platform.ready()
    assert ready.status_code == 200, f"not ready: {ready.text}"
    body = ready.json()
    assert body["status"] == "ready", body
    assert "reason" not in body, f"a reason on a ready answer: {body['reason']}"
    assert body["revision"] == health.json()["revision"], "ready and health name two revisions"
    assert {"postgres", "redis"} <= set(body["dependencies"]), sorted(body["dependencies"])
    for name, dep in body["dependencies"].items():
        assert dep["status"] in DEPENDENCY_STATUSES, f"{name}: status {dep['status']!r}"
        assert 0 <= dep["latency_ms"] < dep["limit_ms"], f"{name}: {dep}"
    startup = body["startup"]
    assert startup["attempts"] >= 1, f"startup {startup}"
    assert startup["waited_s"] is not None, f"a ready backend still waiting: {startup}"


def test_health_is_live_and_says_the_phase_ready_agrees(platform: Platform) -> None:
    """/health says the process lives and names its phase and uptime; a serving phase goes
    with a 200 ready, and its uptime matches the response header's."""
    health = platform.http.get(f"{platform.backend}/health")
    assert health.status_code == 200, f"/health: HTTP {health.status_code}"
    body = health.json()
    assert body["status"] == "ok", body
    assert body["phase"] == "serving", f"phase {body['phase']!r} after the platform started"
    assert platform.ready().status_code == 200, "serving, but not ready"
    assert 0 < body["uptime_s"] <= uptime_of(health) + 0.5, (body["uptime_s"], uptime_of(health))


@pytest.mark.area("connectivity")
@pytest.mark.parametrize("service", ["backend", "auth"])
def test_every_answer_names_its_revision_and_a_growing_uptime(
    platform: Platform, service: str
) -> None:
    """Health, readiness, a refused and an unknown URL all carry the revision /health names;
    the uptime grows between two answers (the process did not restart in between)."""
    base = platform.urls[service]
    revision = platform.http.get(f"{base}/health").json()["revision"]
    paths = ["/health", "/health/ready", "/no-such-path"]
    if service == "backend":
        paths.append("/api/threads")  # refused without a token: still stamped
    answers = [platform.http.get(f"{base}{path}") for path in paths]
    for path, answer in zip(paths, answers, strict=True):
        assert answer.headers.get("x-revision") == revision, f"{path}: revision header"
    before = uptime_of(answers[0])
    time.sleep(0.3)
    after = uptime_of(platform.http.get(f"{base}/health"))
    assert before + 0.25 <= after < before + 30, f"uptime {before} s, then {after} s"


@pytest.mark.priority("P2")
@pytest.mark.area("websocket")
def test_a_session_connects_pings_closes_and_the_next_one_resumes_the_thread(
    platform: Platform, user: Session
) -> None:
    """The greeting names a fresh session, the user and the serving revision; ping is answered;
    after a close, a new session has another id and resumes the thread with a new run."""
    revision = platform.http.get(f"{platform.backend}/health").json()["revision"]
    first = platform.ws_connect(token=user.access_token)
    greeting = json.loads(first.recv(timeout=10))
    assert greeting["type"] == "connected", greeting
    assert re.fullmatch(r"[0-9a-f]{16,}", greeting["session_id"]), greeting
    assert greeting["user_id"] == user.user_id, greeting
    assert greeting["revision"] == revision, f"greeting from {greeting['revision']}"
    assert platform.exchange(first, {"type": "ping"}) == {"type": "pong"}
    before = platform.converse(first, "Lifecycle events: before the close")
    first.close()

    second = platform.ws_connect(token=user.access_token)
    resumed = json.loads(second.recv(timeout=10))
    assert resumed["session_id"] != greeting["session_id"], "a closed session's id came back"
    thread_id = before.completed["thread_id"]
    after = platform.converse(second, "Lifecycle events: after the close", thread_id)
    assert after.completed["thread_id"] == thread_id, "the resumed run went to another thread"
    assert after.completed["run_id"] != before.completed["run_id"], "two runs share a run id"
    contents = [m["content"] for m in platform.messages(user, thread_id)]
    assert contents == [
        "Lifecycle events: before the close",
        before.answer,
        "Lifecycle events: after the close",
        after.answer,
    ], f"history {contents}"


def assert_run_in_order(conversation: Conversation) -> None:
    """Every event of one run names it and its thread; each agent starts before it works and
    completes its tools in pairs; the answer streams in order; the final completion is last."""
    events = conversation.events
    assert events[0]["type"] == "agent_started", f"first event {events[0]['type']}"
    assert is_final(events[-1]), f"last event {events[-1]['type']}"
    assert sum(is_final(e) for e in events) == 1, "more than one final completion"
    assert len({e["run_id"] for e in events}) == 1, "events of one run name several runs"
    assert len({e["thread_id"] for e in events}) == 1, "events of one run name several threads"
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_agent[str(event.get("agent", ""))].append(event)
    for agent, own in by_agent.items():
        kinds = [e["type"] for e in own if e["type"] != CHUNK]
        assert kinds[0] == "agent_started", f"{agent or 'the agent'} began with {kinds[0]}"
        tools = [(e["type"], e.get("tool")) for e in own if e["type"].startswith("tool_")]
        pairs = list(zip(tools[::2], tools[1::2], strict=False))
        assert len(tools) % 2 == 0, f"{agent}: a tool never completed: {tools}"
        assert all(a == ("tool_executing", b[1]) and b[0] == "tool_completed" for a, b in pairs), (
            f"{agent}: tools out of order: {tools}"
        )
    chunks = conversation.chunks
    assert [c["index"] for c in chunks] == list(range(len(chunks))), "chunks out of order"
    assert "".join(c["content"] for c in chunks) == conversation.answer, "chunks are not the answer"


@pytest.mark.priority("P2")
@pytest.mark.area("agent", "websocket")
def test_an_agent_run_sends_its_lifecycle_events_in_order(
    platform: Platform, user: Session
) -> None:
    """One run, start to final completion, in order; its duration is the server's share of the
    time the client waited."""
    with platform.connect(user) as ws:
        conversation = platform.converse(ws, "Lifecycle events: how is our cloud cost trending?")
    assert_run_in_order(conversation)
    duration = conversation.completed["duration_ms"]
    assert 0 < duration <= conversation.elapsed_ms, (duration, conversation.elapsed_ms)


@pytest.mark.area("agent", "websocket", "threads")
def test_two_runs_of_a_session_are_separate_lifecycles(platform: Platform, user: Session) -> None:
    """Two messages on one session are two runs with their own ids, each complete and in order,
    in one thread; the second starts only after the first completed."""
    with platform.connect(user) as ws:
        first = platform.converse(ws, "Lifecycle events: first run")
        second = platform.converse(ws, "Lifecycle events: second run", first.completed["thread_id"])
    for conversation in (first, second):
        assert_run_in_order(conversation)
    assert first.completed["run_id"] != second.completed["run_id"], "two runs share a run id"
    assert {first.completed["thread_id"], second.completed["thread_id"]} == {
        first.completed["thread_id"]
    }
    assert second.events[0]["run_id"] == second.completed["run_id"], "events of the first run late"


@pytest.mark.area("agent", "websocket", "threads")
def test_a_run_cancelled_by_closing_the_session_stores_no_answer(
    platform: Platform, user: Session
) -> None:
    """A session closed once its run started cancels the run: the next run on the thread (as
    long as the cancelled one would have taken) completes, and the history holds the cancelled
    message without any answer to it."""
    thread = platform.create_thread(user, "cancelled run")
    ws = platform.connect(user)
    # Routed through all four domain sub-agents (incident, latency, cost, summary): the
    # longest run there is, so the close lands while it runs even when the platform answers
    # late (the whole suite at once on two cores); a short run could end before it.
    cancelled = "Lifecycle: cancel me: incident latency cost summary"
    ws.send(json.dumps({"type": "user_message", "content": cancelled, "thread_id": thread["id"]}))
    started = json.loads(ws.recv(timeout=10))
    assert started["type"] == "agent_started", started
    ws.close()
    later = platform.converse(platform.connect(user), "Lifecycle: after the cancel", thread["id"])
    stored = [(m["role"], m["content"]) for m in platform.messages(user, thread["id"])]
    assert stored == [
        ("user", cancelled),
        ("user", "Lifecycle: after the cancel"),
        ("assistant", later.answer),
    ], f"history {stored}"
