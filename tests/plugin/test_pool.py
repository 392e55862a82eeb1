"""``--concurrency N``: tests run N at once in workers forked from the pytest process."""

from __future__ import annotations

import http.server
import os
import re
import threading
import time
from collections.abc import Iterator

import pytest

from tests.plugin.conftest import read_lines, test_records

WAITING = """
import os, time, pytest
@pytest.mark.parametrize("n", range(8))
def test_waits(n):
    time.sleep(0.5)
    with open(f"pid-{n}", "w") as out:
        out.write(str(os.getpid()))
"""


def _four_at_once(
    pytester: pytest.Pytester, source: str, tests: int, *options: str
) -> tuple[int, int]:
    """Runs ``source`` (tests that each write their pid to pid-N) with --concurrency 4; how
    many workers ran them and how deep their spans overlapped."""
    pytester.makepyfile(test_at_once=source)
    result = pytester.runpytest_subprocess(
        "--concurrency",
        "4",
        "--capture=sys",
        "--run-dir",
        "out",
        "-p",
        "no:cacheprovider",
        *options,
    )
    result.assert_outcomes(passed=tests)
    pids = {(pytester.path / f"pid-{n}").read_text() for n in range(tests)}
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    spans = sorted((r["start"], r["end"]) for r in records.values())
    deepest = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    return len(pids), deepest


def test_waiting_tests_overlap_each_in_a_worker_of_its_own(pytester: pytest.Pytester) -> None:
    """Eight tests that each wait 0.5 s, four at once: four workers (processes other than
    pytest's), and the tests' spans overlap four deep."""
    assert _four_at_once(pytester, WAITING, 8) == (4, 4)


SPINNING = """
import os, time, pytest
@pytest.mark.parametrize("n", range(6))
def test_spins(n):
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    with open(f"pid-{n}", "w") as out:
        out.write(str(os.getpid()))
"""


@pytest.fixture
def one_core() -> Iterator[None]:
    """This process (and so the pytest it starts) runs on one core only."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs os.sched_setaffinity (Linux)")
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mine)})
    yield
    os.sched_setaffinity(0, mine)


@pytest.mark.usefixtures("one_core")
def test_tests_that_spend_cpu_are_not_started_beyond_what_the_cores_can_run(
    pytester: pytest.Pytester,
) -> None:
    """On one core, six tests that each spin 0.3 s of CPU with --concurrency 4: the core is
    never idle, so the count never grows past one and a single worker runs them all."""
    assert _four_at_once(pytester, SPINNING, 6) == (1, 1)


@pytest.mark.usefixtures("one_core")
def test_no_throttle_runs_the_full_count_from_the_start(pytester: pytest.Pytester) -> None:
    """The same six spinning tests on one core with --no-throttle: four at once, as asked
    (a load of a known size), though they only queue for the core."""
    assert _four_at_once(pytester, SPINNING, 6, "--no-throttle") == (4, 4)


SHORT_THEN_LONG = """
import time, pytest
@pytest.mark.parametrize("n", range(6))
def test_short(n):
    time.sleep(0.3)
@pytest.mark.parametrize("n", range(3))
def test_long(n):
    time.sleep(1.0)
