"""Record files read back whatever happened to them; secrets never survive redaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import secrets
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci_tools import redact as redaction
from ci_tools.records import FRAMES, Failure, Measurement, parse_lines, timestamp
from ci_tools.redact import redact, redact_data, redact_stream, secrets_of
from tests.fakes.records import make_record

RECORD = make_record(
    "a",
    line=3,
    phase=2,
    outcome="failed",
    duration_s=1.5,
    priority="P1",
    areas=("redis",),
    trace_ids=("ab" * 16,),
    measurements=(Measurement("db_ms", 4.2),),
    failure=Failure("ConnectionError", "refused", "tb"),
)


def test_record_round_trips_through_json() -> None:
    """What the writer writes, the reader reads back equal."""
    line = json.dumps(RECORD.as_json())
    assert parse_lines([line]).records == (RECORD,)


def test_truncated_and_garbage_lines_are_counted_not_fatal() -> None:
    """A half-written last line and junk are counted as bad; good records survive."""
    good = json.dumps(RECORD.as_json())
    found = parse_lines([good, "not json", good[: len(good) // 2], '{"event": "other"}'])
    assert found.records == (RECORD,)
    assert found.bad_lines == 3


def test_starts_without_an_end_are_the_hung_tests() -> None:
    """A start line with no record for its node id names a test that never finished."""
    lines = [
        json.dumps({"event": "start", "nodeid": "t.py::a", "time": "x"}),
        json.dumps({"event": "start", "nodeid": "t.py::hung", "time": "x"}),
        json.dumps(RECORD.as_json()),
    ]
    assert parse_lines(lines).started_not_finished == ("t.py::hung",)


def test_where_a_failure_was_raised_round_trips_and_is_left_out_when_unknown() -> None:
    """``where``/``frame``/``library`` are written only when known and read back equal; a
    failure without them writes the four keys it always had."""
    placed = Failure(
        "httpx.ConnectError",
        "[Errno 111] Connection refused",
        where="tests/e2e/client.py:42 in post_json",
        frame="helper",
        library="httpx",
    )
    record = dataclasses.replace(RECORD, failure=placed)
    written = record.as_json()
    assert written["failure"]["where"] == placed.where
    assert parse_lines([json.dumps(written)]).records == (record,)
    assert set(RECORD.as_json()["failure"]) == {"type", "message", "traceback", "timed_out"}
    collection = Failure("ImportError", "cannot import name 'x'", frame="collection")
    assert set(collection.as_json()) - set(RECORD.as_json()["failure"]) == {"frame"}


def test_a_record_written_before_frames_were_recorded_still_reads() -> None:
    """An old record's failure (no where, frame or library) reads with them empty."""
    old = json.dumps(RECORD.as_json())
    assert '"where"' not in old
    failure = parse_lines([old]).records[0].failure
    assert failure is not None
    assert (failure.where, failure.frame, failure.library) == ("", "", "")


def test_a_frame_outside_the_vocabulary_is_a_bad_line() -> None:
    """A failure whose frame is not one of FRAMES is refused like an unknown outcome."""
    data = RECORD.as_json()
    data["failure"] = {**data["failure"], "frame": "somewhere"}
    assert "somewhere" not in FRAMES
    found = parse_lines([json.dumps(data)])
    assert (found.records, found.bad_lines) == ((), 1)


@given(st.lists(st.text(max_size=200), max_size=20))
def test_any_text_parses_without_raising(lines: list[str]) -> None:
    """No content of a records file makes the reader raise."""
    found = parse_lines(lines)
    assert found.bad_lines <= len(lines)


