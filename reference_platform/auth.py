"""The auth service: login for the seeded dev users, signup, token refresh and verify, and
OAuth sign-in (authorization code with PKCE, ``oauth.py``) against the provider stand-in it
serves under ``/oauth/provider/`` (``oauth_provider.py``).

Tokens are JWTs signed with ``JWT_SECRET``; an OAuth sign-in ends in the same pair. Started
without it (the ``missing_secret`` fault) the service still runs, but issuing a token fails with
500 and an ERROR log naming the variable, as a Cloud Run revision deployed without its secret
reference would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reference_platform import tokens
from reference_platform.lifecycle import uptime_s
from reference_platform.oauth import OAuthSettings, SignIn
from reference_platform.oauth_provider import Provider
from reference_platform.telemetry import RequestLogMiddleware

log = logging.getLogger("auth")

# Development users seeded at start; the suite logs in as them on the local platform.
DEV_USERS = ("alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com")
DEV_PASSWORD = "dev-password"  # noqa: S105 - a documented development credential, not a secret


@dataclasses.dataclass(frozen=True)
class Settings:
    """The auth service's configuration, as its environment gives it."""

    jwt_secret: str | None
    revision: str = "auth-local"
    access_ttl_s: int = 900
    refresh_ttl_s: int = 86_400
    oauth: OAuthSettings = dataclasses.field(default_factory=lambda: OAuthSettings(None))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Reads the settings; a missing JWT_SECRET is allowed here and fails token issue."""
        return cls(
            jwt_secret=env.get("JWT_SECRET") or None,
            revision=env.get("K_REVISION", "auth-local"),
            access_ttl_s=int(env.get("ACCESS_TOKEN_TTL_S", "900")),
            refresh_ttl_s=int(env.get("REFRESH_TOKEN_TTL_S", "86400")),
            oauth=OAuthSettings.from_env(env),
        )


def user_id(email: str) -> str:
    """A user's stable id, derived from the email."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{email.lower()}"))


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**10, r=8, p=1)


class Users:
    """The user table: email to salted scrypt hash."""

    def __init__(self) -> None:
        self._users: dict[str, tuple[bytes, bytes]] = {}

    def add(self, email: str, password: str) -> bool:
        """Adds a user; False when the email is taken."""
        if email.lower() in self._users:
            return False
        salt = secrets.token_bytes(16)
        self._users[email.lower()] = (salt, _hash(password, salt))
        return True

    def check(self, email: str, password: str) -> bool:
        """Whether the password is the user's."""
        found = self._users.get(email.lower())
        return found is not None and hmac.compare_digest(found[1], _hash(password, found[0]))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _credentials(request: Request) -> tuple[str, str] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    email, password = str(body.get("email") or ""), str(body.get("password") or "")
    return (email, password) if "@" in email and password else None


def create_app(settings: Settings | None = None) -> Any:
    """The auth service as an ASGI app, wrapped in the request-log middleware."""
    settings = settings or Settings.from_env(os.environ)
    users = Users()
    for email in DEV_USERS:
        users.add(email, DEV_PASSWORD)

    def no_secret() -> JSONResponse:
        log.error(
            "JWT_SECRET is not set: cannot sign or verify tokens; "
            "add the secret reference to the auth revision"
        )
        return _error(500, "token signing is not configured")

    def token_pair(email: str) -> JSONResponse:
        if not settings.jwt_secret:
            return no_secret()
        uid = user_id(email)
        return JSONResponse(
            {
                "access_token": tokens.issue(
                    settings.jwt_secret, uid, email, "access", settings.access_ttl_s
                ),
                "refresh_token": tokens.issue(
                    settings.jwt_secret, uid, email, "refresh", settings.refresh_ttl_s
                ),
                "token_type": "bearer",
                "expires_in": settings.access_ttl_s,
                "user": {"id": uid, "email": email},
            }
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "service": "auth",
                "revision": settings.revision,
                "uptime_s": round(uptime_s(), 3),
            }
        )

    async def ready(request: Request) -> JSONResponse:
        configured = bool(settings.jwt_secret)
        check = (
            {"status": "up"} if configured else {"status": "down", "error": "JWT_SECRET is not set"}
        )
        body = {
            "status": "ready" if configured else "not_ready",
            "revision": settings.revision,
            "dependencies": {"jwt_secret": check},
        }
        return JSONResponse(body, status_code=200 if configured else 503)

    async def login(request: Request) -> JSONResponse:
        creds = await _credentials(request)
        if creds is None:
            return _error(422, "body must be a JSON object with email and password")
        if not users.check(*creds):
            log.warning("login refused for %s", creds[0])
            return _error(401, "wrong email or password")
        return token_pair(creds[0])

    async def signup(request: Request) -> JSONResponse:
        creds = await _credentials(request)
        if creds is None:
            return _error(422, "body must be a JSON object with email and password")
        if not users.add(*creds):
            return _error(409, "email already registered")
        response = token_pair(creds[0])
        if response.status_code == 200:
            response.status_code = 201
        return response

    async def refresh(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        token = body.get("refresh_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            return _error(422, "body must be a JSON object with refresh_token")
        if not settings.jwt_secret:
            return no_secret()
        try:
            claims = tokens.verify(settings.jwt_secret, token, kind="refresh")
        except tokens.TokenError as exc:
            return _error(401, str(exc))
        return token_pair(claims.email)

    async def verify(request: Request) -> JSONResponse:
        token = tokens.bearer(request.headers.get("authorization"))
        if token is None:
            return _error(401, "missing bearer token")
        if not settings.jwt_secret:
            return no_secret()
        try:
            claims = tokens.verify(settings.jwt_secret, token)
        except tokens.TokenError as exc:
            return _error(401, str(exc))
        return JSONResponse(
            {
                "valid": True,
                "user_id": claims.user_id,
                "email": claims.email,
                "expires_at": claims.expires_at,
            }
        )

    oauth = settings.oauth
    provider = Provider({oauth.client_id: oauth.redirect_uris}, users.check, oauth.code_ttl_s)
    sign_in = SignIn(oauth, token_pair)
    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/health/ready", ready),
            Route("/auth/login", login, methods=["POST"]),
            Route("/auth/signup", signup, methods=["POST"]),
            Route("/auth/refresh", refresh, methods=["POST"]),
            Route("/auth/verify", verify),
            *sign_in.routes(),
            *provider.routes(),
        ],
        lifespan=sign_in.lifespan,
    )
    return RequestLogMiddleware(app)