"""


def _start_order(pytester: pytest.Pytester, *options: str) -> list[str]:
    """Runs SHORT_THEN_LONG two at once; the tests in the order they started."""
    pytester.makepyfile(test_order=SHORT_THEN_LONG)
    result = pytester.runpytest_subprocess(
        "--concurrency", "2", "--no-throttle", "--capture=sys", "--run-dir", "out",
        "-p", "no:cacheprovider", *options,
    )  # fmt: skip
    result.assert_outcomes(passed=9)
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    return [n.split("::")[1] for n in sorted(records, key=lambda n: records[n]["start"])]


def test_with_no_order_a_function_measured_long_runs_its_rest_first(
    pytester: pytest.Pytester,
) -> None:
    """A first run (no order from the runner): one test of each function first, then the
    rest of the function that takes long before the short ones still waiting, so the phase
    does not end on a long test started last."""
    started = _start_order(pytester)
    assert set(started[:2]) == {"test_short[0]", "test_long[0]"}, started
    # Two at once: short[0] and short[1] take one worker while long[0] runs on the other
    # (a short one measures 0.3 s, long[0] has run no longer); then long[1], then long[2]
    # once long[0] ends; the four short ones left come last.
    assert set(started[-4:]) == {f"test_short[{n}]" for n in range(2, 6)}, started


def test_an_order_from_the_runner_is_kept(pytester: pytest.Pytester) -> None:
    """With the runner's order file, the tests start in its order, whatever they measure:
    the six short ones, then the long ones."""
    names = [f"test_short[{n}]" for n in range(6)] + [f"test_long[{n}]" for n in range(3)]
    (pytester.path / "order.txt").write_text("".join(f"test_order.py::{name}\n" for name in names))
    started = _start_order(pytester, "--order", "order.txt")
    assert set(started[:6]) == set(names[:6]), started


HOLDING = """
import os, time, pytest
@pytest.mark.parametrize("n", range(6))
def test_holds(n):
    held = b"x" * (200 * 2**20)  # pages of its own: the worker's USS
    time.sleep(0.5)
    with open(f"pid-{n}", "w") as out:
        out.write(str(os.getpid()))
"""


@pytest.mark.usefixtures("one_core")
def test_a_memory_bound_holds_the_count_where_the_workers_would_pass_it(
    pytester: pytest.Pytester,
) -> None:
    """On one core, six tests that wait 0.5 s holding 200 MiB each: with CPU to spare the
    count would grow to four (as without a bound, below), but --memory-mb leaves room for one
    worker beside pytest (which holds well under 128 MiB): one at a time, and the phase's
    output says why."""
    pytester.makepyfile(test_at_once=HOLDING)
    result = pytester.runpytest_subprocess(
        *("--concurrency", "4", "--capture=sys", "--run-dir", "out", "-p", "no:cacheprovider"),
        *("--memory-mb", str(128 + 300)),
    )
    result.assert_outcomes(passed=6)
    pids = {(pytester.path / f"pid-{n}").read_text() for n in range(6)}
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    spans = sorted((r["start"], r["end"]) for r in records.values())
    assert max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans) == 1
    assert len(pids) == 1
    result.stderr.fnmatch_lines(
        ["ci-tools: memory held this phase to 1 tests at once (within 428 MiB, a worker *"]
    )


CALLING = """
import os, urllib.request, pytest
@pytest.mark.parametrize("n", range(24))
def test_calls(n):
    urllib.request.urlopen(os.environ["CI_TOOLS_TEST_URL"], timeout=10).read()
