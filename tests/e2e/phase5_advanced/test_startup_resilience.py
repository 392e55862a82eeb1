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
