"""Trace ids come from the request's headers; log lines are Cloud Logging structured JSON."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from reference_platform.telemetry import JsonFormatter, redact, trace_id_from_headers

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_traceparent_wins_over_cloud_trace_header() -> None:
    """A W3C traceparent gives the trace id, even when Google's header is present too."""
    headers = {
        "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
        "x-cloud-trace-context": "0" * 31 + "1/1;o=1",
    }
    assert trace_id_from_headers(headers) == TRACE


def test_cloud_trace_header_is_read_when_no_traceparent() -> None:
    """X-Cloud-Trace-Context's TRACE_ID/SPAN_ID;o=1 form gives the trace id, lower-cased."""
    assert trace_id_from_headers({"x-cloud-trace-context": f"{TRACE.upper()}/123;o=1"}) == TRACE


def test_malformed_or_all_zero_trace_headers_are_ignored() -> None:
    """A broken or all-zero traceparent is no trace id."""
    assert trace_id_from_headers({"traceparent": "00-xyz-00f067aa0ba902b7-01"}) is None
    assert trace_id_from_headers({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}) is None
    assert trace_id_from_headers({}) is None


@given(st.dictionaries(st.sampled_from(["traceparent", "x-cloud-trace-context"]), st.text()))
def test_any_header_value_gives_a_32_hex_id_or_none(headers: dict[str, str]) -> None:
    """Whatever a client sends, the trace id is 32 lower-case hex digits or absent."""
    trace = trace_id_from_headers(headers)
    assert trace is None or (len(trace) == 32 and set(trace) <= set("0123456789abcdef"))


def test_credentials_in_query_strings_are_masked() -> None:
    """A token in a WebSocket URL never reaches the log."""
    url = "ws://127.0.0.1:1/ws?x=1&token=eyJhbGciOi.secret.sig&password=hunter2"
    assert redact(url) == "ws://127.0.0.1:1/ws?x=1&token=[REDACTED]&password=[REDACTED]"


def test_oauth_codes_and_verifiers_in_query_strings_are_masked() -> None:
    """An OAuth redirect's authorization code (and a verifier, were one sent in a URL) never
    reaches the log; the state, which protects nothing once used, stays readable."""
    url = "http://127.0.0.1:1/cb?code=abc123&state=s1&code_verifier=v" + "x" * 43
    assert redact(url) == "http://127.0.0.1:1/cb?code=[REDACTED]&state=s1&code_verifier=[REDACTED]"


def test_log_messages_are_redacted_whoever_logs_them() -> None:
    """A JWT or a token in any logger's message is masked in the JSON line."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU"
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '"WebSocket /ws?token=%s" [accepted] bearer %s',
        (jwt, jwt),
        None,
    )
    message = json.loads(JsonFormatter("backend", "r").format(record))["message"]
    assert jwt not in message
    assert message == '"WebSocket /ws?token=[REDACTED]" [accepted] bearer [REDACTED_JWT]'


def test_formatter_writes_cloud_logging_fields() -> None:
    """severity, message, timestamp, trace and httpRequest land where Cloud Logging reads them."""
    record = logging.LogRecord("request", logging.ERROR, __file__, 1, "GET /x %d", (503,), None)
    record.trace = TRACE
    record.http_request = {"requestMethod": "GET", "status": 503}
    line = JsonFormatter("backend", "backend-00001-abc").format(record)
    entry = json.loads(line)
    assert entry["severity"] == "ERROR"
    assert entry["message"] == "GET /x 503"
    assert entry["timestamp"].endswith("Z")
    assert entry["logging.googleapis.com/trace"] == f"projects/local/traces/{TRACE}"
    assert entry["httpRequest"] == {"requestMethod": "GET", "status": 503}
    assert entry["serviceContext"] == {"service": "backend", "version": "backend-00001-abc"}
    assert "\n" not in line
