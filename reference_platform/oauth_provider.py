"""The OAuth provider stand-in: authorization code with PKCE (S256, RFC 7636), served on
127.0.0.1 under the auth service's own ``/oauth/provider/`` prefix.

It plays the identity provider behind "Sign in with ...": it knows the platform's client and
its registered redirect URIs, signs a user in against the accounts it shares with the auth
service (the stand-in for "the user has an account there"), and redirects back with a code
bound to the client, the redirect URI, the code challenge and the user. The code is exchanged
at most once, before it expires, by the holder of the matching ``code_verifier``, for a
provider access token that its userinfo endpoint accepts. Token errors are RFC 6749 §5.2 JSON
(``{"error": "invalid_grant", "error_description": ...}``); a bad client or redirect URI is a
400 without a redirect, as RFC 6749 §4.1.2.1 wants. Codes and tokens are kept only as their
SHA-256 and never logged.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import html
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from reference_platform import tokens

log = logging.getLogger("oauth_provider")

PREFIX = "/oauth/provider"
_PKCE_VALUE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1, §4.2
ACCESS_TTL_S = 300
_KEPT = 10_000  # codes and tokens kept at most; the oldest go first


def challenge_of(verifier: str) -> str:
    """The S256 code challenge of a verifier: BASE64URL(SHA-256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_value_problem(name: str, value: str) -> str | None:
    """What is wrong with a code challenge or verifier (RFC 7636's 43-128 characters of
    ``A-Z a-z 0-9 - . _ ~``), or None."""
    if not value:
        return f"{name} is missing"
    if not _PKCE_VALUE.match(value):
        return f"{name} must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~'"
    return None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Grant:
    """What an authorization code stands for, and until when."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    email: str
    expires_at: float


@dataclasses.dataclass(frozen=True)
class AuthorizationRequest:
    """The query of an authorize request, checked."""

    client_id: str
    redirect_uri: str
    state: str
    code_challenge: str
    scope: str


class Refused(Exception):
    """A request the provider refuses: the HTTP status and RFC 6749's error and description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status, self.error, self.description = status, error, description

    def response(self) -> JSONResponse:
        """The refusal as the JSON answer RFC 6749 §5.2 describes."""
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={"cache-control": "no-store"},
        )


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; the last value of a repeated field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(urllib.parse.parse_qsl(body, keep_blank_values=True))


