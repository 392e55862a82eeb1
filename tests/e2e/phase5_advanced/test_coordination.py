"""Phase 5: service coordination around multi-agent runs. What the sub-agents produce over the
WebSocket is what the backend stores and serves over HTTP, for the right user and thread, and
runs at the same time never mix."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

import pytest

from tests.e2e.client import Conversation, Platform, Session

pytestmark = [
    pytest.mark.phase(5),
    pytest.mark.priority("P2"),
    pytest.mark.area("agent", "orchestration", "threads", "websocket"),
]

T = TypeVar("T")
REPORT = "Analyse the search cost trend and write a report"
INCIDENT = "Ledger is failing: show the latency metrics"
TIMEOUT_S = 20.0


def _both(first: Callable[[], T], second: Callable[[], T]) -> tuple[T, T]:
    """Runs the two at once; their results, the first exception raised."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(first), pool.submit(second)
        return a.result(timeout=TIMEOUT_S + 10), b.result(timeout=TIMEOUT_S + 10)


@pytest.mark.area("agent.data", "agent.optimization", "agent.reporting")
def test_a_multi_agent_answer_is_stored_once_in_its_thread(
    platform: Platform, user: Session, criterion: Callable[[str, float], None]
) -> None:
    """Three sub-agents answer in a thread: the thread then holds the question and the final
    answer only (no sub-agent's intermediate finding), under the id the run announced."""
    thread = platform.create_thread(user, "coordinated report")
    with platform.measured_session(user, criterion) as ws:
        conversation = platform.converse(ws, REPORT, thread["id"])
    assert conversation.route == ["data", "optimization", "reporting"], conversation.route
    stored = platform.messages(user, thread["id"])
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", REPORT),
        ("assistant", conversation.answer),
    ], f"stored {stored}"
    assert stored[1]["id"] == conversation.completed["message_id"], "stored under another id"
    assert {m["thread_id"] for m in stored} == {thread["id"]}, stored


@pytest.mark.area("agent.data", "agent.optimization", "agent.reporting")
def test_events_chunks_and_the_stored_message_agree(
    platform: Platform, own_user: Session, criterion: Callable[[str, float], None]
) -> None:
    """The streamed chunks, the final event's content and the message read back over HTTP
    are one text; the run's thread is listed and readable by its owner."""
    with platform.measured_session(own_user, criterion) as ws:
        conversation = platform.converse(ws, REPORT)
    thread_id = conversation.completed["thread_id"]
    streamed = "".join(chunk["content"] for chunk in conversation.chunks)
    stored = platform.messages(own_user, thread_id)[-1]
    assert streamed == conversation.answer == stored["content"], (
        f"streamed {streamed!r}, final {conversation.answer!r}, stored {stored['content']!r}"
    )
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=own_user.headers)
    assert thread_id in [t["id"] for t in listed.json()["threads"]], "run's thread not listed"
    detail = platform.http.get(
        f"{platform.backend}/api/threads/{thread_id}", headers=own_user.headers
    )
    assert detail.status_code == 200, f"thread detail: HTTP {detail.status_code}"


@pytest.mark.area("agent.triage", "agent.data", "agent.optimization", "agent.reporting")
def test_two_users_orchestrations_at_once_do_not_mix(
    platform: Platform, user: Session, other_user: Session
) -> None:
    """Two users' multi-agent runs at the same time: each session gets only its own run's
    events, its own route and an answer about its own service, in its own thread."""

    def ask(session: Session, content: str) -> Conversation:
        return platform.converse(platform.connect(session), content, timeout_s=TIMEOUT_S)

    report, incident = _both(lambda: ask(user, REPORT), lambda: ask(other_user, INCIDENT))
    for conversation, route, service in (
        (report, ["data", "optimization", "reporting"], "search"),
        (incident, ["triage", "data"], "ledger"),
    ):
        assert conversation.route == route, f"route {conversation.route}"
        runs = {e.get("run_id") for e in conversation.events}
        assert len(runs) == 1, f"events of {len(runs)} runs on one session: {runs}"
        assert {e.get("agent") for e in conversation.events} == {"supervisor", *route}
        assert f"on {service}" in conversation.answer, conversation.answer
    assert report.completed["run_id"] != incident.completed["run_id"], "one run id for two"
    assert platform.messages(user, report.completed["thread_id"])[-1]["content"] == report.answer
    assert (
        platform.messages(other_user, incident.completed["thread_id"])[-1]["content"]
        == incident.answer
    )


