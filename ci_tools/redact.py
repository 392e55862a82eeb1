"""Masks secrets in any text before it leaves the process (records, context, worklog, the
job log), by value and by shape.

By value: the secrets this process knows, read from the environment when first needed (or when
``register_environment`` is called): the test users' password (``CI_TOOLS_E2E_PASSWORD``), the
value of every variable whose name says it holds a secret (``*_PASSWORD``, ``*_SECRET``,
``*_TOKEN``, ``*_API_KEY``...), the password of every URL in a variable (a DSN such as
``CI_TOOLS_HISTORY_URL``), and any value ``register``-ed; each also as it reads URL-encoded,
JSON-escaped and in a Python repr, and a start or an end of it beside an ellipsis (pytest cuts
long lines and reprs short). By shape: tokens (JWTs, bearer and API keys), passwords in URLs
and ``secret=``/``password=``-style pairs, whoever issued them. Either is replaced by
``[REDACTED]``; what it belonged to stays readable.

``redact_stream`` (``redacting``: on a thread of its own) copies a process's output through the
same filter, line by line: each phase's pytest output reaches its file (``phaseN.log``)
through it.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import IO, Any
from urllib.parse import quote, quote_plus, unquote

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
    # ... and one a repr or a summary line cut short ('eyJhbGciOiJI...6yJV_adQssw5c').
    (re.compile(r"\beyJ[\w.-]*?(?:\.\.\.|…)[\w.-]*"), MASK),
    # Authorization headers and the like.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[\w.~+/=-]{8,}"), rf"\1 {MASK}"),
    # API-key headers: X-Api-Key: value, x-goog-api-key: value.
    (re.compile(r"(?i)\b((?:x-)?(?:goog-)?api-key\s*:\s*)\S+"), rf"\1{MASK}"),
    # Google API keys.
    (re.compile(r"\bAIza[\w-]{30,}"), MASK),
    # user:password@ (or :password@ with no user) in URLs.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{MASK}@"),
)
# A word every pattern below needs: a text without one is spared them (most lines of output).
_KEYWORD = re.compile(r"(?i)secret|passw|pwd|token|api[_-]?key|credential")
_KEYED_PATTERNS = (
    # key=value, key='value', key="value" (Python reprs, pytest's locals), and
    # "key": "value" / key: 'value' (JSON, YAML), whose key names a secret; not a comparison
    # (``password == "x"``: the line of an assert).
    (re.compile(rf"(?i)\b({_SECRET_KEY})(\s*=(?!=)\s*)(['\"])(.*?)\3"), rf"\1\2\3{MASK}\3"),
    (re.compile(rf"(?i)\b({_SECRET_KEY})(\s*=(?!=)\s*)([^\s\"'&,;)}}]+)"), rf"\1\2{MASK}"),
    # (Starting where a word does: tried inside every word too, it cost four times as much.)
    (
        re.compile(rf"(?i)(?<![\w-])([\"']?{_SECRET_KEY}[\"']?\s*:\s*[\"'])([^\"']*)([\"'])"),
        rf"\1{MASK}\3",
    ),
    # An unquoted "password: value" as people write it (lower-case keys only, so that a
    # message like "JWT_SECRET: cannot sign" keeps its meaning).
    (re.compile(r"\b(password|passwd|secret|token|api_key|apikey)(:\s+)(\S+)"), rf"\1\2{MASK}"),
)


# Shorter values are not secrets worth masking everywhere ("1", "true", "ok"): masking them
# would garble every text they occur in.
MIN_SECRET_LENGTH = 6
# Variables whose value is a secret whatever their name says.
SECRET_VARIABLES = frozenset({"CI_TOOLS_E2E_PASSWORD"})
# The names of variables that hold a secret: FOO_SECRET, PGPASSWORD, GITHUB_TOKEN, X_API_KEY.
# Not PWD (the working directory), nor *_CREDENTIALS (a file's path, as Google's).
_SECRET_VARIABLE = re.compile(
    r"(?i)(?:secret|password|passwd|token|api_?key|access_?key|private_?key|(?:^|_)pass)$"
)
# The password of a URL: scheme://user:password@host (the user may be empty).
_URL_PASSWORD = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]*:([^@\s/]+)@")


def secrets_of(environ: Mapping[str, str]) -> frozenset[str]:
    """The secret values an environment holds: the values of ``SECRET_VARIABLES`` and of the
    variables whose name names a secret, and the password of any URL in a variable (as
    written, and decoded); none shorter than ``MIN_SECRET_LENGTH``."""
    found: set[str] = set()
    for name, value in environ.items():
        if name in SECRET_VARIABLES or _SECRET_VARIABLE.search(name):
            found.add(value.strip())
        if "://" in value:
            for password in _URL_PASSWORD.findall(value):
                found.update((password, unquote(password)))
    return frozenset(v for v in found if len(v) >= MIN_SECRET_LENGTH)


def _forms(value: str) -> set[str]:
    """A secret as text may carry it: as it is, URL-encoded, JSON-escaped, in a Python repr."""
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    forms.add(repr(value)[1:-1])
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


_ELLIPSIS = re.compile(r"\.\.\.|…")  # where pytest (and rich) cut a long text short
_CUT = 4  # the shortest part of a secret masked beside an ellipsis


def _start_before(text: str, at: int, value: str) -> int:
    """How long a start of ``value`` (shorter than it, at least ``_CUT``) ``text`` has right
    before ``at``; 0 when none."""
    longest = 0
    if at >= _CUT:
        tail = text[at - _CUT : at]
        found = value.find(tail)
        while found != -1:
            length = found + _CUT
            if (
                length < len(value)
                and length <= at
                and text.startswith(value[:length], at - length)
            ):
                longest = max(longest, length)
            found = value.find(tail, found + 1)
    return longest


def _end_after(text: str, at: int, value: str) -> int:
    """How long an end of ``value`` (shorter than it, at least ``_CUT``) ``text`` has from
    ``at`` on; 0 when none."""
    longest = 0
    head = text[at : at + _CUT]
    if len(head) == _CUT:
        found = value.find(head, 1)
        while found != -1:
            if text.startswith(value[found:], at):
                longest = max(longest, len(value) - found)
            found = value.find(head, found + 1)
    return longest


def _mask_cut_short(text: str, values: Iterable[str], parts: frozenset[str]) -> str:
    """``text`` with the parts of secrets it cut short masked: pytest cuts a summary line at
    the terminal's width ('refused for Zq8vN3xK7p...') and a long repr in its middle
    ('...6yJV_adQssw5c'): a start of a secret before an ellipsis, an end of one after it.
    ``parts``: every ``_CUT`` characters in a row of the values, for a quick no."""
    spans: list[tuple[int, int]] = []
    for ellipsis in _ELLIPSIS.finditer(text):
        start, end = ellipsis.span()
        near = text[max(start - _CUT, 0) : start] in parts, text[end : end + _CUT] in parts
        before = max((_start_before(text, start, v) for v in values), default=0) if near[0] else 0
        after = max((_end_after(text, end, v) for v in values), default=0) if near[1] else 0
        if before:
            spans.append((start - before, start))
        if after:
            spans.append((end, end + after))
    if not spans:
        return text
    pieces, done = [], 0
    for first, last in sorted(spans):
        if first < done:  # overlapping the span before: masked with it
            done = max(done, last)
            continue
        pieces += [text[done:first], MASK]
        done = last
    return "".join(pieces) + text[done:]


@dataclasses.dataclass(frozen=True)
class _Known:
    """The secret values in every form, every ``_CUT`` characters in a row of them (a quick
    no for a text cut short), and one pattern matching any of them, longest first."""

    values: frozenset[str] = frozenset()
    parts: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, values: frozenset[str]) -> _Known:
        """The values, and what is derived from them."""
        ordered = sorted(values, key=lambda v: (-len(v), v))
        return cls(
            values,
            frozenset(v[i : i + _CUT] for v in values for i in range(len(v) - _CUT + 1)),
            re.compile("|".join(map(re.escape, ordered))) if values else None,
        )

    def mask(self, text: str) -> str:
        """``text`` with every value masked, whole or cut short."""
        if self.pattern is None:
            return text
        text = self.pattern.sub(MASK, text)
        if "..." in text or "…" in text:
            text = _mask_cut_short(text, self.values, self.parts)
        return text


class _Registry:
    """The secret values of this process: those given, those of the environment (read when
    first needed), compiled again only when the set changes. Thread-safe: a process's output
    is redacted on threads of its own, each taking one ``_Known`` as a whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._given: frozenset[str] = frozenset()
        self._environ: frozenset[str] | None = None  # None: not read yet
        self._known = _Known()

    def register(self, values: Iterable[str]) -> None:
        with self._lock:
            given = self._given | {v for v in values if len(v) >= MIN_SECRET_LENGTH}
            self._update(given, self._environ)

    def register_environment(self, environ: Mapping[str, str]) -> None:
        with self._lock:
            self._update(self._given, secrets_of(environ))

    def _update(self, given: frozenset[str], environ: frozenset[str] | None) -> None:
        values = frozenset(f for v in given | (environ or frozenset()) for f in _forms(v))
        self._given, self._environ = given, environ
        if values != self._known.values:
            self._known = _Known.of(values)

    def known(self) -> _Known:
        if self._environ is None:
            self.register_environment(os.environ)
        return self._known


