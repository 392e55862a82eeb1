"""The plugin writes one record per test, as it ends, with tests run at once (xdist or forked
workers) and when killed too."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from ci_tools.plugin.recorder import Recorder
from ci_tools.records import RecordWriter, read_records
from tests.plugin.conftest import (
    AT_ONCE,
    at_once,
    read_lines,
    run_phase1,
    test_records,
    write_project,
)

OUTCOMES = """
import pytest

pytestmark = [pytest.mark.phase(1)]

@pytest.mark.priority("P1")
@pytest.mark.area("redis", "websocket")
def test_pass():
    pass

def test_fail():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    raise ConnectionError(f"Error 111 connecting to 127.0.0.1:6390 with {token}")

def test_skip():
    pytest.skip("no frontend URL")

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_error(broken):
    pass
"""


def test_each_outcome_is_recorded_with_its_details(pytester: pytest.Pytester) -> None:
    """passed, failed, skipped and error each give one record with the right fields."""
    pytester.makepyfile(test_one=OUTCOMES)
    result = pytester.runpytest("--run-dir", "out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    assert {k.split("::")[1]: r["outcome"] for k, r in records.items()} == {
        "test_pass": "passed",
        "test_fail": "failed",
        "test_skip": "skipped",
        "test_error": "error",
    }
    passed = records["test_one.py::test_pass"]
    assert passed["phase"] == 1
    assert passed["priority"] == "P1"
    assert passed["areas"] == ["redis", "websocket"]
    assert passed["line"] == 5  # the first decorator line, where the test starts
    assert passed["start"].endswith("Z")
    assert passed["start"] <= passed["end"]
    failed = records["test_one.py::test_fail"]["failure"]
    assert failed["type"] == "ConnectionError"
    assert failed["message"].startswith("Error 111 connecting to 127.0.0.1:6390 with ")
    assert "eyJ" not in str(records)  # the token in the message is redacted
    assert records["test_one.py::test_skip"]["reason"] == "no frontend URL"
    assert records["test_one.py::test_error"]["failure"]["message"] == "fixture exploded"


def test_the_old_name_results_dir_records_into_the_run_dir_as_before(
    pytester: pytest.Pytester,
) -> None:
    """``--results-dir``, the old name of ``--run-dir``, still names the run's folder, and
    the help says it is kept for a release."""
    pytester.makepyfile(test_one=OUTCOMES)
    result = pytester.runpytest("--results-dir", "old", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert len(test_records(pytester.path / "old" / "phase0.jsonl")) == 4
    helped = pytester.runpytest("--help")
    helped.stdout.fnmatch_lines(["*--run-dir=DIR, --results-dir=DIR*"])
    assert "kept for a release" in helped.stdout.str()


@pytest.mark.parametrize("mode", AT_ONCE)
def test_records_are_complete_with_tests_run_at_once(pytester: pytest.Pytester, mode: str) -> None:
    """Four at once (xdist or forked workers): every test has exactly one record and every
    worker contributed."""
    pytester.makepyfile(
        test_many="""
        import pytest
        @pytest.mark.parametrize("n", range(200))
        def test_n(n):
            assert n != 13
    """
    )
    result = pytester.runpytest_subprocess(
        *at_once(mode, 4), "--run-dir", "out", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=199, failed=1)
    lines = read_lines(pytester.path / "out" / "phase0.jsonl")
    tests = [line for line in lines if line["event"] == "test"]
    assert len(tests) == 200
    assert len({t["nodeid"] for t in tests}) == 200
    prefix = "gw" if mode == "xdist" else "fork"
    assert {t["worker"] for t in tests} == {f"{prefix}{n}" for n in range(4)}
    assert sum(1 for t in tests if t["outcome"] == "failed") == 1


def test_a_killed_run_keeps_finished_records_and_names_the_running_test(
    pytester: pytest.Pytester,
) -> None:
    """SIGKILL midway: earlier records stay, the file reads, the running test is named."""
    pytester.makepyfile(
        test_kill=f"""
        import os, signal
        def test_a(): pass
        def test_b(): pass
        def test_dies(): os.kill(os.getpid(), {int(signal.SIGKILL)})
        def test_never(): pass
    """
    )
    result = pytester.runpytest_subprocess("--run-dir", "out", "-p", "no:cacheprovider")
    assert result.ret == -signal.SIGKILL
    found = read_records(pytester.path / "out" / "phase0.jsonl")
    assert [r.nodeid for r in found.records] == ["test_kill.py::test_a", "test_kill.py::test_b"]
    assert found.started_not_finished == ("test_kill.py::test_dies",)
    assert found.bad_lines == 0


@pytest.mark.parametrize("mode", AT_ONCE)
def test_a_crashed_worker_is_the_crash_of_its_test_and_the_phase_goes_on(
    pytester: pytest.Pytester, mode: str
) -> None:
    """Two at once (xdist or forked workers): a test whose process dies is recorded as a
    WorkerCrashed failure with its line and areas from the selection (never as hung); every
    other test still runs, in a new worker."""
    pytester.makepyfile(
        test_crash="""
        import os, pytest
        pytestmark = pytest.mark.phase(1)
        def test_a(): pass
        @pytest.mark.area("agent")
        def test_dies(): os._exit(3)
        def test_b(): pass
        def test_c(): pass
    """
    )
    result = pytester.runpytest_subprocess(
        *at_once(mode, 2), "--phase", "1", "--run-dir", "out", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    found = read_records(pytester.path / "out" / "phase1.jsonl")
    outcomes = {r.nodeid.split("::")[1]: r.outcome for r in found.records}
    assert outcomes == {
        "test_a": "passed",
        "test_dies": "failed",
        "test_b": "passed",
        "test_c": "passed",
    }
    assert found.started_not_finished == ()
    crashed = next(r for r in found.records if r.outcome == "failed")
    assert crashed.failure is not None
    assert crashed.failure.type == "WorkerCrashed"
    assert not crashed.failure.timed_out
    assert "crashed while running it" in crashed.failure.message
    assert (crashed.line, crashed.areas) == (4, ("agent",))  # its first decorator line
    assert crashed.worker is not None
    assert crashed.worker.startswith("gw" if mode == "xdist" else "fork")
    assert crashed.start <= crashed.end


def test_a_hanging_test_fails_as_timed_out(pytester: pytest.Pytester) -> None:
    """A test past --timeout becomes a failure whose record says it timed out, and the run goes
    on to the next test."""
    pytester.makepyfile(
        test_hang="""
        import time
        def test_hangs(): time.sleep(30)
        def test_after(): pass
    """
    )
    result = pytester.runpytest_subprocess(
        "--run-dir", "out", "--timeout", "1", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=1)
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    failure = records["test_hang.py::test_hangs"]["failure"]
    assert failure["message"] == "timed out after 1 s"
    assert failure["timed_out"] is True
    assert records["test_hang.py::test_hangs"]["duration_s"] < 10


def test_phase_option_deselects_other_phases(pytester: pytest.Pytester) -> None:
    """--phase 2 runs only tests marked phase(2) and writes phase2.jsonl."""
    pytester.makepyfile(
        test_phases="""
        import pytest
        @pytest.mark.phase(1)
        def test_one(): pass
        @pytest.mark.phase(2)
        def test_two(): pass
    """
    )
    result = pytester.runpytest("--phase", "2", "--run-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=1)
    assert list(test_records(pytester.path / "out" / "phase2.jsonl")) == [
        "test_phases.py::test_two"
    ]


def test_a_test_without_a_phase_marker_stops_a_phased_run(pytester: pytest.Pytester) -> None:
    """Under --phase, an unmarked test is an error naming it, not a silent deselection."""
    pytester.makepyfile(test_unmarked="def test_lost(): pass")
    result = pytester.runpytest("--phase", "1", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_unmarked.py::test_lost has no phase marker" in result.stderr.str()


def test_without_results_options_nothing_is_written(pytester: pytest.Pytester) -> None:
    """A plain pytest run with the plugin installed records nothing."""
    pytester.makepyfile(test_plain="def test_x(): pass")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not list(pytester.path.rglob("*.jsonl"))


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        ("@pytest.mark.priority('P9')", "priority('P9') must be one of P1, P2, P3, P4, P5, P6"),
        ("@pytest.mark.phase('one')", "phase('one') must be a whole number >= 1"),
        ("@pytest.mark.phase(True)", "phase(True) must be a whole number >= 1"),
        ("@pytest.mark.prority('P1')", "'prority' not found in `markers` configuration option"),
    ],
)
def test_bad_markers_are_refused(pytester: pytest.Pytester, decorator: str, message: str) -> None:
    """Markers are strict: a misspelt marker, or in a recorded run a bad value, stops the run
    with its name."""
    pytester.makepyfile(
        test_bad=f"""
        import pytest
        {decorator}
        def test_x(): pass
    """
    )
    result = pytester.runpytest("--strict-markers", "--run-dir", "out", "-p", "no:cacheprovider")
    assert result.ret in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR)
    assert message in result.stdout.str() + result.stderr.str()


def test_priority_option_keeps_only_those_priorities(pytester: pytest.Pytester) -> None:
    """--priority P1 deselects everything else."""
    pytester.makepyfile(
        test_prio="""
        import pytest
        @pytest.mark.priority("P1")
        def test_critical(): pass
        @pytest.mark.priority("P3")
        def test_minor(): pass
        def test_none(): pass
    """
    )
    pytester.runpytest("--priority", "P1", "-p", "no:cacheprovider").assert_outcomes(
        passed=1, deselected=2
    )


def test_record_file_is_appended_line_by_line(pytester: pytest.Pytester) -> None:
    """Each record is on disk when its test ends, before the run is over."""
    pytester.makepyfile(
        test_seen="""
        import json, pathlib
        def test_first(): pass
        def test_second():
            lines = pathlib.Path("out/phase0.jsonl").read_text().splitlines()
            assert any(json.loads(l).get("nodeid", "").endswith("test_first")
                       and json.loads(l)["event"] == "test" for l in lines)
    """
    )
    result = pytester.runpytest("--run-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert os.path.getsize(pytester.path / "out" / "phase0.jsonl") > 0


RETRIED = """
import pytest
from pathlib import Path
pytestmark = pytest.mark.phase(1)