@pytest.mark.area("agent.triage", "agent.data", "agent.optimization", "agent.reporting")
def test_one_users_orchestrations_in_two_threads_keep_their_own_history(
    platform: Platform,
) -> None:
    """One user runs two multi-agent requests at once in two threads: each thread stores only
    its own question and answer."""
    session = platform.signup()
    first = platform.create_thread(session, "report lane")["id"]
    second = platform.create_thread(session, "incident lane")["id"]

    def ask(content: str, thread_id: str) -> Conversation:
        return platform.converse(platform.connect(session), content, thread_id, TIMEOUT_S)

    report, incident = _both(lambda: ask(REPORT, first), lambda: ask(INCIDENT, second))
    for thread_id, content, conversation in ((first, REPORT, report), (second, INCIDENT, incident)):
        stored = [m["content"] for m in platform.messages(session, thread_id)]
        assert stored == [content, conversation.answer], f"thread {thread_id} holds {stored}"


@pytest.mark.area("agent.triage", "agent.data", "agent.optimization", "agent.reporting")
def test_turns_of_one_thread_are_routed_each_on_their_own(
    platform: Platform, user: Session
) -> None:
    """A report turn then an incident turn in one thread: each is routed by its own words
    (the second does not inherit the first's sub-agents), and the thread keeps both turns in
    order."""
    thread = platform.create_thread(user, "two turns")
    ws = platform.connect(user)
    report = platform.converse(ws, REPORT, thread["id"])
    incident = platform.converse(ws, INCIDENT, thread["id"])
    assert report.route == ["data", "optimization", "reporting"], report.route
    assert incident.route == ["triage", "data"], incident.route
    stored = platform.messages(user, thread["id"])
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", REPORT),
        ("assistant", report.answer),
        ("user", INCIDENT),
        ("assistant", incident.answer),
    ], f"history {stored}"


@pytest.mark.priority("P3")
@pytest.mark.area("auth", "agent.data", "agent.optimization", "agent.reporting")
def test_an_orchestrated_thread_stays_its_owners(
    platform: Platform, user: Session, other_user: Session
) -> None:
    """Another user can neither read the messages of a thread a multi-agent run answered in,
    nor run a request into it."""
    conversation = platform.converse(platform.connect(user), REPORT)
    thread_id = conversation.completed["thread_id"]
    read = platform.http.get(
        f"{platform.backend}/api/threads/{thread_id}/messages", headers=other_user.headers
    )
    assert read.status_code == 404, f"another user reads the thread: HTTP {read.status_code}"
    refused = platform.exchange(
        platform.connect(other_user),
        {"type": "user_message", "content": REPORT, "thread_id": thread_id},
    )
    assert refused["type"] == "error", f"another user's run into the thread got {refused}"
    assert len(platform.messages(user, thread_id)) == 2, "the thread gained a message"


@pytest.mark.priority("P3")
@pytest.mark.area("auth", "agent.data", "agent.optimization", "agent.reporting")
def test_a_refreshed_token_runs_a_multi_agent_request_as_the_same_user(
    platform: Platform, user: Session
) -> None:
    """After /auth/refresh, the new access token opens a session on which a three-agent run
    completes, stored in a thread the original login can read."""
    refreshed = platform.refresh(user)
    conversation = platform.converse(platform.connect(refreshed), REPORT)
    assert conversation.route == ["data", "optimization", "reporting"], conversation.route
    stored = platform.messages(user, conversation.completed["thread_id"])
    assert [m["content"] for m in stored] == [REPORT, conversation.answer], f"stored {stored}"