_REGISTRY = _Registry()


def forget() -> None:
    """Forgets every value registered and the environment read: for a fork that becomes a
    program of its own (``ci_tools.runner.warm``), as a new process starts."""
    global _REGISTRY  # noqa: PLW0603 - the process's one registry, made anew
    _REGISTRY = _Registry()


def register(*values: str) -> None:
    """Makes ``redact`` mask these values from now on (a token the run was issued, a password
    read from elsewhere); values shorter than ``MIN_SECRET_LENGTH`` are not registered."""
    _REGISTRY.register(values)


def register_environment(environ: Mapping[str, str] | None = None) -> None:
    """Reads the secret values of ``environ`` (default: this process's environment, now) in
    place of those read before. ``redact`` reads the environment on its first call without
    this; call it again after the environment changed."""
    _REGISTRY.register_environment(os.environ if environ is None else environ)


def secret_values() -> frozenset[str]:
    """Every value ``redact`` masks by value, in every form it is masked in."""
    return _REGISTRY.known().values


def redact(text: str) -> str:
    """The text with known secret values and secret-looking values masked."""
    text = _REGISTRY.known().mask(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if _KEYWORD.search(text):
        for pattern, replacement in _KEYED_PATTERNS:
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


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # terminal colour and cursor sequences
# What pytest prints of its progress before the line ends ("..F.s"): shown as it comes.
_PROGRESS = re.compile(rb"[.sSfFeExXpPR]+")
_LONGEST_LINE = 1 << 16  # a line longer than this is written in parts


def _redacted_line(line: bytes) -> bytes:
    """One line of output, redacted; bytes that are not UTF-8 are kept as they were. A secret
    split by colour codes is masked in the line without them."""
    text = line.decode("utf-8", "surrogateescape")
    masked = redact(text)
    if masked == text and "\x1b" in text:
        plain = _ANSI.sub("", text)
        if redact(plain) != plain:
            masked = redact(plain)
    return masked.encode("utf-8", "surrogateescape")


def redact_stream(source: IO[bytes], sink: IO[bytes]) -> None:
    """Copies ``source`` to ``sink`` until its end, each line redacted and written as soon as
    it is complete (pytest's progress letters as soon as they come), so that output stays
    live. A sink that fails (a closed terminal) is given up on and the source is still read
    to its end, so the process writing it never blocks."""
    fd = source.fileno()
    pending = b""
    writing = True

    def write(data: bytes) -> None:
        nonlocal writing
        if writing and data:
            try:
                sink.write(data)
                sink.flush()
            except (OSError, ValueError):
                writing = False

    while chunk := os.read(fd, _LONGEST_LINE):
        pending += chunk
        end = pending.rfind(b"\n") + 1
        if end:
            write(b"".join(_redacted_line(line) for line in pending[:end].splitlines(True)))
            pending = pending[end:]
        if _PROGRESS.fullmatch(pending) or len(pending) >= _LONGEST_LINE:
            write(_redacted_line(pending))
            pending = b""
    write(_redacted_line(pending))


def redacting(source: IO[bytes], sink: IO[bytes], name: str = "redact") -> threading.Thread:
    """A started daemon thread copying ``source`` to ``sink`` through ``redact_stream``; it
    closes ``source`` at its end. Join it to know the output was all written."""

    def copy() -> None:
        with source:
            try:
                redact_stream(source, sink)
            finally:  # whatever went wrong, the writing process never blocks on a full pipe
                while os.read(source.fileno(), _LONGEST_LINE):
                    pass

    thread = threading.Thread(target=copy, name=name, daemon=True)
    thread.start()
    return thread
