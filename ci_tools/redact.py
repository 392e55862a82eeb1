"""Masks secret values in any text before it leaves the process (records, context, worklog).

Tokens (JWTs, bearer and API keys), passwords in URLs and ``secret=``/``password=``-style pairs
are replaced by ``[REDACTED]``; what they belonged to stays readable.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "[REDACTED]"
# The names of keys whose values are secrets (a pattern, not a secret itself).
_SECRET_KEY = r"[\w-]*(?:secret|password|passwd|pwd|token|api[_-]?key|credential)s?[\w-]*"  # noqa: S105
_SECRET_NAME = re.compile(
    r"(?i)[\w-]*(?:secret|password|passwd|pwd|api[_-]?key|credential)s?"
    r"|(?:access|refresh|id|auth|bearer|api)?[_-]?token"
)
_PATTERNS = (
    # JSON Web Tokens: three base64url parts, the first starting with '{"' encoded.
    (re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*"), MASK),
    # Authorization headers and the like.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[\w.~+/=-]{8,}"), rf"\1 {MASK}"),
    # API-key headers: X-Api-Key: value, x-goog-api-key: value.
    (re.compile(r"(?i)\b((?:x-)?(?:goog-)?api-key\s*:\s*)\S+"), rf"\1{MASK}"),
    # Google API keys.
    (re.compile(r"\bAIza[\w-]{30,}"), MASK),
    # user:password@ (or :password@ with no user) in URLs.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{MASK}@"),
    # key=value, key='value', key="value" (Python reprs, pytest's locals), and
    # "key": "value" / key: 'value' (JSON, YAML), whose key names a secret.
    (re.compile(rf"(?i)\b({_SECRET_KEY})(\s*=\s*)(['\"])(.*?)\3"), rf"\1\2\3{MASK}\3"),
    (re.compile(rf"(?i)\b({_SECRET_KEY})(\s*=\s*)([^\s\"'&,;)}}]+)"), rf"\1\2{MASK}"),
    (re.compile(rf"(?i)([\"']?{_SECRET_KEY}[\"']?\s*:\s*[\"'])([^\"']*)([\"'])"), rf"\1{MASK}\3"),
    # An unquoted "password: value" as people write it (lower-case keys only, so that a
    # message like "JWT_SECRET: cannot sign" keeps its meaning).
    (re.compile(r"\b(password|passwd|secret|token|api_key|apikey)(:\s+)(\S+)"), rf"\1\2{MASK}"),
)


def redact(text: str) -> str:
    """The text with secret-looking values masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_data(data: Any) -> Any:
    """Every string inside a JSON-like structure, redacted."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        # A value under a key that names a secret is masked whatever it looks like.
        return {
            key: MASK
            if isinstance(key, str)
            and _SECRET_NAME.fullmatch(key)
            and isinstance(value, str)
            and value
            else redact_data(value)
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact_data(value) for value in data]
    return data
