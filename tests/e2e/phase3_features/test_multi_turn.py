"""Phase 3: several turns in one thread build one history, in order, each turn answered."""

from __future__ import annotations

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [
    pytest.mark.phase(3),
    pytest.mark.priority("P2"),
    pytest.mark.area("agent", "threads"),
]


def test_history_grows_in_order_over_three_turns(platform: Platform, user: Session) -> None:
    """Three turns in one thread leave six messages: user, assistant, alternating, in order."""
    thread = platform.create_thread(user, "three turns")
    questions = ["What is our uptime goal?", "And the billing cycle?", "Who is on call today?"]
    answers = []
    ws = platform.connect(user)
    for number, question in enumerate(questions, start=1):
        answers.append(platform.converse(ws, question, thread["id"]).answer)
        stored = platform.messages(user, thread["id"])
        assert len(stored) == 2 * number, f"after turn {number}: {len(stored)} messages"
    expected = [m for pair in zip(questions, answers, strict=True) for m in pair]
    stored = platform.messages(user, thread["id"])
    assert [m["content"] for m in stored] == expected, f"history {stored}"
    assert [m["role"] for m in stored] == ["user", "assistant"] * 3, f"history {stored}"


def test_each_turn_is_answered_for_its_own_message(platform: Platform, user: Session) -> None:
    """Turns on different topics pick their own tool; an answer is not reused from a turn before."""
    thread = platform.create_thread(user)
    ws = platform.connect(user)
    first = platform.converse(ws, "Our cloud spend is too high", thread["id"])
    second = platform.converse(ws, "Checkout latency doubled this week", thread["id"])
    assert first.completed["tool"] != second.completed["tool"], (
        f"both turns used {first.completed['tool']}"
    )
    assert first.answer != second.answer, f"same answer twice: {first.answer!r}"


def test_each_turn_is_a_new_run_in_the_same_thread(platform: Platform, user: Session) -> None:
    """Every turn gets its own run_id while all name the same thread."""
    thread = platform.create_thread(user)
    ws = platform.connect(user)
    runs = [platform.converse(ws, f"Turn number {n}", thread["id"]) for n in range(3)]
    run_ids = {run.completed["run_id"] for run in runs}
    assert len(run_ids) == 3, f"run ids {run_ids}"
    assert {run.completed["thread_id"] for run in runs} == {thread["id"]}


def test_interleaved_threads_keep_their_own_history(platform: Platform, user: Session) -> None:
    """Turns alternating between two threads on one session land only in their own thread."""
    first, second = platform.create_thread(user, "first"), platform.create_thread(user, "second")
    ws = platform.connect(user)
    for thread, content in ((first, "alpha one"), (second, "beta one"), (first, "alpha two")):
        platform.converse(ws, content, thread["id"])
    first_users = [
        m["content"] for m in platform.messages(user, first["id"]) if m["role"] == "user"
    ]
    second_users = [
        m["content"] for m in platform.messages(user, second["id"]) if m["role"] == "user"
    ]
    assert first_users == ["alpha one", "alpha two"], f"first thread: {first_users}"
    assert second_users == ["beta one"], f"second thread: {second_users}"