SECRETS = [
    ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
    ("postgresql://postgres:s3cr3tpw@127.0.0.1:5432/db", "s3cr3tpw"),
    ("JWT_SECRET=hunter2hunter2", "hunter2hunter2"),
    ('{"access_token": "xyz-123-abc"}', "xyz-123-abc"),
    ("password: 'pa55word'", "pa55word"),
    ("key AIzaSyA1234567890abcdefghijklmnopqrstu used", "AIzaSyA1234567890abcdefghijklmnopqrstu"),
    ("ws://h/ws?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGciOiJIUzI1NiJ9"),
    ("Session(email='a@b.c', refresh_token='opaque-refresh-123')", "opaque-refresh-123"),
    ('token = "opaque-token-456"', "opaque-token-456"),
    ("password: hunter2hunter2", "hunter2hunter2"),
    ("X-Api-Key: k3y-v4lue-789", "k3y-v4lue-789"),
    ("redis://:r3dispass@10.0.0.1:6379/0", "r3dispass"),
]


def test_each_kind_of_secret_is_masked() -> None:
    """Tokens, bearer values, URL passwords and secret=value pairs are masked."""
    for text, secret in SECRETS:
        assert secret not in redact(text), text
        assert "[REDACTED]" in redact(text)


def test_ordinary_text_is_left_alone() -> None:
    """Messages that merely mention a secret's name keep their meaning."""
    for text in [
        "JWT_SECRET is not set: cannot sign tokens",
        "token_type bearer",
        "Error 111 connecting to 127.0.0.1:6390. Connection refused.",
    ]:
        assert redact(text) == text


def test_redact_data_walks_nested_structures() -> None:
    """Every string inside dicts and lists is redacted; other values are kept."""
    data = {
        "a": ["Bearer abcdefghijk"],
        "n": 3,
        "b": {"c": "password=x1x2x3"},
        "password": "plain",
        "refresh_token": "opaque",
        "token_type": "bearer",
    }
    assert redact_data(data) == {
        "a": ["Bearer [REDACTED]"],
        "n": 3,
        "b": {"c": "password=[REDACTED]"},
        "password": "[REDACTED]",
        "refresh_token": "[REDACTED]",
        "token_type": "bearer",
    }


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_record_times_read_as_datetime_writes_them(epoch: float) -> None:
    """The records' fast UTC timestamp is exactly datetime's ISO form, milliseconds cut."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    assert timestamp(epoch) == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A random test users' password in the environment, registered; read again after."""
    value = f"pw-{secrets.token_urlsafe(12)}"
    monkeypatch.setenv("CI_TOOLS_E2E_PASSWORD", value)
    redaction.register_environment()
    yield value
    monkeypatch.undo()
    redaction.register_environment()


def test_the_environment_s_secrets_are_known_by_name_and_by_url() -> None:
    """The test users' password, any variable named like a secret, and a DSN's password (as
    written and decoded) are secrets; PWD, a URL without a password, other names are not."""
    environ = {
        "CI_TOOLS_E2E_PASSWORD": "users-pass-1",
        "JWT_SECRET": "jwt-secret-2",
        "GITHUB_TOKEN": "ghs_token_3",
        "PGPASSWORD": "pg-pass-4",
        "X_API_KEY": "api-key-5",
        "CI_TOOLS_HISTORY_URL": "postgresql://ci:db%40pass-6@db.internal/ci",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "PWD": "/home/runner/work",
        "HOME": "/home/runner",
    }
    assert secrets_of(environ) == {
        "users-pass-1",
        "jwt-secret-2",
        "ghs_token_3",
        "pg-pass-4",
        "api-key-5",
        "db%40pass-6",
        "db@pass-6",
    }


def test_a_short_value_is_not_a_secret() -> None:
    """Values shorter than MIN_SECRET_LENGTH ("ok", "true", "1") are not registered: they
    would be masked in every text they occur in."""
    environ = {"CI_TOOLS_E2E_PASSWORD": "ok", "FEATURE_TOKEN": "true", "A_SECRET": "1"}
    assert secrets_of(environ) == frozenset()
    redaction.register("ok")
    assert "ok" not in redaction.secret_values()
    assert redact("ok, true or 1") == "ok, true or 1"


