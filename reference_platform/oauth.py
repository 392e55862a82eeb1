"""OAuth sign-in, next to password login: the auth service as the provider's client.

The app (a browser, or the end-to-end suite in its place) holds the PKCE pair; the auth service
holds the ``state``. The flow:

1. ``POST /auth/oauth/start`` ``{"code_challenge": C, "code_challenge_method": "S256"}``
   (``redirect_uri`` optional: one of the registered ones) gives ``authorization_url`` and a
   fresh ``state``, bound to this sign-in for ``state_ttl_s``.
2. The app opens ``authorization_url``: the provider signs the user in and redirects to the
   redirect URI with ``code`` and ``state``.
3. ``POST /auth/oauth/callback`` ``{"code", "state", "code_verifier"}``: a state this service
   did not issue (or that expired, or was used) is 400 ``invalid_state``; otherwise the state
   is spent, the code is exchanged with the verifier at the provider's token endpoint over
   HTTP (its ``invalid_grant`` and the like come back as 400 with the provider's
   description), the provider's userinfo names the user, and the answer is the token pair
   password login gives, for the same user id.

The provider's URL is configuration (``OAUTH_PROVIDER_URL``): the stack points it at the
stand-in under this service's own ``/oauth/provider/`` prefix. Codes, verifiers, states and
tokens are never logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from reference_platform.oauth_provider import pkce_value_problem

log = logging.getLogger("auth")

_KEPT = 10_000  # sign-ins under way kept at most; the oldest go first
_TRACE_HEADERS = ("traceparent", "x-cloud-trace-context")  # passed on to the provider


@dataclasses.dataclass(frozen=True)
class OAuthSettings:
    """Where the provider is, and who this service is to it."""

    provider_url: str | None  # the provider's base URL (its /authorize, /token, /userinfo)
    client_id: str = "netra-web"
    redirect_uris: tuple[str, ...] = ("http://localhost:3000/auth/callback",)
    code_ttl_s: float = 60.0  # the stand-in provider's codes
    state_ttl_s: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OAuthSettings:
        """Reads ``OAUTH_*``; without ``OAUTH_PROVIDER_URL`` the provider is this service's own
        stand-in on ``$PORT``, and without that OAuth sign-in is not configured."""
        default = cls(provider_url=None)
        port = env.get("PORT")
        own = f"http://127.0.0.1:{port}/oauth/provider" if port else None
        uris = tuple(u for u in env.get("OAUTH_REDIRECT_URIS", "").split(",") if u.strip())
        return cls(
            provider_url=(env.get("OAUTH_PROVIDER_URL") or own or "").rstrip("/") or None,
            client_id=env.get("OAUTH_CLIENT_ID") or default.client_id,
            redirect_uris=tuple(u.strip() for u in uris) or default.redirect_uris,
            code_ttl_s=float(env.get("OAUTH_CODE_TTL_S") or default.code_ttl_s),
            state_ttl_s=float(env.get("OAUTH_STATE_TTL_S") or default.state_ttl_s),
        )


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One sign-in under way: where the provider sends the user back, and until when."""

    redirect_uri: str
    expires_at: float


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"cache-control": "no-store"},
    )


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


