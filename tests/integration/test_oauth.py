"""OAuth sign-in against the platform's provider stand-in, on real processes: authorization code
with PKCE (S256), the state checked, the code single-use, expiring and bound to its verifier and
redirect URI, ending in the token pair password login gives; nothing secret in the logs."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest

from reference_platform import stack
from tests.integration.conftest import StartStack
from tests.integration.helpers import PASSWORD, log_entries, wait_for

pytestmark = pytest.mark.integration
EMAIL = "dave@example.com"


@dataclasses.dataclass(frozen=True)
class Redirect:
    """Where the provider sent the user back, with the code and the state."""

    url: str
    code: str
    state: str


def pkce() -> tuple[str, str]:
    """A fresh code verifier and its S256 challenge, computed here, not by the platform."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def start(auth: str, challenge: str, **extra: str) -> httpx.Response:
    """POST /auth/oauth/start for an S256 challenge."""
    body = {"code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return httpx.post(f"{auth}/auth/oauth/start", json=body)


def sign_in_at_provider(authorization_url: str, email: str = EMAIL) -> Redirect:
    """Opens the provider's page and posts its form; the redirect it answers with."""
    page = httpx.get(authorization_url)
    assert page.status_code == 200, page.text
    assert "<form method='post'" in page.text
    answer = httpx.post(authorization_url, data={"email": email, "password": PASSWORD})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    return Redirect(location, query["code"], query["state"])


def callback(auth: str, code: str, state: str, verifier: str, **headers: str) -> httpx.Response:
    """POST /auth/oauth/callback."""
    return httpx.post(
        f"{auth}/auth/oauth/callback",
        json={"code": code, "state": state, "code_verifier": verifier},
        headers=headers,
    )


def started(auth: str, challenge: str) -> dict[str, str]:
    """A started sign-in's answer (authorization_url, state, redirect_uri)."""
    response = start(auth, challenge)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_pkce_sign_in_ends_in_the_token_pair_of_password_login(healthy: stack.State) -> None:
    """Start, the provider's form, the callback: a token pair for the same user id as password
    login, accepted by the backend, refreshable and verified."""
    auth, backend = healthy.urls["auth"], healthy.urls["backend"]
    verifier, challenge = pkce()
    begun = started(auth, challenge)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(begun["authorization_url"]).query))
    assert query["code_challenge"] == challenge
    assert query["code_challenge_method"] == "S256"
    assert query["state"] == begun["state"]
    redirect = sign_in_at_provider(begun["authorization_url"])
    assert redirect.url.startswith(f"{begun['redirect_uri']}?")
    assert redirect.state == begun["state"]

    answer = callback(auth, redirect.code, redirect.state, verifier)
    assert answer.status_code == 200, answer.text
    pair = answer.json()
    password_login = httpx.post(f"{auth}/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert pair["user"] == password_login.json()["user"]
    assert set(pair) == set(password_login.json())
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    assert httpx.get(f"{backend}/api/threads", headers=bearer).status_code == 200
    refreshed = httpx.post(f"{auth}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    assert refreshed.json()["user"]["id"] == pair["user"]["id"]


def test_a_state_this_service_did_not_issue_is_400_and_spoils_nothing(
    healthy: stack.State,
) -> None:
    """A callback with another state is 400 invalid_state naming the mismatch; the sign-in
    with the real state still completes, and that state works once only."""
    auth = healthy.urls["auth"]
    verifier, challenge = pkce()
    redirect = sign_in_at_provider(started(auth, challenge)["authorization_url"])
    forged = callback(auth, redirect.code, secrets.token_urlsafe(24), verifier)
    assert forged.status_code == 400
    assert forged.json()["error"] == "invalid_state"
    assert forged.json()["error_description"].startswith("state mismatch: ")
    assert "access_token" not in forged.json()
    assert callback(auth, redirect.code, redirect.state, verifier).status_code == 200
    replay = callback(auth, redirect.code, redirect.state, verifier)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_state")


def test_a_code_is_exchanged_once(healthy: stack.State) -> None:
    """The second exchange of a code, under a fresh valid state, is 400 invalid_grant saying
    it was used; so is a second exchange at the provider's token endpoint itself."""
    auth = healthy.urls["auth"]
    verifier, challenge = pkce()
    redirect = sign_in_at_provider(started(auth, challenge)["authorization_url"])
    assert callback(auth, redirect.code, redirect.state, verifier).status_code == 200
    again = callback(auth, redirect.code, started(auth, challenge)["state"], verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert "already used" in again.json()["error_description"]

    begun = started(auth, challenge)
    direct = sign_in_at_provider(begun["authorization_url"])
    form = {
        "grant_type": "authorization_code",
        "code": direct.code,
        "redirect_uri": begun["redirect_uri"],
        "client_id": stack.OAUTH_CLIENT_ID,
        "code_verifier": verifier,
    }
    token_url = f"{auth}/oauth/provider/token"
    first, second = httpx.post(token_url, data=form), httpx.post(token_url, data=form)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    assert (second.status_code, second.json()["error"]) == (400, "invalid_grant")


def test_a_wrong_verifier_is_invalid_grant_and_spends_the_code(healthy: stack.State) -> None:
    """A verifier whose S256 is not the code's challenge is 400 invalid_grant; the code is
    spent by that try, so the right verifier afterwards is refused too."""
    auth = healthy.urls["auth"]
    verifier, challenge = pkce()
    redirect = sign_in_at_provider(started(auth, challenge)["authorization_url"])
    wrong = callback(auth, redirect.code, redirect.state, pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "the OAuth provider refused the code: "
        "code_verifier does not match the code_challenge",
    }
    late = callback(auth, redirect.code, started(auth, challenge)["state"], verifier)
    assert (late.status_code, late.json()["error"]) == (400, "invalid_grant")


def test_the_redirect_uri_must_be_the_registered_one(healthy: stack.State) -> None:
    """An unregistered redirect_uri is refused by the auth service and by the provider (400,
    no redirect to it), and a token request with another one than authorize's is invalid_grant."""
    auth = healthy.urls["auth"]
    verifier, challenge = pkce()
    refused = start(auth, challenge, redirect_uri="https://attacker.example/callback")
    assert refused.status_code == 400
    assert stack.OAUTH_REDIRECT_URI in refused.json()["error_description"]

    url = started(auth, challenge)["authorization_url"]
    swapped = url.replace(
        urllib.parse.quote(stack.OAUTH_REDIRECT_URI, safe=""),
        urllib.parse.quote("https://attacker.example/callback", safe=""),
    )
    assert swapped != url
    for method in ("GET", "POST"):
        answer = httpx.request(
            method,
            swapped,
            data={"email": EMAIL, "password": PASSWORD} if method == "POST" else None,
        )
        assert answer.status_code == 400, answer.text
        assert "location" not in answer.headers
        assert answer.json()["error_description"].startswith(
            "redirect_uri 'https://attacker.example/callback' is not registered"
        )

    redirect = sign_in_at_provider(url)
    exchanged = httpx.post(
        f"{auth}/oauth/provider/token",
        data={
            "grant_type": "authorization_code",
            "code": redirect.code,
            "redirect_uri": f"{stack.OAUTH_REDIRECT_URI}/other",
            "client_id": stack.OAUTH_CLIENT_ID,
            "code_verifier": verifier,
        },
    )
    assert exchanged.status_code == 400
    assert exchanged.json()["error"] == "invalid_grant"
    assert "redirect_uri does not match" in exchanged.json()["error_description"]


def test_only_s256_and_well_formed_values_are_accepted(healthy: stack.State) -> None:
    """code_challenge_method plain, a short challenge, a wrong password or a body that is not
    JSON: each refused in one clear line, and no code is issued."""
    auth = healthy.urls["auth"]
    verifier, challenge = pkce()
    plain = httpx.post(
        f"{auth}/auth/oauth/start",
        json={"code_challenge": verifier, "code_challenge_method": "plain"},
    )
    assert plain.status_code == 400
    assert plain.json()["error_description"] == (
        "code_challenge_method must be S256 (plain is not accepted)"
    )
    short = start(auth, "abc")
    assert short.status_code == 400
    assert short.json()["error_description"].startswith("code_challenge must be 43 to 128")
    url = started(auth, challenge)["authorization_url"]
    at_provider = httpx.get(
        url.replace("code_challenge_method=S256", "code_challenge_method=plain")
    )
    assert at_provider.status_code == 400
    wrong = httpx.post(url, data={"email": EMAIL, "password": "not-the-password"})
    assert wrong.status_code == 401
    assert "location" not in wrong.headers
    not_json = httpx.post(
        f"{auth}/auth/oauth/callback", content=b"code=1", headers={"content-type": "text/plain"}
    )
    assert not_json.status_code == 422


def test_an_expired_code_is_invalid_grant(start_stack: StartStack) -> None:
    """A code exchanged after its lifetime (1 s here) is 400 invalid_grant saying it expired."""
    state = start_stack(oauth_code_ttl_s=1)
    auth = state.urls["auth"]
    verifier, challenge = pkce()
    redirect = sign_in_at_provider(started(auth, challenge)["authorization_url"])
    time.sleep(1.3)
    late = callback(auth, redirect.code, redirect.state, verifier)
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"
    assert "expired (it lives 1 s)" in late.json()["error_description"]


def test_the_provider_calls_carry_the_callers_trace_and_nothing_secret_is_logged(
    healthy: stack.State,
) -> None:
    """The callback's trace id is on the provider's token and userinfo request lines; no code,
    verifier, token or password is in any log or file of the platform."""
    auth = healthy.urls["auth"]
    verifier, challenge = pkce()
    redirect = sign_in_at_provider(started(auth, challenge)["authorization_url"])
    trace = secrets.token_hex(16)
    answer = callback(
        auth, redirect.code, redirect.state, verifier, traceparent=f"00-{trace}-{'3' * 16}-01"
    )
    assert answer.status_code == 200

    def traced() -> list[str]:
        # A request's line is written once its answer is sent: the callback's may come late.
        lines = [
            e["httpRequest"]["requestUrl"].rpartition("/")[2]
            for e in log_entries(healthy, "auth")
            if "httpRequest" in e
            and e.get("logging.googleapis.com/trace") == f"projects/local/traces/{trace}"
        ]
        return sorted(lines) if len(lines) >= 3 else []

    assert wait_for(traced) == ["callback", "token", "userinfo"]
    pair = answer.json()
    kept = (redirect.code, verifier, pair["access_token"], pair["refresh_token"], PASSWORD)
    logs = Path(healthy.logs["auth"]).parent
    holding = [
        path.name
        for path in logs.parent.rglob("*")
        if path.is_file() and any(value in path.read_text(errors="replace") for value in kept)
    ]
    assert holding == []