class Provider:
    """The provider's clients (id to registered redirect URIs), codes and access tokens."""

    def __init__(
        self,
        clients: Mapping[str, tuple[str, ...]],
        authenticate: Callable[[str, str], bool],
        code_ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = dict(clients)
        self._authenticate = authenticate
        self.code_ttl_s = code_ttl_s
        self._clock = clock
        self._codes: dict[str, Grant] = {}  # by SHA-256 of the code
        self._used: dict[str, float] = {}  # SHA-256 of each exchanged code: when it expires
        self._tokens: dict[str, tuple[str, float]] = {}  # SHA-256 of a token: (email, expiry)

    def routes(self) -> list[BaseRoute]:
        """The provider's endpoints, under ``/oauth/provider``."""
        return [
            Route(f"{PREFIX}/.well-known/openid-configuration", self.discovery),
            Route(f"{PREFIX}/authorize", self.authorize, methods=["GET", "POST"]),
            Route(f"{PREFIX}/token", self.token, methods=["POST"]),
            Route(f"{PREFIX}/userinfo", self.userinfo),
        ]

    async def discovery(self, request: Request) -> JSONResponse:
        """Where the endpoints are and what they support, as OpenID discovery says."""
        base = str(request.base_url).rstrip("/") + PREFIX
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/userinfo",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
            }
        )

    def _request_of(self, query: Mapping[str, str]) -> AuthorizationRequest:
        """The authorize request's query, checked; raises Refused (never a redirect)."""
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        registered = self.clients.get(client_id)
        if registered is None:
            raise Refused(
                400, "invalid_client", f"unknown client_id {client_id!r}: register the client"
            )
        if redirect_uri not in registered:
            raise Refused(
                400,
                "invalid_request",
                f"redirect_uri {redirect_uri!r} is not registered for client {client_id}; "
                f"use one of {', '.join(registered)}",
            )
        if query.get("response_type") != "code":
            raise Refused(400, "unsupported_response_type", "response_type must be code")
        if query.get("code_challenge_method") != "S256":
            raise Refused(
                400, "invalid_request", "code_challenge_method must be S256 (plain is not accepted)"
            )
        problem = pkce_value_problem("code_challenge", query.get("code_challenge", ""))
        if problem:
            raise Refused(400, "invalid_request", problem)
        if not query.get("state"):
            raise Refused(400, "invalid_request", "state is missing: send a fresh one")
        return AuthorizationRequest(
            client_id, redirect_uri, query["state"], query["code_challenge"], query.get("scope", "")
        )

    async def authorize(self, request: Request) -> Response:
        """GET: the sign-in form; POST (the form, with the same query): a redirect back to the
        client with a code and the state, once the user's email and password are right."""
        try:
            checked = self._request_of(request.query_params)
            if request.method == "GET":
                return HTMLResponse(_sign_in_page(str(request.url), checked.client_id))
            form = await _form(request)
            email = self._signed_in(form.get("email", ""), form.get("password", ""))
        except Refused as refused:
            return refused.response()
        code = secrets.token_urlsafe(32)
        self._prune()
        self._codes[_digest(code)] = Grant(
            checked.client_id,
            checked.redirect_uri,
            checked.code_challenge,
            email,
            self._clock() + self.code_ttl_s,
        )
        query = urllib.parse.urlencode({"code": code, "state": checked.state})
        separator = "&" if "?" in checked.redirect_uri else "?"
        return RedirectResponse(f"{checked.redirect_uri}{separator}{query}", status_code=302)

    def _signed_in(self, email: str, password: str) -> str:
        """The user's email, once the password is theirs; raises Refused otherwise."""
        if "@" not in email or not password:
            raise Refused(422, "invalid_request", "the sign-in form needs an email and a password")
        if not self._authenticate(email, password):
            log.warning("provider sign-in refused for %s", email)
            raise Refused(401, "access_denied", "wrong email or password")
        return email.lower()

    def exchange(self, form: Mapping[str, str]) -> str:
        """The email of the user an authorization code stands for; raises Refused with the
        token endpoint's error. A well-formed request spends the code, whatever its outcome."""
        if form.get("grant_type") != "authorization_code":
            raise Refused(400, "unsupported_grant_type", "grant_type must be authorization_code")
        client_id = form.get("client_id", "")
        if client_id not in self.clients:
            raise Refused(401, "invalid_client", f"unknown client_id {client_id!r}")
        code, verifier = form.get("code", ""), form.get("code_verifier", "")
        if not code:
            raise Refused(400, "invalid_request", "code is missing")
        problem = pkce_value_problem("code_verifier", verifier)
        if problem:
            raise Refused(400, "invalid_request", problem)
        key = _digest(code)
        grant = self._codes.pop(key, None)
        if grant is None:
            raise Refused(
                400,
                "invalid_grant",
                "the authorization code was already used: sign in again"
                if key in self._used
                else "the authorization code is unknown",
            )
        self._used[key] = grant.expires_at
        if self._clock() > grant.expires_at:
            raise Refused(
                400,
                "invalid_grant",
                f"the authorization code expired (it lives {self.code_ttl_s:g} s): sign in again",
            )
        if client_id != grant.client_id:
            raise Refused(
                400, "invalid_grant", "the authorization code was issued to another client"
            )
        if form.get("redirect_uri", "") != grant.redirect_uri:
            raise Refused(
                400,
                "invalid_grant",
                "redirect_uri does not match the one of the authorization request",
            )
        if not hmac.compare_digest(challenge_of(verifier), grant.code_challenge):
            raise Refused(400, "invalid_grant", "code_verifier does not match the code_challenge")
        return grant.email

    async def token(self, request: Request) -> JSONResponse:
        """The token endpoint: an authorization code (with its verifier) for an access token."""
        try:
            email = self.exchange(await _form(request))
        except Refused as refused:
            return refused.response()
        token = secrets.token_urlsafe(32)
        self._tokens[_digest(token)] = (email, self._clock() + ACCESS_TTL_S)
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ACCESS_TTL_S,
                "scope": "openid email",
            },
            headers={"cache-control": "no-store"},
        )

    async def userinfo(self, request: Request) -> JSONResponse:
        """Who a provider access token belongs to."""
        token = tokens.bearer(request.headers.get("authorization"))
        found = self._tokens.get(_digest(token)) if token else None
        if found is None or self._clock() > found[1]:
            return Refused(
                401, "invalid_token", "missing, unknown or expired access token"
            ).response()
        email = found[0]
        return JSONResponse(
            {"sub": _digest(f"subject:{email}")[:24], "email": email, "email_verified": True}
        )

    def _prune(self) -> None:
        now = self._clock()
        for table in (self._codes, self._used, self._tokens):
            expired = [key for key, value in table.items() if _expiry(value) < now]
            for key in expired:
                del table[key]
            while len(table) >= _KEPT:
                del table[next(iter(table))]


def _expiry(value: Any) -> float:
    if isinstance(value, Grant):
        return value.expires_at
    if isinstance(value, tuple):
        return float(value[1])
    return float(value)


def _sign_in_page(action: str, client_id: str) -> str:
    """The provider's sign-in form; it posts to the same URL, query and all."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Sign in</title></head><body>"
        f"<h1>Sign in to continue to {html.escape(client_id)}</h1>"
        f"<form method='post' action='{html.escape(action, quote=True)}'>"
        "<label>Email <input name='email' type='email' autocomplete='username'></label>"
        "<label>Password <input name='password' type='password' "
        "autocomplete='current-password'></label>"
        "<button type='submit'>Sign in</button></form></body></html>"
    )
