"""JWTs as the auth service issues them and every service verifies them (HS256, JWT_SECRET)."""

from __future__ import annotations

import dataclasses
import secrets
import time

import jwt

ALGORITHM = "HS256"


class TokenError(Exception):
    """A token is missing, malformed, expired, or of the wrong kind."""


@dataclasses.dataclass(frozen=True)
class Claims:
    """What a verified token says about its bearer."""

    user_id: str
    email: str
    kind: str  # "access" or "refresh"
    expires_at: int


def issue(secret: str, user_id: str, email: str, kind: str, ttl_s: int) -> str:
    """A signed token of ``kind`` for the user, valid for ``ttl_s`` seconds."""
    now = int(time.time())
    payload = {
        "sub": user_id,
        "email": email,
        "typ": kind,
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str, kind: str = "access") -> Claims:
    """The claims of a valid token of ``kind``; raises TokenError otherwise."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "typ"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("token invalid") from exc
    if payload["typ"] != kind:
        raise TokenError(f"expected {_article(kind)} token, got {_article(payload['typ'])} token")
    return Claims(str(payload["sub"]), str(payload.get("email", "")), kind, int(payload["exp"]))


def _article(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
