"""Phase 1: the backend's dependencies are up and fast, measured by its ready endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from ci_tools.plugin.fixtures import Criterion
from tests.e2e.client import Platform

pytestmark = [pytest.mark.phase(1), pytest.mark.priority("P1")]


def measure(criterion: Criterion, name: str, check: dict[str, Any]) -> None:
    """A dependency check as a measurement: its latency; a lower bound when the check gave up
    waiting; "unreachable" when the dependency is down."""
    if check["status"] == "down" or "latency_ms" not in check:
        criterion.unreachable(name)
    elif check.get("timed_out"):
        criterion.at_least(name, check["latency_ms"])
    else:
        criterion(name, check["latency_ms"])


@pytest.mark.area("database")
def test_database_is_up_and_fast(platform: Platform, criterion: Criterion) -> None:
    """PostgreSQL answers the ready probe; its latency is recorded against the criterion."""
    check = platform.ready().json()["dependencies"]["postgres"]
    measure(criterion, "database_latency_ms", check)
    assert check["status"] == "up", f"postgres {check['status']}: {check.get('error', '')}"


@pytest.mark.area("database")
def test_database_latency_is_stable(platform: Platform, criterion: Criterion) -> None:
    """Five probes in a row all stay under the database latency limit."""
    for _ in range(5):
        check = platform.ready().json()["dependencies"]["postgres"]
        measure(criterion, "database_latency_ms", check)
        assert check["status"] == "up", f"postgres {check['status']}: {check.get('error', '')}"


@pytest.mark.area("redis")
def test_redis_is_reachable(platform: Platform, criterion: Criterion) -> None:
    """Redis answers the ready probe; its latency is recorded."""
    check = platform.ready().json()["dependencies"]["redis"]
    measure(criterion, "redis_latency_ms", check)
    assert check["status"] == "up", f"redis {check['status']}: {check.get('error', '')}"


@pytest.mark.area("redis", "database")  # the thread it lists is written to the database first
def test_redis_backed_cache_serves_recent_threads(platform: Platform) -> None:
    """A new thread shows in the user's recent threads, which Redis caches. The test user is
    shared: a neighbour's thread created meanwhile may come before this one, so the list is
    read for this thread, not for its first entry."""
    session = platform.login(0)
    thread = platform.create_thread(session, "phase 1 cache probe")
    recent = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert recent.status_code == 200, f"recent threads: HTTP {recent.status_code}"
    listed = [t["id"] for t in recent.json()["threads"]]
    assert thread["id"] in listed, f"the new thread is not among the {len(listed)} recent ones"


@pytest.mark.area("database", "redis")
def test_ready_is_200(platform: Platform) -> None:
    """The backend as a whole is ready: HTTP 200 on /health/ready."""
    response = platform.ready()
    problems = {
        name: dep
        for name, dep in response.json().get("dependencies", {}).items()
        if dep.get("status") != "up"
    }
    assert response.status_code == 200, f"not ready: {problems}"


@pytest.mark.area("auth")
def test_auth_is_ready(platform: Platform) -> None:
    """The auth service is configured to sign tokens (its secret is present)."""
    response = platform.http.get(f"{platform.auth}/health/ready")
    assert response.status_code == 200, f"auth not ready: {response.text}"
