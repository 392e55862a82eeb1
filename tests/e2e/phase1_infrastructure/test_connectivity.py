"""Phase 1: every configured URL answers."""

from __future__ import annotations

import pytest

from tests.e2e.client import Platform

pytestmark = [pytest.mark.phase(1), pytest.mark.priority("P1"), pytest.mark.area("connectivity")]


@pytest.mark.parametrize("service", ["backend", "auth"])
def test_service_is_alive(platform: Platform, service: str) -> None:
    """GET /health of each service is 200 and names the service."""
    response = platform.http.get(f"{platform.urls[service]}/health")
    assert response.status_code == 200, f"{service} /health: HTTP {response.status_code}"
    assert response.json()["service"] == service


def test_frontend_is_reachable(platform: Platform) -> None:
    """The frontend URL, when the environment has one, answers without a server error."""
    if "frontend" not in platform.urls:
        pytest.skip("this environment has no frontend URL")
    response = platform.http.get(platform.urls["frontend"])
    assert response.status_code < 500


@pytest.mark.parametrize("service", ["backend", "auth"])
def test_service_reports_its_revision(platform: Platform, service: str) -> None:
    """Each service says which revision serves, so failures can be tied to a deploy."""
    revision = platform.http.get(f"{platform.urls[service]}/health").json().get("revision")
    assert revision
    assert revision.startswith(f"{service}-")


def test_unknown_path_is_404_not_5xx(platform: Platform) -> None:
    """The backend routes requests: an unknown path is a 404, not a crash."""
    assert platform.http.get(f"{platform.backend}/no-such-path").status_code == 404