def test_reset_once(tmp_path_factory):
    marker = Path(__file__).with_name("attempted")
    if not marker.exists():
        marker.write_text("1")
        raise ConnectionResetError("Connection reset by peer")

def test_wrong_answer():
    assert 1 + 1 == 3, "wrong answer"
"""


def test_a_transient_failure_is_retried_once_and_its_pass_is_not_clean(
    pytester: pytest.Pytester,
) -> None:
    """With pytest-rerunfailures limited to transient errors, a reset connection is tried
    again and its pass is recorded with retries=1 (one record, not two); a wrong answer is
    never retried."""
    pytester.makepyfile(test_retry=RETRIED)
    result = run_phase1(pytester, "--reruns", "1", "--only-rerun", "ConnectionResetError")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = [
        line
        for line in read_lines(pytester.path / "out" / "phase1.jsonl")
        if line["event"] == "test"
    ]
    assert len(lines) == 2  # the repeated attempt left no record of its own
    records = {
        r.nodeid.split("::")[1]: r
        for r in read_records(pytester.path / "out" / "phase1.jsonl").records
    }
    assert (records["test_reset_once"].outcome, records["test_reset_once"].retries) == ("passed", 1)
    assert (records["test_wrong_answer"].outcome, records["test_wrong_answer"].retries) == (
        "failed",
        0,
    )


def test_a_coloured_failure_is_recorded_as_plain_text(pytester: pytest.Pytester) -> None:
    """Colour sequences in a failure (pytest colours diffs under FORCE_COLOR) never reach the
    record: its message and traceback are plain text."""
    pytester.makepyfile(
        test_one="""
        def test_red():
            raise AssertionError("\\x1b[91m- up\\x1b[39;49;00m + down")
        """
    )
    pytester.runpytest("--run-dir", "out", "-p", "no:cacheprovider", "--color=yes")
    failure = test_records(pytester.path / "out" / "phase0.jsonl")["test_one.py::test_red"][
        "failure"
    ]
    assert failure["message"] == "- up + down"
    assert "\x1b" not in failure["traceback"]


PASSING_SHAPES = """
import pytest