class SignIn:
    """The sign-ins under way, by state, and the two endpoints that run them."""

    def __init__(
        self,
        settings: OAuthSettings,
        issue: Callable[[str], JSONResponse],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._issue = issue  # the token pair for an email, as password login gives it
        # One client for the calls to the provider (its token and userinfo endpoints).
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        self._clock = clock
        self._attempts: dict[str, Attempt] = {}

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """The app's lifespan: the provider's client is closed when the service stops."""
        yield
        await self._client.aclose()

    def routes(self) -> list[BaseRoute]:
        """The sign-in endpoints, under ``/auth/oauth``."""
        return [
            Route("/auth/oauth/start", self.start, methods=["POST"]),
            Route("/auth/oauth/callback", self.callback, methods=["POST"]),
        ]

    async def start(self, request: Request) -> JSONResponse:
        """A new sign-in: its state and the provider's authorization URL."""
        settings = self.settings
        if settings.provider_url is None:
            return _error(
                503,
                "temporarily_unavailable",
                "OAuth sign-in is not configured: set OAUTH_PROVIDER_URL",
            )
        body = await _json_object(request)
        if body is None:
            return _error(
                422,
                "invalid_request",
                'body must be a JSON object like {"code_challenge": "...", '
                '"code_challenge_method": "S256"}',
            )
        redirect_uri = _text(body, "redirect_uri") or settings.redirect_uris[0]
        if redirect_uri not in settings.redirect_uris:
            return _error(
                400,
                "invalid_request",
                f"redirect_uri {redirect_uri!r} is not registered; use one of "
                f"{', '.join(settings.redirect_uris)}",
            )
        if _text(body, "code_challenge_method") != "S256":
            return _error(
                400, "invalid_request", "code_challenge_method must be S256 (plain is not accepted)"
            )
        challenge = _text(body, "code_challenge")
        problem = pkce_value_problem("code_challenge", challenge)
        if problem:
            return _error(400, "invalid_request", problem)
        state = secrets.token_urlsafe(24)
        self._prune()
        self._attempts[state] = Attempt(redirect_uri, self._clock() + settings.state_ttl_s)
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid email",
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return JSONResponse(
            {
                "authorization_url": f"{settings.provider_url}/authorize?{query}",
                "state": state,
                "redirect_uri": redirect_uri,
                "expires_in": int(settings.state_ttl_s),
            },
            headers={"cache-control": "no-store"},
        )

    async def callback(self, request: Request) -> JSONResponse:
        """The end of a sign-in: the provider's code (and the app's verifier) for a token pair."""
        body = await _json_object(request)
        names = ("code", "state", "code_verifier")
        if body is None or not all(_text(body, name) for name in names):
            return _error(
                422,
                "invalid_request",
                'body must be a JSON object like {"code": "...", "state": "...", '
                '"code_verifier": "..."}',
            )
        attempt = self._attempts.pop(_text(body, "state"), None)
        if attempt is None or self._clock() > attempt.expires_at:
            log.warning("OAuth callback refused: state mismatch")
            return _error(
                400,
                "invalid_state",
                "state mismatch: this service started no sign-in with that state, or it "
                "expired or was used; start the sign-in again",
            )
        trace = {k: v for k, v in request.headers.items() if k.lower() in _TRACE_HEADERS}
        provider = self.settings.provider_url
        try:
            exchanged = await self._client.post(
                f"{provider}/token",
                data={
                    "grant_type": "authorization_code",
                    "code": _text(body, "code"),
                    "redirect_uri": attempt.redirect_uri,
                    "client_id": self.settings.client_id,
                    "code_verifier": _text(body, "code_verifier"),
                },
                headers=trace,
            )
            if exchanged.status_code != 200:
                return self._refused(exchanged)
            userinfo = await self._client.get(
                f"{provider}/userinfo",
                headers={
                    **trace,
                    "authorization": f"Bearer {exchanged.json()['access_token']}",
                },
            )
            if userinfo.status_code != 200:
                return self._refused(userinfo)
            email = str(userinfo.json()["email"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.error("OAuth provider unusable at %s: %s", provider, type(exc).__name__)
            return _error(
                502,
                "temporarily_unavailable",
                f"the OAuth provider did not answer properly ({type(exc).__name__})",
            )
        return self._issue(email)

    def _refused(self, response: httpx.Response) -> JSONResponse:
        """The provider's refusal, passed on: 400 with its error and description."""
        try:
            body = response.json()
            error, description = str(body["error"]), str(body.get("error_description", ""))
        except (ValueError, KeyError, TypeError):
            error, description = "server_error", f"HTTP {response.status_code}"
        log.warning("OAuth sign-in refused by the provider: %s: %s", error, description)
        status = 502 if response.status_code >= 500 else 400
        return _error(status, error, f"the OAuth provider refused the code: {description}")

    def _prune(self) -> None:
        now = self._clock()
        for state in [s for s, a in self._attempts.items() if a.expires_at < now]:
            del self._attempts[state]
        while len(self._attempts) >= _KEPT:
            del self._attempts[next(iter(self._attempts))]