"""


class _TwoAtOnce(http.server.BaseHTTPRequestHandler):
    """Answers two requests at once, each after 0.3 s; a third at the same time gets a 429,
    as a service at its maximum instances (or any rate limiter) answers."""

    inflight = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            full = type(self).inflight >= 2
            type(self).inflight += 0 if full else 1
        if not full:
            time.sleep(0.3)
            with self.lock:
                type(self).inflight -= 1  # before the answer: the next request may come in
        self.send_response(429 if full else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def two_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local service that answers two requests at once (``_TwoAtOnce``); the tests of a
    pytester run find it in CI_TOOLS_TEST_URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TwoAtOnce)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CI_TOOLS_TEST_URL", f"http://127.0.0.1:{server.server_port}/")
    yield
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("two_at_once")
def test_tests_turned_away_by_the_platform_bring_the_count_down(
    pytester: pytest.Pytester,
) -> None:
    """24 tests, eight at once from the start, against a service that answers two at once and
    turns the rest away with a 429 (urllib's "HTTP Error 429: Too Many Requests", the built-in
    rule rate_limited): the first answers halve the count once, then once more, and the last
    half of the tests all pass at two at once; the phase's log says so. The same run with the
    rule's pressure switched off in the project's rules keeps eight at once: most tests fail."""
    pytester.makepyfile(test_calls=CALLING)
    run = ("--concurrency", "8", "--no-throttle", "--capture=sys", "-p", "no:cacheprovider")
    result = pytester.runpytest_subprocess(*run, "--run-dir", "out")
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    in_order = [records[f"test_calls.py::test_calls[{n}]"]["outcome"] for n in range(24)]
    assert in_order[12:] == ["passed"] * 12, in_order
    failed = in_order.count("failed")
    result.stderr.fnmatch_lines(
        [f"ci-tools: the platform turned {failed} tests away (*); this phase went on with 2 at *"]
    )
    pytester.makefile(
        ".toml",
        pyproject='[[tool.ci_tools.rules.rule]]\nname = "rate_limited"\npressure = false\n',
    )
    result = pytester.runpytest_subprocess(*run, "--run-dir", "out2")
    records = test_records(pytester.path / "out2" / "phase0.jsonl")
    assert sum(r["outcome"] == "failed" for r in records.values()) > max(failed, 12)
    assert "turned" not in result.stderr.str()


@pytest.mark.usefixtures("one_core")
def test_tests_that_wait_grow_to_the_full_count_even_on_one_core(
    pytester: pytest.Pytester,
) -> None:
    """On one core, eight tests that wait 0.5 s with --concurrency 4: the core has CPU to
    spare, so the count grows from one to four within a few tenths of a second."""
    assert _four_at_once(pytester, WAITING, 8) == (4, 4)


def test_a_failure_with_x_stops_handing_out_tests(pytester: pytest.Pytester) -> None:
    """-x: once a test fails no other starts; the run ends as pytest's -x does."""
    pytester.makepyfile(
        test_x="""
        import time
        def test_fails(): raise AssertionError("broken")
        def test_a(): time.sleep(0.3)
        def test_b(): time.sleep(0.3)
        def test_c(): time.sleep(0.3)
        def test_d(): time.sleep(0.3)
        """
    )
    result = pytester.runpytest_subprocess(
        "--concurrency",
        "2",
        "--capture=sys",
        "-x",
        "--run-dir",
        "out",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    ended = [line["nodeid"] for line in read_lines(pytester.path / "out" / "phase0.jsonl")]
    assert "test_x.py::test_fails" in ended
    assert "test_x.py::test_d" not in ended  # handed out only after the failure: never


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--concurrency", "2"], "*--concurrency needs --capture=sys*"),
        (["--concurrency", "2", "-s"], "*--concurrency needs --capture=sys*"),
        (
            ["--concurrency", "2", "--capture=sys", "-n", "2"],
            "*--concurrency and pytest-xdist's -n*",
        ),
        (["--no-throttle"], "*--no-throttle needs --concurrency N (N > 1)*"),
    ],
    ids=["fd-capture", "no-capture", "with-xdist", "no-throttle-alone"],
)
def test_options_that_cannot_run_tests_forked_are_refused_in_one_line(
    pytester: pytest.Pytester, options: list[str], message: str
) -> None:
    """fd capture (shared by forked workers) and xdist's -n are refused before any test runs,
    with one line naming the fix."""
    pytester.makepyfile(test_one="def test_one(): pass")
    result = pytester.runpytest_subprocess(*options, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "1 passed" not in result.stdout.str()


def test_a_test_print_is_captured_in_its_own_report(pytester: pytest.Pytester) -> None:
    """Each failing test's captured output is its own, not another worker's."""
    pytester.makepyfile(
        test_out="""
        import pytest, time
        @pytest.mark.parametrize("n", range(4))
        def test_prints(n):
            for _ in range(20):
                print(f"line of test {n}")
                time.sleep(0.005)
            raise AssertionError(n)
        """
    )
    result = pytester.runpytest_subprocess(
        "--concurrency", "4", "--capture=sys", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=4)
    text = result.stdout.str().split("short test summary", 1)[0]
    sections = re.split(r"_{3,} test_prints\[(\d)\] _{3,}", text)[1:]
    by_test = dict(zip(sections[::2], sections[1::2], strict=True))
    assert sorted(by_test) == ["0", "1", "2", "3"]
    for n in range(4):
        section = by_test[str(n)]
        assert section.count(f"line of test {n}") == 20
        assert not any(f"line of test {m}" in section for m in range(4) if m != n)
