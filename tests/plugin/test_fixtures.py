"""The plugin's fixtures: trace headers really sent, criteria recorded, URLs overridable."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from tests.plugin.conftest import test_records, write_project


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """A local HTTP server that remembers the headers of every request."""
    _Recorder.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_trace_headers_reach_the_server_and_the_record(
    pytester: pytest.Pytester, server: str
) -> None:
    """Both trace headers carry the test's trace id; each test gets its own; the record lists it."""
    write_project(pytester, url=server)
    pytester.makepyfile(
        test_one="""
        def test_a(http, ci_urls):
            http.get(ci_urls["backend"] + "/a")
            http.get(ci_urls["backend"] + "/b")
        def test_b(http, ci_urls):
            http.get(ci_urls["backend"] + "/c")
    """
    )
    pytester.runpytest("--run-dir", "out", "-p", "no:cacheprovider").assert_outcomes(passed=2)
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    traces = {nodeid.split("::")[1]: r["trace_ids"] for nodeid, r in records.items()}
    assert len(traces["test_a"]) == 1
    assert len(traces["test_b"]) == 1
    assert traces["test_a"] != traces["test_b"]
    seen = _Recorder.seen
    assert len(seen) == 3
    for headers, trace in zip(seen, [*traces["test_a"] * 2, *traces["test_b"]], strict=True):
        version, trace_id, span, flags = headers["traceparent"].split("-")
        assert (version, trace_id, flags) == ("00", trace, "01")
        assert headers["x-cloud-trace-context"] == f"{trace}/{int(span, 16)};o=1"
    assert seen[0]["traceparent"] != seen[1]["traceparent"]  # a fresh span per request


def test_url_overrides_come_from_the_environment(
    pytester: pytest.Pytester, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI_TOOLS_BACKEND_URL replaces the configured backend URL (e.g. a preview tag)."""
    write_project(pytester, url="http://127.0.0.1:9")
    monkeypatch.setenv("CI_TOOLS_BACKEND_URL", server)
    pytester.makepyfile(
        test_one="""
        def test_a(http, ci_urls):
            assert http.get(ci_urls["backend"] + "/x").status_code == 200
    """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_criteria_are_recorded_and_unknown_ones_refused(pytester: pytest.Pytester) -> None:
    """criterion() values land in the record; a name not in config fails that test, naming it."""
    write_project(pytester)
    pytester.makepyfile(
        test_one="""
        def test_measures(criterion):
            criterion("latency_ms", 12.5)
            criterion("latency_ms", 80)
        def test_unknown(criterion):
            criterion("latncy_ms", 1)
    """
    )
    result = pytester.runpytest("--run-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    assert records["test_one.py::test_measures"]["measurements"] == [
        {"criterion": "latency_ms", "value": 12.5},
        {"criterion": "latency_ms", "value": 80.0},
    ]
    failure = records["test_one.py::test_unknown"]["failure"]
    assert failure["message"] == (
        "unknown criterion 'latncy_ms': define it under [tool.ci_tools.criteria.latncy_ms]"
    )


def test_missing_urls_stop_the_run_with_one_line(pytester: pytest.Pytester) -> None:
    """An environment without URLs fails each test's setup with one line saying what to set
    (not pytest.exit, which would crash an xdist worker)."""
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.ci_tools.environments.local]
        stack_file = ".stack/stack.json"
    """,
    )
    pytester.makepyfile(test_one="def test_a(ci_urls): pass")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=1)
    assert "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*ci_tools: environment 'local' reads its URLs from*"
            "start the platform with `nox -s stack -- start`*"
        ]
    )
