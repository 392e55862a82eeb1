"""Phase 5: the services stay healthy and ready under a burst of probes and under agent load."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from tests.e2e.client import Platform

pytestmark = [pytest.mark.phase(5), pytest.mark.priority("P4"), pytest.mark.area("resilience")]

TIMEOUT_S = 20.0


@pytest.mark.area("database", "redis")
def test_ready_stays_200_over_a_burst_of_polls(platform: Platform) -> None:
    """Twenty ready probes in a row are all 200 with every dependency up."""
    seen = []
    for _ in range(20):
        response = platform.ready()
        seen.append(response.status_code)
        down = {
            name: dep["status"]
            for name, dep in response.json().get("dependencies", {}).items()
            if dep.get("status") != "up"
        }
        assert not down, f"probe {len(seen)}: {down}"
    assert set(seen) == {200}, f"statuses {seen}"


@pytest.mark.area("database", "redis")
def test_ready_stays_200_under_parallel_polls(platform: Platform) -> None:
    """Twenty ready probes at once, on both services, are all 200."""
    urls = [f"{platform.backend}/health/ready", f"{platform.auth}/health/ready"] * 10
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda url: platform.http.get(url).status_code, urls))
    assert statuses == [200] * len(urls), f"statuses {statuses}"


@pytest.mark.area("agent")
def test_health_stays_200_during_agent_runs(platform: Platform) -> None:
    """While four agent runs are in flight, /health and /health/ready keep answering 200."""
    session = platform.login(0)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    try:
        runs = [
            pool.submit(platform.converse, platform.connect(session), f"load {i}", None, TIMEOUT_S)
            for i in range(4)
        ]
        statuses: list[int] = []
        while not all(run.done() for run in runs) or not statuses:
            statuses.append(platform.http.get(f"{platform.backend}/health").status_code)
            statuses.append(platform.ready().status_code)
            time.sleep(0.01)
        answers = [run.result(timeout=TIMEOUT_S).answer for run in runs]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    assert set(statuses) == {200}, f"statuses during the runs {statuses}"
    assert all(answers), f"answers {answers}"


@pytest.mark.area("database")
def test_ready_reports_the_startup_it_went_through(platform: Platform) -> None:
    """The ready answer records the startup: how many tries the database took and how long
    the backend waited for it, which cannot exceed how long the backend has run."""
    ready = platform.ready()
    assert ready.status_code == 200, f"not ready: {ready.text}"
    startup = ready.json().get("startup")
    assert startup is not None, "the ready answer says nothing of the startup"
    uptime = float(ready.headers["x-uptime-s"])
    assert startup["attempts"] >= 1, f"startup {startup}"
    assert 0 <= startup["waited_s"] <= uptime, f"waited {startup['waited_s']} s, up {uptime} s"
    health = platform.http.get(f"{platform.backend}/health").json()
    assert health["phase"] == "serving", f"phase {health['phase']!r} with a 200 ready"


@pytest.mark.area("database", "redis")
def test_ready_status_and_body_always_agree(platform: Platform) -> None:
    """Over ten probes, 200 always goes with "ready", every dependency up and no reason; a 503
    would have to say why (a reason naming the problem)."""
    for probe in range(10):
        response = platform.ready()
        body = response.json()
        up = all(dep["status"] == "up" for dep in body["dependencies"].values())
        if response.status_code == 200:
            assert (body["status"], up, body.get("reason")) == ("ready", True, None), body
        else:
            assert response.status_code == 503, f"probe {probe}: HTTP {response.status_code}"
            assert body["status"] != "ready", body
            assert body.get("reason"), f"a 503 without a reason: {body}"


@pytest.mark.area("agent")
def test_the_backend_does_not_restart_under_agent_load(platform: Platform) -> None:
    """While four agent runs are in flight, every answer comes from one revision whose uptime
    only grows: no crash and restart of the process under load."""
    session = platform.login(0)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    try:
        runs = [
            pool.submit(
                platform.converse, platform.connect(session), f"uptime {i}", None, TIMEOUT_S
            )
            for i in range(4)
        ]
        seen: list[tuple[str, float]] = []
        while not all(run.done() for run in runs) or len(seen) < 3:
            answer = platform.http.get(f"{platform.backend}/health")
            seen.append((answer.headers["x-revision"], float(answer.headers["x-uptime-s"])))
            time.sleep(0.02)
        answers = [run.result(timeout=TIMEOUT_S).answer for run in runs]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    assert len({revision for revision, _ in seen}) == 1, f"revisions {set(seen)}"
    uptimes = [uptime for _, uptime in seen]
    assert uptimes == sorted(uptimes), f"the uptime went back: {uptimes}"
    assert all(answers), f"answers {answers}"
