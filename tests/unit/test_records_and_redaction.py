"""Record files read back whatever happened to them; secrets never survive redaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from ci_tools.records import FRAMES, Failure, Measurement, parse_lines, timestamp
from ci_tools.redact import redact, redact_data
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
