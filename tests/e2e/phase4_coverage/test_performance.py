"""Phase 4: the API under load: answers stay right with many requests in flight, and API
response times are measured under a load of known size.

Only the two tests that measure are ``serial`` (two loads at once would measure each other), so
the others take no turn and hold no worker waiting for one. Only API responses (one HTTP request
and its answer) feed "Response time p95 under load"; a whole agent conversation is the agent
pipeline's time and feeds "Agent pipeline p50", so neither grows with what the other measures,
at any agent pace."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(4), pytest.mark.priority("P4"), pytest.mark.area("performance")]

LOAD = 8  # requests in flight at once
ROUNDS = 3  # requests each of them makes in a row
MIXED_ROUNDS = 2  # rounds over every endpoint each client of the mixed load makes
TARGETS = ("thread-list", "thread-detail", "messages", "verify", "login", "ready")
T = TypeVar("T")


def _at_once(work: Callable[[int], T], count: int = LOAD) -> list[T]:
    """work(0..count-1) in threads at once; results in index order, the first error raised.
    The pool is not waited for on failure: the test's teardown closes any socket left open."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=count)
    try:
        return list(pool.map(work, range(count), timeout=30))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _timed(
    request: Callable[..., httpx.Response], *args: Any, **kwargs: Any
) -> tuple[float, httpx.Response]:
    """request(*args, **kwargs) and how long its answer took, in milliseconds."""
    started = time.perf_counter()
    response = request(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, response


@dataclasses.dataclass(frozen=True)
class Fixture:
    """A new user with one thread holding one message: what the reads under load read."""

    session: Session
    thread: dict[str, Any]

    @classmethod
    def make(cls, platform: Platform) -> Fixture:
        """Signs a user up and writes the thread and its message."""
        session = platform.signup()
        thread = platform.create_thread(session, "under load")
        posted = platform.http.post(
            f"{platform.backend}/api/threads/{thread['id']}/messages",
            json={"content": "load"},
            headers=session.headers,
        )
        assert posted.status_code == 201, f"setup: HTTP {posted.status_code}"
        return cls(session, thread)

    def request(self, platform: Platform, target: str, index: int) -> httpx.Response:
        """One request of the load on ``target``."""
        backend, http, headers = platform.backend, platform.http, self.session.headers
        if target == "login":
            email = platform.users[index % len(platform.users)]
            return http.post(
                f"{platform.auth}/auth/login", json={"email": email, "password": platform.password}
            )
        url = {
            "thread-list": f"{backend}/api/threads",
            "thread-detail": f"{backend}/api/threads/{self.thread['id']}",
            "messages": f"{backend}/api/threads/{self.thread['id']}/messages",
            "verify": f"{platform.auth}/auth/verify",
            "ready": f"{backend}/health/ready",
        }[target]
        return http.get(url, headers=headers)

    def answers_right(self, target: str, body: dict[str, Any]) -> bool:
        """Whether an answer of the load on ``target`` says what it must."""
        if target == "thread-list":
            return [t["id"] for t in body["threads"]] == [self.thread["id"]]
        if target == "thread-detail":
            return body == self.thread
        if target == "messages":
            return [m["content"] for m in body["messages"]] == ["load"]
        if target == "verify":
            return bool(body["user_id"] == self.session.user_id)
        if target == "login":
            return bool(body["access_token"])
        return bool(body["status"] == "ready")


def _check(fixture: Fixture, target: str, responses: list[httpx.Response]) -> None:
    """Every answer is 200 and right; a wrong one is shown without its tokens."""
    failed = [r.status_code for r in responses if r.status_code != 200]
    assert not failed, f"{target}: {len(failed)} of {len(responses)} failed, HTTP {failed[0]}"
    wrong = [
        json.dumps({k: v for k, v in r.json().items() if "token" not in k})[:200]
        for r in responses
        if not fixture.answers_right(target, r.json())
    ]
    assert not wrong, f"{len(wrong)} of {len(responses)} {target} answers wrong, e.g. {wrong[0]}"


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("thread-list", marks=pytest.mark.area("threads")),
        pytest.param("thread-detail", marks=pytest.mark.area("threads")),
        pytest.param("messages", marks=pytest.mark.area("threads")),
        pytest.param("verify", marks=pytest.mark.area("auth")),
        pytest.param("login", marks=pytest.mark.area("auth")),
        pytest.param("ready", marks=pytest.mark.area("database", "redis")),
    ],
)
def test_endpoint_answers_right_with_many_requests_in_flight(
    platform: Platform, target: str
) -> None:
    """Eight clients at once, three requests each: every answer is 200 and says what it must."""
    fixture = Fixture.make(platform)

    def client(index: int) -> list[httpx.Response]:
        return [fixture.request(platform, target, index) for _ in range(ROUNDS)]

    _check(fixture, target, [r for batch in _at_once(client) for r in batch])


