"""Phase 3: OAuth sign-in (authorization code with PKCE, S256) next to password login.

The suite plays the web app: it makes the PKCE pair, starts the sign-in at the auth service,
signs in on the provider's page (the environment's OAuth provider; the local platform serves a
stand-in under the auth URL), reads the code from the redirect without following it, and
finishes at the auth service. Everything goes through the auth URL and the plugin's clients.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import secrets
import urllib.parse

import httpx
import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(3), pytest.mark.priority("P2"), pytest.mark.area("auth")]


@dataclasses.dataclass(frozen=True)
class SignIn:
    """One sign-in under way: the app's PKCE pair and what the auth service answered."""

    verifier: str
    challenge: str
    state: str
    authorization_url: str
    redirect_uri: str


@dataclasses.dataclass(frozen=True)
class Redirect:
    """Where the provider sent the browser back."""

    location: str
    code: str
    state: str


def pkce_pair() -> tuple[str, str]:
    """A fresh code verifier and its S256 challenge, computed by the suite (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def begin(platform: Platform) -> SignIn:
    """Starts a sign-in; fails the test if the auth service refuses."""
    verifier, challenge = pkce_pair()
    response = platform.http.post(
        f"{platform.auth}/auth/oauth/start",
        json={"code_challenge": challenge, "code_challenge_method": "S256"},
    )
    assert response.status_code == 200, f"start: HTTP {response.status_code}: {response.text}"
    body = response.json()
    return SignIn(
        verifier, challenge, body["state"], body["authorization_url"], body["redirect_uri"]
    )


def sign_in_at_provider(platform: Platform, url: str, user: int = 0) -> Redirect:
    """Opens the provider's sign-in page and submits it as a test user; the redirect back."""
    page = platform.http.get(url)
    assert page.status_code == 200, f"provider page: HTTP {page.status_code}: {page.text}"
    answer = platform.http.post(
        url, data={"email": platform.users[user], "password": platform.password}
    )
    assert answer.status_code in (302, 303), f"provider sign-in: HTTP {answer.status_code}"
    location = answer.headers["location"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert "code" in query, f"no code in the redirect to {location.split('?')[0]}"
    return Redirect(location, query["code"], query.get("state", ""))


def finish(platform: Platform, code: str, state: str, verifier: str) -> httpx.Response:
    """The auth service's callback with the code, the state and the verifier."""
    return platform.http.post(
        f"{platform.auth}/auth/oauth/callback",
        json={"code": code, "state": state, "code_verifier": verifier},
    )


def signed_in(platform: Platform, user: int = 0) -> Session:
    """A complete OAuth sign-in of a test user, as a session."""
    started = begin(platform)
    redirect = sign_in_at_provider(platform, started.authorization_url, user)
    answer = finish(platform, redirect.code, redirect.state, started.verifier)
    assert answer.status_code == 200, f"callback: HTTP {answer.status_code}: {answer.text}"
    body = answer.json()
    return Session(
        body["user"]["email"], body["user"]["id"], body["access_token"], body["refresh_token"]
    )


def error_of(response: httpx.Response) -> str:
    """The OAuth error code of a refusal ("" when the body has none)."""
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


@pytest.mark.priority("P1")
def test_pkce_sign_in_gives_the_token_pair_of_password_login(platform: Platform) -> None:
    """The full flow: the provider redirects to the registered URI with the state it was given,
    and the callback gives a token pair for the same user (id and email) as password login."""
    started = begin(platform)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started.authorization_url).query))
    assert (query.get("code_challenge"), query.get("code_challenge_method")) == (
        started.challenge,
        "S256",
    ), f"authorization URL query {sorted(query)}"
    redirect = sign_in_at_provider(platform, started.authorization_url)
    assert redirect.location.startswith(started.redirect_uri), "redirected elsewhere"
    assert redirect.state == started.state, "the provider did not return the state"
    answer = finish(platform, redirect.code, redirect.state, started.verifier)
    assert answer.status_code == 200, f"callback: HTTP {answer.status_code}: {answer.text}"
    body = answer.json()
    assert body["access_token"] != body["refresh_token"], "one token serves as both kinds"
    by_password = platform.login(0)
    assert body["user"] == {"id": by_password.user_id, "email": by_password.email}, body["user"]
    verified = platform.verify(body["access_token"])
    assert verified.status_code == 200, f"verify: HTTP {verified.status_code}"
    assert verified.json()["user_id"] == by_password.user_id, verified.text


@pytest.mark.priority("P1")
@pytest.mark.area("threads", "websocket")
def test_the_oauth_access_token_is_accepted_by_the_backend(platform: Platform) -> None:
    """The OAuth session creates a thread over REST that the password session of the same user
    reads, and opens a WebSocket session as that user."""
    oauth = signed_in(platform, 1)
    thread = platform.create_thread(oauth, "signed in with OAuth")
    same_user = platform.login(1)
    seen = platform.http.get(
        f"{platform.backend}/api/threads/{thread['id']}", headers=same_user.headers
    )
    assert seen.status_code == 200, f"password session on the OAuth thread: HTTP {seen.status_code}"
    ws = platform.ws_connect(token=oauth.access_token)
    greeting = json.loads(ws.recv(timeout=10))
    assert greeting["type"] == "connected", greeting
    assert greeting["user_id"] == same_user.user_id, greeting


