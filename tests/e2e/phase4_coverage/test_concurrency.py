"""Phase 4: concurrent users each log in and converse; all succeed within the response budget.

"Response time p95 under load" measures API responses (log in, create, read) made while the
others run; a whole agent conversation is the agent pipeline's time and goes to its own
criterion, so neither grows with what the other measures, at any agent pace."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.e2e.client import Platform

pytestmark = [pytest.mark.phase(4), pytest.mark.priority("P3"), pytest.mark.area("performance")]

SESSIONS = 8
TIMEOUT_S = 20.0  # one conversation under load; below the suite's per-test timeout
T = TypeVar("T")


def _in_parallel(work: Callable[[int], T], count: int = SESSIONS) -> list[T]:
    """Runs work(0..count-1) in threads; results in index order, the first exception raised.
    The pool is not waited for on failure: the test's teardown closes any socket left open."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=count)
    try:
        futures = [pool.submit(work, i) for i in range(count)]
        return [future.result(timeout=TIMEOUT_S + 10) for future in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# Serial: it measures response times under a load it makes itself; another test's load
# beside it would be measured too.
@pytest.mark.serial
@pytest.mark.area("auth")
def test_concurrent_logins_are_answered_within_the_response_budget(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """Eight logins at once: each is its user's, its token is accepted, and each answer's
    time feeds the response criterion."""

    def login(index: int) -> tuple[float, str, str]:
        started = time.perf_counter()
        session = platform.login(index % len(platform.users))
        return (time.perf_counter() - started) * 1000, session.email, session.access_token

    results = _in_parallel(login)
    for elapsed_ms, _, _ in results:
        criterion("response_p95_ms", elapsed_ms)
    emails = [email for _, email, _ in results]
    assert emails == [platform.users[i % len(platform.users)] for i in range(SESSIONS)], emails
    for _, email, token in results:
        verified = platform.verify(token)
        assert verified.status_code == 200, f"token of {email}: HTTP {verified.status_code}"


# Not serial: a conversation's time is the agent pipeline's, which other tests running beside
# it do not stretch the way they would stretch API response times.
@pytest.mark.area("agent")
@pytest.mark.area("agent", "websocket")
def test_concurrent_sessions_all_succeed(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """Eight users at once each log in and converse; every run completes with its own answer."""

    def session(index: int) -> tuple[float, dict[str, Any], str]:
        login = platform.login(index % len(platform.users))
        content = f"Concurrent request number {index}"
        started = time.perf_counter()
        conversation = platform.converse(platform.connect(login), content, timeout_s=TIMEOUT_S)
        return (time.perf_counter() - started) * 1000, conversation.completed, content

    results = _in_parallel(session)
    for conversation_ms, _, _ in results:
        criterion("agent_pipeline_ms", conversation_ms)
    run_ids = {completed["run_id"] for _, completed, _ in results}
    assert len(run_ids) == SESSIONS, f"{len(run_ids)} distinct runs for {SESSIONS} sessions"
    for _, completed, content in results:
        assert f"{len(content)} characters" in completed["content"], (
            f"answer to {content!r} is {completed['content']!r}"
        )


@pytest.mark.serial  # as above
@pytest.mark.area("threads")
def test_concurrent_thread_creation_gives_distinct_threads(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """Eight threads created at once by one user get eight distinct ids, all readable."""
    session = platform.signup()

    def create(index: int) -> tuple[float, str]:
        started = time.perf_counter()
        thread = platform.create_thread(session, f"parallel {index}")
        return (time.perf_counter() - started) * 1000, str(thread["id"])

    results = _in_parallel(create)
    for elapsed_ms, _ in results:
        criterion("response_p95_ms", elapsed_ms)
    ids = {thread_id for _, thread_id in results}
    assert len(ids) == SESSIONS, f"{len(ids)} distinct ids for {SESSIONS} creations"
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert {t["id"] for t in listed.json()["threads"]} == ids, listed.text


@pytest.mark.area("agent")
@pytest.mark.area("agent", "threads")
def test_parallel_runs_of_one_user_stay_in_their_threads(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """One user converses in four threads at once; each thread stores only its own exchange."""
    session = platform.signup()
    threads = [platform.create_thread(session, f"lane {i}")["id"] for i in range(4)]

    def converse(index: int) -> tuple[float, str]:
        started = time.perf_counter()
        conversation = platform.converse(
            platform.connect(session), f"lane {index} question", threads[index], TIMEOUT_S
        )
        return (time.perf_counter() - started) * 1000, conversation.answer

    results = _in_parallel(converse, count=len(threads))
    for index, (elapsed_ms, answer) in enumerate(results):
        criterion("agent_pipeline_ms", elapsed_ms)
        stored = [m["content"] for m in platform.messages(session, threads[index])]
        assert stored == [f"lane {index} question", answer], f"lane {index} holds {stored}"