@pytest.mark.serial
@pytest.mark.priority("P3")
@pytest.mark.area("threads", "auth", "database", "redis")
def test_response_times_under_a_mixed_load(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """Eight clients at once each call every endpoint in turn, twice: every answer is right
    and each response time is recorded."""
    fixture = Fixture.make(platform)

    def client(index: int) -> list[tuple[str, float, httpx.Response]]:
        order = TARGETS[index % len(TARGETS) :] + TARGETS[: index % len(TARGETS)]
        return [
            (target, *_timed(fixture.request, platform, target, index))
            for _ in range(MIXED_ROUNDS)
            for target in order
        ]

    results = [result for batch in _at_once(client) for result in batch]
    for _, elapsed_ms, _ in results:
        criterion("response_p95_ms", elapsed_ms)
    for target in TARGETS:
        _check(fixture, target, [r for name, _, r in results if name == target])


@pytest.mark.priority("P3")
@pytest.mark.area("threads")
def test_writes_in_flight_keep_every_message_in_order(platform: Platform) -> None:
    """Eight clients at once each post three messages to a thread of their own; every post is
    201 and every thread holds exactly its three, in order."""
    session = platform.signup()
    threads = [platform.create_thread(session, f"writer {i}")["id"] for i in range(LOAD)]

    def writer(index: int) -> list[httpx.Response]:
        url = f"{platform.backend}/api/threads/{threads[index]}/messages"
        return [
            platform.http.post(
                url, json={"content": f"writer {index} line {n}"}, headers=session.headers
            )
            for n in range(ROUNDS)
        ]

    statuses = [r.status_code for batch in _at_once(writer) for r in batch]
    assert statuses == [201] * len(statuses), f"posts in flight: HTTP {sorted(set(statuses))}"
    for index, thread_id in enumerate(threads):
        contents = [m["content"] for m in platform.messages(session, thread_id)]
        assert contents == [f"writer {index} line {n}" for n in range(ROUNDS)], contents


@pytest.mark.serial
@pytest.mark.priority("P3")
@pytest.mark.area("threads", "agent", "websocket")
def test_api_answers_while_agents_run(
    platform: Platform, criterion: Callable[[str, float], None]
) -> None:
    """While four agent runs stream (each has started), sixteen API reads are answered right;
    the reads feed the response criterion. The runs are then left by closing their sessions:
    waiting for them would keep the phase to this test alone for a whole agent pipeline, which
    the agent tests measure on their own."""
    sockets = [platform.connect(platform.signup()) for _ in range(4)]
    reader = platform.signup()
    thread = platform.create_thread(reader, "read while agents run")

    def read(index: int) -> tuple[float, httpx.Response]:
        return _timed(
            platform.http.get,
            f"{platform.backend}/api/threads/{thread['id']}",
            headers=reader.headers,
        )

    try:
        started = [
            platform.exchange(ws, {"type": "user_message", "content": f"Agent run {index}"})
            for index, ws in enumerate(sockets)
        ]
        assert [event["type"] for event in started] == ["agent_started"] * len(sockets), started
        reads = _at_once(read, 16)
    finally:
        for ws in sockets:
            ws.close()
    for elapsed_ms, response in reads:
        criterion("response_p95_ms", elapsed_ms)
        assert response.status_code == 200, f"read during runs: HTTP {response.status_code}"
        assert response.json() == thread, f"read during runs: {response.text[:200]}"


@pytest.mark.area("websocket")
def test_sessions_opened_at_once_are_distinct_and_answer(platform: Platform) -> None:
    """Eight sessions opened at once each get their own session id and answer a ping."""
    session = platform.signup()

    def open_session(index: int) -> tuple[str, dict[str, Any]]:
        ws = platform.ws_connect(token=session.access_token)
        greeting = json.loads(ws.recv(timeout=10))
        return greeting["session_id"], platform.exchange(ws, {"type": "ping"})

    opened = _at_once(open_session)
    assert len({session_id for session_id, _ in opened}) == LOAD, f"sessions {opened}"
    assert [pong for _, pong in opened] == [{"type": "pong"}] * LOAD, f"answers {opened}"