pytestmark = [pytest.mark.phase(2), pytest.mark.area("agent")]

def test_plain():
    pass

@pytest.mark.priority("P3")
@pytest.mark.area("redis", "auth")
@pytest.mark.parametrize(
    "n", [1, "tab\\there", "ünïcode", pytest.param(4, marks=pytest.mark.area("websocket"))]
)
def test_params(n, trace_id):
    pass

def test_measured(criterion, trace_id, record_property):
    record_property("user_key", {"not": "ours"})
    criterion("latency_ms", 12.5)
    criterion.at_least("latency_ms", 3000)
    criterion.unreachable("latency_ms")

@pytest.fixture
def two_traces(request):
    request.node.user_properties.append(("ci_tools.trace_id", "a" * 32))
    request.node.user_properties.append(("ci_tools.trace_id", "a" * 32))
    yield
    request.node.user_properties.append(("ci_tools.trace_id", "b" * 32))

def test_trace_in_teardown(two_traces):
    pass

def test_fails():
    assert False

def test_skips():
    pytest.skip("not here")
"""


def test_a_passed_tests_record_is_the_one_its_reports_build(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """Passed tests are written without building a TestRecord: each line must still be the
    record ``Recorder.build`` makes of the same reports (metadata, escaped node ids, trace ids
    each once including a teardown's, measurements with their bounds), and the tests that did
    not pass go the whole way."""
    write_project(pytester)
    pytester.makepyfile(test_shapes=PASSING_SHAPES)
    reprec = pytester.inline_run("--run-dir", "out", "-p", "no:cacheprovider")
    reprec.assertoutcome(passed=7, failed=1, skipped=1)
    reports: dict[str, list[pytest.TestReport]] = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        reports.setdefault(report.nodeid, []).append(report)
    written = test_records(pytester.path / "out" / "phase0.jsonl")
    assert set(written) == set(reports)
    writer = RecordWriter(tmp_path / "unused.jsonl")
    built = Recorder(writer, 0)
    writer.close()  # build writes nothing
    for nodeid, its_reports in reports.items():
        assert written[nodeid] == json.loads(json.dumps(built.build(its_reports).as_json())), nodeid
    assert written["test_shapes.py::test_trace_in_teardown"]["trace_ids"] == ["a" * 32, "b" * 32]
    # The passed tests' lines did come the short way (its key order: what collection knows
    # first), the others' from a TestRecord.
    raw = (pytester.path / "out" / "phase0.jsonl").read_text()
    assert raw.count('"areas":["agent"],"outcome":"passed"') == 3  # the module's area only
    assert '"outcome":"failed"' in raw
    assert '"areas":["agent"],"outcome":"failed"' not in raw
    # Cases of one function share their metadata, but not a case's own marks.
    assert written["test_shapes.py::test_params[1]"]["areas"] == ["agent", "auth", "redis"]
    assert written["test_shapes.py::test_params[4]"]["areas"] == [
        "agent",
        "auth",
        "redis",
        "websocket",
    ]
    assert written["test_shapes.py::test_plain"]["priority"] is None


class _RecorderSeen:
    """Notes which recorder a run used (the plugin's own protocol, or its log hooks)."""

    def __init__(self) -> None:
        self.kind = ""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        recorder = session.config.pluginmanager.get_plugin("ci_tools_recorder")
        self.kind = type(recorder).__name__


def _comparable(path: Path) -> dict[str, dict[str, object]]:
    """A run's test records without what differs from run to run (times, tracebacks' paths)."""
    return {
        nodeid: {
            k: v
            for k, v in record.items()
            if k not in {"start", "end", "duration_s", "failure", "trace_ids"}
        }
        | {"failed": record["failure"] is not None, "traces": len(record["trace_ids"])}
        for nodeid, record in test_records(path).items()
    }


def test_records_are_the_same_through_the_plugins_protocol_or_its_log_hooks(
    pytester: pytest.Pytester,
) -> None:
    """A run in one process records from pytest's protocol run by the plugin; one where
    pytest-rerunfailures was asked for retries (its protocol repeats tests) records from the
    log hooks. Every test's record is the same either way, and each test starts once."""
    write_project(pytester)
    pytester.makepyfile(test_shapes=PASSING_SHAPES)
    runs = {}
    for name, extra in {"protocol": [], "hooks": ["--reruns", "0"]}.items():
        seen = _RecorderSeen()
        pytester.inline_run(
            "--run-dir", f"out_{name}", "-p", "no:cacheprovider", *extra, plugins=[seen]
        )
        runs[name] = seen.kind, _comparable(pytester.path / f"out_{name}" / "phase0.jsonl")
        starts = read_lines(pytester.path / f"out_{name}" / "phase0.jsonl")
        assert sum(line["event"] == "start" for line in starts) == 9, name
    assert runs["protocol"][0] == "RecordingProtocol"
    assert runs["hooks"][0] == "Recorder"
    assert len(runs["protocol"][1]) == 9
    assert runs["protocol"][1] == runs["hooks"][1]


def test_a_plugin_that_runs_tests_its_own_way_keeps_them_and_their_records(
    pytester: pytest.Pytester,
) -> None:
    """Another plugin's ``pytest_runtest_protocol`` (one that runs each test itself) still
    runs every test: the recorder then listens to the log hooks, and writes one record each."""
    pytester.makeconftest(
        """
        import pytest
        from _pytest.runner import runtestprotocol

        RAN = []

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_protocol(item, nextitem):
            RAN.append(item.nodeid)
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            runtestprotocol(item, nextitem=nextitem)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            return True

        def pytest_sessionfinish(session):
            (session.config.rootpath / "ran.txt").write_text("\\n".join(RAN))
        """
    )
    pytester.makepyfile(test_own="def test_a(): pass\ndef test_b(): assert False\n")
    seen = _RecorderSeen()
    pytester.inline_run("--run-dir", "out", "-p", "no:cacheprovider", plugins=[seen])
    assert seen.kind == "Recorder"
    assert (pytester.path / "ran.txt").read_text().splitlines() == [
        "test_own.py::test_a",
        "test_own.py::test_b",
    ]
    records = test_records(pytester.path / "out" / "phase0.jsonl")
    assert {n: r["outcome"] for n, r in records.items()} == {
        "test_own.py::test_a": "passed",
        "test_own.py::test_b": "failed",
    }
