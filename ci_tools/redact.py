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
_PATTERNS = (
    # JSON Web Tokens: three base64url parts, the first starting with '{"' encoded.
    (re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*"), MASK),
    # Authorization headers and the like.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[\w.~+/=-]{8,}"), rf"\1 {MASK}"),
    # Google API keys.
    (re.compile(r"\bAIza[\w-]{30,}"), MASK),
    # user:password@ in URLs.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\1{MASK}@"),
    # key=value pairs, and "key": "value" in JSON, whose key names a secret.
    (re.compile(rf"(?i)\b({_SECRET_KEY})(\s*=\s*)([^\s\"'&,;}}]+)"), rf"\1\2{MASK}"),
    (re.compile(rf"(?i)([\"']?{_SECRET_KEY}[\"']?\s*:\s*[\"'])([^\"']*)([\"'])"), rf"\1{MASK}\3"),
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
        return {key: redact_data(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(value) for value in data]
    return data
