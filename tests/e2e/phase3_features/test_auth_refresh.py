"""Phase 3: token refresh, refused credentials, and signing up a new user."""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(3), pytest.mark.priority("P2"), pytest.mark.area("auth")]


def test_refresh_gives_a_working_access_token(platform: Platform, user: Session) -> None:
    """The access token from /auth/refresh is accepted by the backend for the same user."""
    refreshed = platform.refresh(user)
    assert refreshed.user_id == user.user_id, f"refresh is for {refreshed.user_id}"
    thread = platform.create_thread(refreshed, "after refresh")
    response = platform.http.get(
        f"{platform.backend}/api/threads/{thread['id']}", headers=user.headers
    )
    assert response.status_code == 200, f"old token on the new thread: HTTP {response.status_code}"


def test_refreshed_token_is_verified_as_the_same_user(platform: Platform, user: Session) -> None:
    """/auth/verify names the original user for the refreshed access token."""
    response = platform.verify(platform.refresh(user).access_token)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
    assert response.json()["user_id"] == user.user_id, response.text


def test_refreshed_refresh_token_refreshes_again(platform: Platform, user: Session) -> None:
    """The refresh token a refresh returns can itself be used to refresh."""
    twice = platform.refresh(platform.refresh(user))
    assert platform.verify(twice.access_token).status_code == 200


def test_access_token_is_not_accepted_as_refresh_token(platform: Platform, user: Session) -> None:
    """/auth/refresh with an access token is 401 and issues no tokens."""
    response = platform.http.post(
        f"{platform.auth}/auth/refresh", json={"refresh_token": user.access_token}
    )
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"
    assert "access_token" not in response.json(), "tokens issued for an access token"


def test_refresh_token_is_not_accepted_as_access_token(platform: Platform, user: Session) -> None:
    """The backend refuses a refresh token used as bearer token: 401."""
    response = platform.http.get(
        f"{platform.backend}/api/threads",
        headers={"authorization": f"Bearer {user.refresh_token}"},
    )
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"


def test_forged_refresh_token_is_refused(platform: Platform, user: Session) -> None:
    """A refresh token with an altered signature is 401."""
    head, payload, signature = user.refresh_token.split(".")
    response = platform.http.post(
        f"{platform.auth}/auth/refresh",
        json={"refresh_token": f"{head}.{payload}.{signature[::-1]}"},
    )
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"


def test_wrong_password_is_401(platform: Platform) -> None:
    """A seeded user with a wrong password is refused with 401 and no token."""
    response = platform.http.post(
        f"{platform.auth}/auth/login",
        json={"email": platform.users[0], "password": platform.password + "-wrong"},
    )
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"
    assert "access_token" not in response.json(), "a token for a wrong password"


def test_unknown_email_is_401(platform: Platform) -> None:
    """An email nobody signed up with is refused with 401, like a wrong password."""
    response = platform.http.post(
        f"{platform.auth}/auth/login",
        json={"email": platform.unique_email("nobody"), "password": platform.password},
    )
    assert response.status_code == 401, f"HTTP {response.status_code}: {response.text}"


def test_signup_then_login(platform: Platform) -> None:
    """A fresh email signs up (201), then logs in with its password as the same user."""
    email, password = platform.unique_email("signup"), secrets.token_urlsafe(16)
    created = platform.signup(email, password)
    response = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, f"login after signup: HTTP {response.status_code}"
    assert response.json()["user"]["id"] == created.user_id, response.text
    assert platform.verify(response.json()["access_token"]).status_code == 200


def test_signup_of_a_taken_email_is_refused(platform: Platform) -> None:
    """Signing up an email twice is 409 the second time; the first password still works."""
    email, password = platform.unique_email("twice"), secrets.token_urlsafe(16)
    platform.signup(email, password)
    again = platform.http.post(
        f"{platform.auth}/auth/signup", json={"email": email, "password": "another-password"}
    )
    assert again.status_code == 409, f"second signup: HTTP {again.status_code}"
    login = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert login.status_code == 200, f"first password after a refused signup: {login.status_code}"


def test_signup_without_password_is_422(platform: Platform) -> None:
    """A signup body without a password is refused as invalid (422), and creates no user."""
    email = platform.unique_email("nopass")
    response = platform.http.post(f"{platform.auth}/auth/signup", json={"email": email})
    assert response.status_code == 422, f"HTTP {response.status_code}: {response.text}"
    platform.signup(email)  # the email is still free
