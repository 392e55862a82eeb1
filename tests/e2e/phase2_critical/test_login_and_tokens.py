"""Phase 2: users log in and the tokens they get are accepted where they must be, and only there."""

from __future__ import annotations

import time

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(2), pytest.mark.priority("P1"), pytest.mark.area("auth")]


def test_login_returns_a_token_pair(platform: Platform) -> None:
    """A seeded user's login is 200 with an access token, a refresh token and the user."""
    email = platform.users[0]
    response = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": platform.password}
    )
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
    body = response.json()
    assert body["access_token"], "no access token"
    assert body["refresh_token"], "no refresh token"
    assert body["access_token"] != body["refresh_token"], "one token serves as both kinds"
    assert body["user"]["email"] == email, f"user {body['user']}"
    assert body["user"]["id"], "no user id"


def test_user_id_is_stable_across_logins(platform: Platform) -> None:
    """Two logins of one user name the same user id; two users have different ids."""
    first, second, other = platform.login(0), platform.login(0), platform.login(1)
    assert first.user_id == second.user_id, f"{first.user_id} then {second.user_id}"
    assert first.user_id != other.user_id, f"two users share the id {first.user_id}"


def test_access_token_is_verified_by_auth(platform: Platform, user: Session) -> None:
    """/auth/verify accepts a fresh access token and names its user; it has not expired."""
    response = platform.verify(user.access_token)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
    claims = response.json()
    assert claims["valid"] is True, f"claims {claims}"
    assert claims["user_id"] == user.user_id, f"verify names {claims['user_id']}"
    assert claims["email"] == user.email, f"verify names {claims['email']}"
    assert claims["expires_at"] > time.time(), f"expires_at {claims['expires_at']} is past"


def test_backend_accepts_access_token(platform: Platform, user: Session) -> None:
    """The backend serves the user's thread list for a bearer access token."""
    response = platform.http.get(f"{platform.backend}/api/threads", headers=user.headers)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
    assert isinstance(response.json()["threads"], list), response.text


def test_backend_refuses_a_request_without_token(platform: Platform) -> None:
    """No Authorization header: the threads API answers 401, not data."""
    response = platform.http.get(f"{platform.backend}/api/threads")
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"


def test_backend_refuses_a_tampered_token(platform: Platform, user: Session) -> None:
    """An access token whose signature was altered is refused with 401."""
    head, payload, signature = user.access_token.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    response = platform.http.get(
        f"{platform.backend}/api/threads", headers={"authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"