def test_a_registered_value_is_masked_in_every_form(password: str) -> None:
    """The password is masked bare, in a header, URL-encoded, JSON-escaped and in a repr,
    wherever it stands; the text around it stays."""
    weird = password + '%"/\\'
    redaction.register(weird)
    for text in [
        f"login refused for {password}",
        f"X-Custom: {password}",
        f"assert '{password}' == 'wrong'",
        f"GET /login?pw={quote(weird, safe='')}",
        json.dumps({"note": weird}),
        repr(weird),
    ]:
        masked = redact(text)
        assert password not in masked, text
        assert "[REDACTED]" in masked
    assert redact(f"refused for {password}.") == "refused for [REDACTED]."


def test_a_value_cut_short_by_pytest_is_masked(password: str) -> None:
    """A start of the password before an ellipsis (a summary line cut at the terminal's
    width) and an end of it after one (a long repr cut in its middle) are masked."""
    start, end = password[:10], password[-9:]
    assert redact(f"FAILED t.py::test - refused for {start}...") == (
        "FAILED t.py::test - refused for [REDACTED]..."
    )
    assert redact(f"assert 'xy...{end}' == 'z'") == "assert 'xy...[REDACTED]' == 'z'"
    assert redact("Collecting ... done") == "Collecting ... done"


def test_a_jwt_cut_short_is_masked() -> None:
    """A JSON Web Token cut in its middle by pytest's repr keeps none of its signature."""
    text = "AssertionError: assert 'eyJhbGciOiJI...6yJV_adQssw5c' == 'x'"
    assert redact(text) == "AssertionError: assert '[REDACTED]' == 'x'"


def test_a_comparison_with_a_secret_s_name_keeps_its_operands() -> None:
    """The line of an assert comparing a variable named password is not taken for an
    assignment of its value."""
    assert redact('assert password == "wrong"') == 'assert password == "wrong"'
    assert redact("password=hunter2hunter2") == "password=[REDACTED]"


def test_the_longest_value_is_masked_first() -> None:
    """A secret that contains another is masked whole, not as the shorter plus a rest."""
    short = f"short-{secrets.token_hex(4)}"
    redaction.register(short, f"{short}-longer")
    assert redact(f"<{short}-longer>") == "<[REDACTED]>"


def _stream(data: bytes) -> bytes:
    """``data`` through ``redact_stream``, from a pipe to a buffer."""
    read, write = os.pipe()
    with os.fdopen(write, "wb") as writer:
        writer.write(data)
    sink = io.BytesIO()
    with os.fdopen(read, "rb") as source:
        redact_stream(source, sink)
    return sink.getvalue()


def test_a_stream_is_redacted_line_by_line(password: str) -> None:
    """A process's output keeps every byte but the secrets: lines, a last line without a
    newline, bytes that are not UTF-8, a secret split by colour codes."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    coloured = f"\x1b[31m{password[:5]}\x1b[0m{password[5:]}"
    data = (
        f"..F [ 50%]\nE   AssertionError: {password}\nE   token {jwt}\n{coloured}\n".encode()
        + b"\xff\xfe raw\nlast"
    )
    out = _stream(data)
    assert password.encode() not in out
    assert b"c2lnbmF0dXJl" not in out
    assert out.startswith(b"..F [ 50%]\nE   AssertionError: [REDACTED]\n")
    assert b"\n[REDACTED]\n" in out
    assert out.endswith(b"\xff\xfe raw\nlast")


def test_progress_is_written_before_its_line_ends() -> None:
    """pytest's progress letters reach the sink as they come, before the line's end: the
    run's progress stays live."""
    read, write = os.pipe()
    sink = io.BytesIO()
    with os.fdopen(read, "rb") as source, os.fdopen(write, "wb", buffering=0) as writer:
        copying = redaction.redacting(os.fdopen(os.dup(source.fileno()), "rb"), sink)
        writer.write(b"..F.")
        for _ in range(200):
            if sink.getvalue() == b"..F.":
                break
            copying.join(0.01)
        assert sink.getvalue() == b"..F."
        writer.write(b"s  [100%]\n")
    copying.join(5)
    assert sink.getvalue() == b"..F.s  [100%]\n"
