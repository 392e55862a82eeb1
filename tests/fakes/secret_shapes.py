"""The shapes a known secret takes in the text a test leaves: as it is, URL-encoded,
JSON-escaped, as a URL's password, and an HS256 JWT signed with it. Standard library only:
``tests/fakes/leaky.py`` copies this file into its probe project, whose test imports it, so
the probe and whoever looks for its leaks build the very same texts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import quote

# An HS256 JWT's header and payload, base64url-encoded: {"alg":"HS256","typ":"JWT"} and
# {"sub":"e2e@example.com"}.
JWT_HEAD = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlMmVAZXhhbXBsZS5jb20ifQ"


def jwt_signed_with(secret: str) -> str:
    """A JWT signed with ``secret`` (HS256), as an auth service would issue it."""
    digest = hmac.new(secret.encode(), JWT_HEAD.encode(), hashlib.sha256).digest()
    return f"{JWT_HEAD}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def shapes(secret: str) -> dict[str, str]:
    """Each shape's name and the text that carries ``secret`` in it."""
    encoded = quote(secret, safe="")
    return {
        "bare": secret,
        "URL-encoded": encoded,
        "JSON-escaped": json.dumps(secret)[1:-1],
        "URL password": f"https://e2e:{encoded}@127.0.0.1:9/login",
        "JWT": jwt_signed_with(secret),
    }
