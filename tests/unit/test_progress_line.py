"""What a person reads of a running phase: its progress line, how often it is shown (redrawn
on a terminal, paced in a CI log), where it is read from (the records file as it grows), and
the first failure shown under a missed gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci_tools import cli, runner
from ci_tools.phases import GateResult
from ci_tools.records import Failure, RecordWriter, Selected, selected_lines
from ci_tools.runner.excerpt import first_failure, output_tail
from ci_tools.runner.watch import Watch
from tests.fakes.records import make_record

NODE = "tests/e2e/phase2_critical/test_agent_pipeline.py::test_first_message_gets_an_answer"
TRACEBACK = """\
        while not events:
            try:
                raw = ws.recv(timeout=1)
            except TimeoutError:
>               raise AgentStalled(
                    f"{where} stalled: no event for {self.stall_s:g} s after {after}"
                ) from None
E               tests.e2e.client.AgentStalled: agent pipeline stalled: no event for 10 s

tests/e2e/client.py:226: AgentStalled"""


def tally(**fields: object) -> runner.Tally:
    """A tally of phase 2, 52 selected, with ``fields`` overriding."""
    values: dict[str, object] = {"phase": 2, "done": 3, "selected": 52, "failed": 0, "running": 0}
    return runner.Tally(**{**values, **fields})  # type: ignore[arg-type]


def test_the_progress_line_counts_done_of_selected_failures_and_the_longest_running() -> None:
    """Done of selected, failures so far, then the test running longest by its file and
    name (no folders) with its whole seconds."""
    line = runner.progress_line(tally(done=23, failed=2, running=4, slowest=NODE, slowest_s=12.4))
    assert line == (
        "phase 2: 23/52 done, 2 failed; longest running "
        "test_agent_pipeline.py::test_first_message_gets_an_answer (12 s)"
    )


def test_the_progress_line_before_collection_and_with_nothing_running() -> None:
    """Before the selection is written the count stands alone; with no test running the line
    ends at the failures."""
    assert runner.progress_line(tally(done=0, selected=None)) == "phase 2: 0 done, 0 failed"


def test_a_long_test_name_is_cut_short() -> None:
    """A parametrised name past 100 characters ends in an ellipsis at 100."""
    name = runner.short_name("tests/e2e/test_x.py::test_y[" + "a" * 200 + "]")
    assert len(name) == 100
    assert name.startswith("test_x.py::test_y[a")
    assert name.endswith("…")


def test_in_a_log_the_line_shows_at_most_every_ten_seconds_and_only_when_it_changed() -> None:
    """Not a terminal: nothing in the phase's first 10 s; then a line when the phase got
    further, none for a test that only runs longer, and the next no sooner than 10 s on."""
    pacer = runner.Pacer(redraw=False)
    pacer.start(100.0)
    assert not pacer.due(tally(done=5), 105.0)
    assert pacer.due(tally(done=6, slowest=NODE, slowest_s=3), 110.5)
    assert not pacer.due(tally(done=9), 115.0)  # changed, but too soon
    assert not pacer.due(tally(done=6, slowest=NODE, slowest_s=16), 121.0)  # only longer
    assert pacer.due(tally(done=9), 121.0)
    pacer.start(200.0)  # the next phase starts its own wait
    assert not pacer.due(tally(phase=3, done=1), 205.0)


def test_on_a_terminal_the_line_is_redrawn_whenever_it_reads_otherwise() -> None:
    """A terminal: from the go on, each new text of the line (a second more included) is
    drawn; the same text twice is not."""
    pacer = runner.Pacer(redraw=True)
    pacer.start(0.0)
    assert pacer.due(tally(slowest=NODE, slowest_s=1.0), 0.5)
    assert not pacer.due(tally(slowest=NODE, slowest_s=1.2), 1.0)
    assert pacer.due(tally(slowest=NODE, slowest_s=2.0), 1.5)


def test_the_watch_reads_the_records_as_they_grow(tmp_path: Path) -> None:
    """Before collection nothing is known; then the selection gives the total, start lines
    the running tests (the earliest is the longest running), records the done and failed
    counts; a line half written is read once it is whole."""
    now = [1_000_000.0]
    watch = Watch(tmp_path, 2, clock=lambda: now[0])
    assert watch.tally() == runner.Tally(2, 0, None, 0, 0)
    tests = [Selected(f"t.py::test_{n}", "t.py", n) for n in range(4)]
    (tmp_path / "phase2.selected.jsonl").write_text(selected_lines(tests))
    writer = RecordWriter(tmp_path / "phase2.jsonl")
    writer.start("t.py::test_0", "1970-01-12T13:46:30.000Z")  # 999_990.0
    writer.start("t.py::test_1", "1970-01-12T13:46:35.000Z")  # 999_995.0
    writer.start("t.py::test_2", "1970-01-12T13:46:38.000Z")
    assert watch.tally() == runner.Tally(2, 0, 4, 0, 3, "t.py::test_0", 10.0)
    writer.record(make_record("test_0", file="t.py", outcome="failed"))
    now[0] += 2
    assert watch.tally() == runner.Tally(2, 1, 4, 1, 2, "t.py::test_1", 7.0)
    writer.close()
    line = json.dumps(make_record("test_1", file="t.py").as_json()) + "\n"
    with (tmp_path / "phase2.jsonl").open("a") as file:
        file.write(line[:20])
        file.flush()
        assert watch.tally().done == 1
        file.write(line[20:])
    assert watch.tally() == runner.Tally(2, 2, 4, 1, 1, "t.py::test_2", 4.0)


def test_the_first_failure_shows_its_test_where_it_was_raised_and_its_exception() -> None:
    """The first failed record (in the order tests ended), with the count of failures: its
    last frame (where, its source line) and the first line of its exception."""
    failure = Failure(
        "tests.e2e.client.AgentStalled",
        "agent pipeline stalled: no event for 10 s\nmore detail",
        TRACEBACK,
        where="tests/e2e/client.py:226 in converse",
    )
    records = [
        make_record("test_ok"),
        make_record("test_a", file="t.py", nodeid=NODE, outcome="failed", failure=failure),
        make_record("test_b", outcome="error", failure=Failure("OSError", "later")),
    ]
    excerpt = first_failure(records, 2, Path("phase2.log"))
    assert excerpt == runner.Excerpt(
        2,
        f"first of 2 failures: {NODE}",
        (
            "tests/e2e/client.py:226 in converse",
            "> raise AgentStalled(",
            "E tests.e2e.client.AgentStalled: agent pipeline stalled: no event for 10 s",
        ),
        Path("phase2.log"),
    )
    assert first_failure([make_record("test_ok")], 2, Path("phase2.log")) is None


def test_a_failure_recorded_without_where_takes_its_traceback_s_last_location() -> None:
    """A record written before ``where`` existed: the location line pytest put under the
    last frame stands in for it."""
    failure = Failure("tests.e2e.client.AgentStalled", "stalled", TRACEBACK)
    excerpt = first_failure([make_record("t", outcome="failed", failure=failure)], 1, Path("x"))
    assert excerpt is not None
    assert excerpt.heading.startswith("failed: ")
    assert excerpt.lines[0] == "tests/e2e/client.py:226: AgentStalled"


def test_the_end_of_the_output_of_a_pytest_that_could_not_run(tmp_path: Path) -> None:
    """Its last ten lines that are not blank, each cut to 200 characters."""
    output = tmp_path / "phase1.log"
    output.write_text("\n".join(f"line {n}" for n in range(20)) + "\n\n" + "x" * 300 + "\n")
    excerpt = output_tail(1, "pytest could not run (exit 4)", output)
    assert excerpt.lines[:-1] == tuple(f"line {n}" for n in range(11, 20))
    assert len(excerpt.lines[-1]) == 200


def test_in_a_log_the_terminal_prints_lines_and_the_excerpt_under_the_gate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not a terminal: the excerpt is indented under the gate's line, made inert for the
    Actions runner (a message may hold a workflow command: every ``::`` is split, a test id's
    too), and names pytest's output."""
    terminal = cli._Terminal(live=False)
    terminal.excerpt(
        runner.Excerpt(1, "failed: t.py::test_a", ("E ValueError: ::error::x",), Path("/x/p.log"))
    )
    assert capsys.readouterr().out.splitlines() == [
        "  failed: t.py::test_a",
        "    E ValueError: :\u200b:error::x",
        "  pytest's output: /x/p.log",
    ]


def test_on_a_terminal_the_progress_line_is_redrawn_in_place_and_wiped_for_the_gate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A terminal: the line is drawn after a carriage return with no newline, redrawn over
    itself, and wiped before the gate's line takes its place."""
    terminal = cli._Terminal(live=True)
    terminal.phase_started(2, 0, "no earlier run in the store")
    terminal.tests_running(tally(done=1))
    terminal.tests_running(tally(done=2))
    terminal.gate_judged(GateResult(2, "Two", "met", "", passed=2, duration_s=0.5))
    out = capsys.readouterr().out
    assert out == (
        "ci-tools: phase 2 runs one test at a time (no earlier run in the store)\n"
        "\rphase 2: 1/52 done, 0 failed\x1b[K"
        "\rphase 2: 2/52 done, 0 failed\x1b[K"
        "\r\x1b[K"
        "phase 2 PASS  Two: 2/2 passed in 0.5 s\n"
    )
