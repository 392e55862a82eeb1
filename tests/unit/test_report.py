"""The worklog and its outputs: size ladder, annotations, bad input, JUnit, GitHub files."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path

import pytest
from junitparser import JUnitXml

from ci_tools import config as cfg
from ci_tools import rundir
from ci_tools.diagnose import diagnose
from ci_tools.environment import HISTORY_URL, sqlite_url
from ci_tools.phases import GateResult
from ci_tools.records import Failure, RecordWriter, TestRecord
from ci_tools.report import write_report
from ci_tools.report.github import (
    MAX_ANNOTATIONS,
    build_workflow_command,
    error_annotations,
    format_outputs,
)
from ci_tools.report.markdown import LADDER, Meta, fit, render
from ci_tools.rundir import read, write
from tests.fakes.records import make_record
from tests.fakes.runs import synthetic_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config() -> cfg.Config:
    """The project's configuration."""
    return cfg.load(ROOT / "pyproject.toml")


@pytest.fixture(scope="module")
def big_run(config: cfg.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 records with 2,000 failures over the five phases."""
    results = tmp_path_factory.mktemp("big")
    synthetic_run(config, results)
    return results


META = Meta(env="local", run_id="r1", commit="abc", artifact="reports/r1/worklog.md")


def own_store(results: Path) -> dict[str, str]:
    """An environment whose run store is the test's own, beside its run directory."""
    return {HISTORY_URL: sqlite_url(results.parent / f"{results.name}-history.db")}


def test_summary_of_a_huge_run_fits_under_the_limit(config: cfg.Config, big_run: Path) -> None:
    """10,000 records: the full worklog is over 1 MiB, the summary is under it, degraded."""
    run = read.load(config, big_run)
    diagnosis = diagnose(config, run.gates, run.records, run.context)
    full = render(diagnosis, run.context, META)
    summary, rung = fit(diagnosis, run.context, META)
    assert len(summary.encode()) <= 1024 * 1024
    assert len(full.encode()) > len(summary.encode())
    assert rung >= 1
    assert "## Phases" in summary


def test_ladder_ends_in_a_truncation_with_a_pointer(config: cfg.Config, big_run: Path) -> None:
    """Below every rung's size, the summary is cut at a line and points at the artifact."""
    run = read.load(config, big_run)
    diagnosis = diagnose(config, run.gates, run.records, run.context)
    summary, rung = fit(diagnosis, run.context, META, limit=4096)
    assert rung == len(LADDER)
    assert len(summary.encode()) <= 4096
    assert summary.rstrip().endswith("`reports/r1/worklog.md` in the run's artifact.")


def test_annotations_are_capped_worst_first_and_escaped(config: cfg.Config, big_run: Path) -> None:
    """At most 10 ::error lines, infrastructure groups first, each on one line with
    file, line and title."""
    run = read.load(config, big_run)
    diagnosis = diagnose(config, run.gates, run.records, run.context)
    lines = error_annotations(diagnosis)
    assert len(lines) == MAX_ANNOTATIONS
    assert all(line.startswith("::error file=tests/e2e/phase") for line in lines)
    assert all("\n" not in line for line in lines)
    assert "(infrastructure)" in lines[0]
    classes = [g.failure_class for g in diagnosis.groups[:MAX_ANNOTATIONS]]
    assert classes == sorted(classes, key=["infrastructure", "application", "test"].index)


def test_workflow_commands_escape_properties_and_data() -> None:
    """Newlines, percent signs, colons and commas are escaped as GitHub requires."""
    line = build_workflow_command("error", "50% down\nsecond", file="a,b.py", line=3, title="x: y")
    assert line == "::error file=a%2Cb.py,line=3,title=x%3A y::50%25 down%0Asecond"


def test_outputs_use_a_heredoc_for_multiline_values() -> None:
    """$GITHUB_OUTPUT values with newlines use a delimiter; others key=value."""
    text = format_outputs({"verdict": "healthy", "why": "a\nb"})
    assert text.startswith("verdict=healthy\nwhy<<ghadelimiter_")
    assert text.endswith("\na\nb\n" + text.split("<<")[1].split("\n")[0] + "\n")


PASSED = make_record("ok", priority="P1")


def write_small_run(results: Path, *, cut: bool = False) -> None:
    """Phase 1 with one failure (and, when ``cut``, a truncated last line); no gate files,
    no context."""
    writer = RecordWriter(rundir.records(results, 1))
    writer.record(PASSED)
    writer.record(
        make_record(
            "bad",
            line=5,
            outcome="failed",
            areas=("redis",),
            priority="P1",
            failure=Failure("ConnectionError", "Error 111 connecting to 127.0.0.1:6379", "tb"),
        )
    )
    writer.close()
    if cut:
        with rundir.records(results, 1).open("a") as file:
            file.write('{"event": "test", "nodeid": "t.py::cut", "fi')


def test_bad_input_is_counted_and_the_report_still_renders(
    config: cfg.Config, tmp_path: Path
) -> None:
    """A truncated line, a missing gate file and a missing context.json are noted; the
    worklog, verdict.json and junit.xml are written; the cut record makes the run
    incomplete, said as its first cause."""
    write_small_run(tmp_path, cut=True)
    report = write_report(config, tmp_path, "local", ROOT, environ=own_store(tmp_path))
    worklog = report.worklog.read_text()
    assert "phase1.jsonl: 1 line(s) could not be read" in worklog
    assert "phase 1 has records but no gate file" in worklog
    assert "context.json is missing" in worklog
    assert report.diagnosis.verdict == "incomplete"
    assert report.incomplete == ("phase 1: 1 line(s) of phase1.jsonl unreadable (cut or not JSON)",)
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["top_cause"] == report.incomplete[0]
    assert (verdict["verdict"], verdict["escalation"], verdict["first_failed_phase"]) == (
        "incomplete",
        "P1",  # P1 tests pass 50% < 80%; a failed phase-1 gate alone is no P0 in the brief
        "1",
    )
    junit = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    assert (junit.tests, junit.failures) == (2, 1)


def test_verdict_json_reads_back_as_the_verdict_the_report_wrote(
    config: cfg.Config, tmp_path: Path
) -> None:
    """What a later job reads from verdict.json is what the report stage decided: its outputs
    are the $GITHUB_OUTPUT values, and the document written again is the same bytes."""
    write_small_run(tmp_path)
    report = write_report(config, tmp_path, "local", ROOT, environ=own_store(tmp_path))
    written = (tmp_path / "verdict.json").read_bytes()
    document = read.verdict(tmp_path)
    assert document.outputs() == report.outputs
    assert (document.verdict, document.failed, document.first_failed_phase) == ("unhealthy", 1, 1)
    assert document.causes
    assert document.causes[0]["title"] == report.diagnosis.causes[0].title
    write.verdict(tmp_path, document)
    assert (tmp_path / "verdict.json").read_bytes() == written


def test_a_truncated_verdict_json_is_refused_not_misread(tmp_path: Path) -> None:
    """A verdict.json cut short (a kill mid-copy) raises instead of reading as a verdict."""
    (tmp_path / "verdict.json").write_text('{"verdict": "healthy", "escalation": "none"')
    with pytest.raises(json.JSONDecodeError):
        read.verdict(tmp_path)


def test_an_empty_run_gives_no_verdict(config: cfg.Config, tmp_path: Path) -> None:
    """No phase results at all: verdict unknown, said in the notes."""
    report = write_report(config, tmp_path, "local", ROOT, environ=own_store(tmp_path))
    assert report.diagnosis.verdict == "unknown"
    assert "no verdict could be formed" in report.worklog.read_text()


def test_github_files_are_appended_not_overwritten(config: cfg.Config, tmp_path: Path) -> None:
    """In Actions the summary and outputs are appended to what earlier steps wrote."""
    write_small_run(tmp_path)
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    summary.write_text("earlier step\n")
    output.write_text("earlier=1\n")
    report = write_report(
        config,
        tmp_path,
        "local",
        ROOT,
        environ={
            **own_store(tmp_path),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ACTIONS": "true",
            "GITHUB_SHA": "0123456789abcdef",
        },
    )
    assert summary.read_text().startswith("earlier step\n# ❌ Deploy unhealthy")
    assert "`0123456789ab`" in summary.read_text()
    assert output.read_text().startswith("earlier=1\nverdict=unhealthy\nescalation=P1\n")
    assert report.annotations[0].startswith("::error file=t.py,line=5,title=Redis unreachable")


def test_a_phase_that_never_ran_makes_the_run_incomplete(
    config: cfg.Config, tmp_path: Path
) -> None:
    """Phase 1 met, phases 2-5 absent (a cancelled job): never "healthy", always said."""
    writer = RecordWriter(rundir.records(tmp_path, 1))
    writer.record(PASSED)
    writer.close()
    write.gate(
        tmp_path,
        GateResult(
            phase=1,
            title="Infrastructure health",
            status="met",
            reason="gate met",
            total=1,
            passed=1,
        ),
    )
    report = write_report(config, tmp_path, "local", ROOT, environ=own_store(tmp_path))
    assert report.diagnosis.verdict == "incomplete"
    assert [g.status for g in report.diagnosis.gates] == ["met", *["not_run"] * 4]
    assert report.outputs["verdict"] == "incomplete"
    assert "did not run: no records and no gate file" in report.worklog.read_text()


def test_a_truncated_gate_file_is_noted_and_rejudged(config: cfg.Config, tmp_path: Path) -> None:
    """A gate file cut short (a broken artifact) does not stop the report."""
    write_small_run(tmp_path)
    (tmp_path / "phase1.gate.json").write_text('{"phase": 1, "title": "Infra')
    report = write_report(config, tmp_path, "local", ROOT, environ=own_store(tmp_path))
    assert "phase1.gate.json is unreadable (JSONDecodeError)" in report.worklog.read_text()
    assert report.diagnosis.gates[0].status == "not_met"


def test_a_broken_store_is_one_warning_and_the_worklog_says_so(tmp_path: Path) -> None:
    """A corrupt run store: ``ci-tools report`` writes the worklog without history with a
    note saying why, warns in one line on stderr, and leaves the file as it was."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    write_small_run(tmp_path)
    store = tmp_path.parent / f"{tmp_path.name}-history.db"
    store.write_bytes(b"garbage" * 64)
    command = [sys.executable, "-m", "ci_tools.cli", "--root", str(ROOT), "report"]
    done = subprocess.run(
        [*command, "--run-dir", str(tmp_path)],
        env={**os.environ, **own_store(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    worklog = (tmp_path / "worklog.md").read_text()
    assert "**History:** none (see the notes)." in worklog
    assert "without history: this run was not recorded in the run store (sqlite:///" in worklog
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("warning: this run was not recorded in the run store (")
    assert "it is not a usable database (file is not a database); move the file" in done.stderr
    assert store.read_bytes() == b"garbage" * 64
    assert "new_failures" not in json.loads((tmp_path / "verdict.json").read_text())


def test_history_import_records_old_run_directories_in_order(
    config: cfg.Config, tmp_path: Path
) -> None:
    """``ci-tools history import`` records each directory once (again: replaced), oldest
    first, and ``ci-tools history --json`` lists them."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    runs = []
    for name in ("run-b", "run-a"):
        folder = tmp_path / name
        write_small_run(folder)
        runs.append(folder)
    environ = {**os.environ, **own_store(tmp_path)}
    command = [sys.executable, "-m", "ci_tools.cli", "--root", str(ROOT), "history"]
    for _ in range(2):
        done = subprocess.run(
            [*command, "import", *map(str, runs)],
            env=environ,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    shown = subprocess.run(
        [*command, "--json"], env=environ, capture_output=True, text=True, check=False
    )
    listed = json.loads(shown.stdout)["runs"]
    assert sorted(r["run_id"] for r in listed) == ["run-a", "run-b"]
    assert not (runs[0] / "worklog.md").exists()  # import writes nothing into the run


def test_history_import_into_a_store_it_cannot_write_exits_1_naming_the_lost_runs(
    config: cfg.Config, tmp_path: Path
) -> None:
    """A run directory the store refuses is said on its line, counted on stderr, and the
    import exits 1, not 0."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    folder = tmp_path / "run-a"
    write_small_run(folder)
    store = tmp_path / "history.db"
    store.write_bytes(b"garbage" * 64)
    environ = {**os.environ, "CI_TOOLS_HISTORY_URL": f"sqlite:///{store}"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ci_tools.cli",
            "--root",
            str(ROOT),
            "history",
            "import",
            str(folder),
        ],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "1 of 1 run(s) not recorded" in done.stderr
    assert store.read_bytes() == b"garbage" * 64


@pytest.mark.parametrize("collecting", [True, False])
def test_the_report_leaves_the_cycle_collector_as_it_found_it(
    config: cfg.Config, tmp_path: Path, collecting: bool
) -> None:
    """The stage turns the collector off while it runs: a caller's is on again after it (a
    report that raised too), and a caller that had it off keeps it off."""
    write_small_run(tmp_path)
    was = gc.isenabled()
    try:
        (gc.enable if collecting else gc.disable)()
        write_report(config, tmp_path, "local", ROOT, environ=own_store(tmp_path))
        assert gc.isenabled() is collecting
        not_a_folder = tmp_path / "phase1.jsonl"
        with pytest.raises(OSError, match="Not a directory"):
            write_report(config, not_a_folder, "local", ROOT, environ=own_store(tmp_path))
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()


def test_junit_holds_a_failure_whose_text_has_control_characters(tmp_path: Path) -> None:
    """An escape sequence or a NUL in a failure (a test's coloured output) is written as
    \\xNN: junit.xml stays well-formed and the rest of the text is kept."""
    from ci_tools.report.junit import junit_xml  # noqa: PLC0415

    failure = Failure("AssertionError", "\x1b[91m- up\x00", "E   \x1b[0m- up\nE   + down")
    record = make_record("t", outcome="failed", failure=failure, phase=1)
    gate = GateResult(1, "One", "not_met", "pass rate 0%")
    path = write.junit(tmp_path, junit_xml([gate], [record]))
    junit = JUnitXml.fromfile(str(path))
    case = next(iter(next(iter(junit))))
    assert case.result[0].message == "\\x1b[91m- up\\x00"
    assert "+ down" in case.system_err


def test_junit_counts_each_phases_cases_and_the_whole_run(tmp_path: Path) -> None:
    """Each phase's suite counts its tests, failures, errors, skips (not run is a skip) and
    seconds, and the document sums them: what CI tools read first."""
    from ci_tools.report.junit import junit_xml  # noqa: PLC0415

    failure = Failure("AssertionError", "no", "E   no")
    records = [
        make_record("a", outcome="passed", phase=1, duration_s=0.1),
        make_record("b", outcome="failed", failure=failure, phase=1, duration_s=0.2),
        make_record("c", outcome="error", failure=failure, phase=2, duration_s=1.25),
        make_record("d", outcome="not_run", phase=2, duration_s=0.0),
        make_record("e", outcome="skipped", phase=2, duration_s=0.0),
    ]
    gates = [GateResult(1, "One", "not_met", "x"), GateResult(2, "Two", "not_met", "y")]
    junit = JUnitXml.fromfile(str(write.junit(tmp_path, junit_xml(gates, records))))
    suites = [(s.tests, s.failures, s.errors, s.skipped, s.time) for s in junit]
    assert suites == [(2, 1, 0, 0, 0.3), (3, 0, 1, 2, 1.25)]
    assert (junit.tests, junit.failures, junit.errors, junit.skipped) == (5, 1, 1, 2)
    assert junit.time == 1.55
    by_name = {case.name: case for suite in junit for case in suite}
    assert [type(r).__name__ for r in by_name["c"].result] == ["Error"]
    assert by_name["c"].system_err == "E   no"
    assert (by_name["b"].classname, by_name["b"].time) == ("t", 0.2)


def _outcomes(priority: str | None, phase: int, **counts: int) -> list[TestRecord]:
    """``counts`` records of each outcome for one priority, each its own test."""
    return [
        make_record(f"{priority}_{outcome}_{n}", priority=priority, phase=phase, outcome=outcome)
        for outcome, count in counts.items()
        for n in range(count)
    ]


def test_the_summary_says_what_is_at_risk_per_failing_priority(config: cfg.Config) -> None:
    """One line per priority with tests failing (failed or error) or not run, with what it
    protects and counts of its selected tests, P1 first; passing priorities and tests
    without a priority are not listed."""
    records = [
        *_outcomes("P4", 4, passed=1, failed=1, not_run=2),
        *_outcomes("P2", 3, passed=10, not_run=10),
        *_outcomes("P1", 1, passed=10, failed=1),
        *_outcomes("P1", 2, passed=12, failed=1, error=1),
        *_outcomes("P3", 4, passed=5, skipped=1),
        *_outcomes(None, 5, failed=2),
    ]
    diagnosis = diagnose(config, [], records, None)
    expected = [
        "P1 Core platform — $120K+ MRR: 3 of 25 failing",
        "P2 Key features — $80K MRR: 10 of 20 not run",
        "P4 Secondary features — $20K MRR: 1 of 4 failing, 2 not run",
    ]
    assert [r.text for r in diagnosis.at_risk] == expected
    summary = render(diagnosis, None, META).split("## Phases")[0]
    assert "**At risk:**\n\n" + "".join(f"- {line}\n" for line in expected) in summary


def test_without_stated_figures_the_at_risk_line_names_only_the_title() -> None:
    """A project with no priorities table: the line says the priority and its title, no
    money nobody stated."""
    diagnosis = diagnose(cfg.parse({}), [], _outcomes("P1", 1, passed=1, failed=1), None)
    assert [r.text for r in diagnosis.at_risk] == ["P1 Core platform: 1 of 2 failing"]


def test_nothing_is_at_risk_when_every_test_passes(config: cfg.Config) -> None:
    """Passed and skipped tests only: no At risk line in the worklog."""
    records = [*_outcomes("P1", 1, passed=3), *_outcomes("P2", 2, passed=2, skipped=1)]
    diagnosis = diagnose(config, [], records, None)
    assert diagnosis.at_risk == ()
    assert "At risk" not in render(diagnosis, None, META)


def test_verdict_json_holds_what_is_at_risk_as_data(config: cfg.Config, tmp_path: Path) -> None:
    """verdict.json lists each priority at risk with its label, figure and counts; the
    worklog says the same line."""
    write_small_run(tmp_path)
    report = write_report(config, tmp_path, "local", ROOT, environ=own_store(tmp_path))
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["at_risk"] == [
        {
            "priority": "P1",
            "label": "P1 Core platform — $120K+ MRR",
            "title": "Core platform",
            "protects": "$120K+ MRR",
            "tests": 2,
            "failing": 1,
            "not_run": 0,
        }
    ]
    assert "- P1 Core platform — $120K+ MRR: 1 of 2 failing\n" in report.worklog.read_text()