def test_a_state_mismatch_is_refused_and_spoils_nothing(platform: Platform) -> None:
    """A callback carrying another state than the one issued is 400 invalid_state with no
    token; the callback with the right state then completes."""
    started = begin(platform)
    redirect = sign_in_at_provider(platform, started.authorization_url)
    forged = finish(platform, redirect.code, secrets.token_urlsafe(24), started.verifier)
    assert forged.status_code == 400, f"forged state: HTTP {forged.status_code}"
    assert error_of(forged) == "invalid_state", forged.text
    assert "access_token" not in forged.json(), "tokens for a forged state"
    real = finish(platform, redirect.code, redirect.state, started.verifier)
    assert real.status_code == 200, f"real state after a forged one: HTTP {real.status_code}"


def test_an_authorization_code_is_single_use(platform: Platform) -> None:
    """A code that signed the user in once is refused the second time (under a fresh, valid
    state) with 400 invalid_grant, and gives no token."""
    started = begin(platform)
    redirect = sign_in_at_provider(platform, started.authorization_url)
    first = finish(platform, redirect.code, redirect.state, started.verifier)
    assert first.status_code == 200, f"first exchange: HTTP {first.status_code}: {first.text}"
    again = finish(platform, redirect.code, begin(platform).state, started.verifier)
    assert again.status_code == 400, f"second exchange: HTTP {again.status_code}"
    assert error_of(again) == "invalid_grant", again.text
    assert "access_token" not in again.json(), "tokens for a used code"


def test_a_wrong_code_verifier_is_refused(platform: Platform) -> None:
    """A well-formed verifier that is not the one behind the challenge is 400 invalid_grant."""
    started = begin(platform)
    redirect = sign_in_at_provider(platform, started.authorization_url)
    other_verifier, _ = pkce_pair()
    wrong = finish(platform, redirect.code, redirect.state, other_verifier)
    assert wrong.status_code == 400, f"wrong verifier: HTTP {wrong.status_code}"
    assert error_of(wrong) == "invalid_grant", wrong.text
    assert "verifier" in wrong.json().get("error_description", ""), wrong.text


def test_a_redirect_uri_mismatch_is_refused(platform: Platform) -> None:
    """An unregistered redirect_uri is refused by the auth service, and by the provider without
    redirecting there."""
    _, challenge = pkce_pair()
    elsewhere = "https://attacker.example/callback"
    refused = platform.http.post(
        f"{platform.auth}/auth/oauth/start",
        json={
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "redirect_uri": elsewhere,
        },
    )
    assert refused.status_code == 400, f"start with {elsewhere}: HTTP {refused.status_code}"
    started = begin(platform)
    registered = urllib.parse.quote(started.redirect_uri, safe="")
    assert registered in started.authorization_url, "redirect_uri not in the authorization URL"
    swapped = started.authorization_url.replace(registered, urllib.parse.quote(elsewhere, safe=""))
    answer = platform.http.post(
        swapped, data={"email": platform.users[0], "password": platform.password}
    )
    assert answer.status_code == 400, f"provider with {elsewhere}: HTTP {answer.status_code}"
    assert not answer.headers.get("location", "").startswith(elsewhere), "redirected to it"


def test_the_plain_challenge_method_is_refused(platform: Platform) -> None:
    """code_challenge_method plain (the verifier in the clear) is refused: S256 only."""
    verifier, _ = pkce_pair()
    response = platform.http.post(
        f"{platform.auth}/auth/oauth/start",
        json={"code_challenge": verifier, "code_challenge_method": "plain"},
    )
    assert response.status_code == 400, f"plain: HTTP {response.status_code}: {response.text}"
    assert "S256" in response.json().get("error_description", ""), response.text


def test_a_wrong_password_at_the_provider_gives_no_code(platform: Platform) -> None:
    """The provider refuses a wrong password with 401 and redirects nowhere."""
    started = begin(platform)
    answer = platform.http.post(
        started.authorization_url,
        data={"email": platform.users[0], "password": platform.password + "-wrong"},
    )
    assert answer.status_code == 401, f"wrong password: HTTP {answer.status_code}"
    assert "location" not in answer.headers, "redirected with a wrong password"


def test_the_oauth_refresh_token_refreshes(platform: Platform) -> None:
    """The refresh token of an OAuth sign-in gives a new pair for the same user."""
    oauth = signed_in(platform, 0)
    refreshed = platform.refresh(oauth)
    assert refreshed.user_id == oauth.user_id, f"refresh is for {refreshed.user_id}"
    assert platform.verify(refreshed.access_token).status_code == 200
