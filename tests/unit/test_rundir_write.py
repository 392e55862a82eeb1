"""A run's files are written once, completely, or not at all; an incomplete run never replaces
a complete one; a run is who its own files say; a run id names a folder under reports/ only."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci_tools import config as cfg
from ci_tools import rundir
from ci_tools._exceptions import ConfigError, RunDirError
from ci_tools.environment import HISTORY_URL, sqlite_url
from ci_tools.history.model import PastRun
from ci_tools.history.store import open_store
from ci_tools.phases import evaluate_gate, skipped_gate
from ci_tools.records import Failure, RecordWriter, Selected, read_records, selected_lines
from ci_tools.report import write_report
from ci_tools.rundir import read, write
from ci_tools.rundir.identity import RunIdentity
from tests.fakes.projects import pyproject
from tests.fakes.records import make_record

ROOT = Path(__file__).resolve().parents[2]
TESTS, PASSING = 17, 5  # phase 1 of the run: 5 pass, 12 fail (Redis refused)


@pytest.fixture(scope="module")
def config() -> cfg.Config:
    """The project's configuration."""
    return cfg.load(ROOT / "pyproject.toml")


def write_run(config: cfg.Config, run: Path) -> None:
    """A whole run as the runner leaves it: phase 1's selection, records and gate (not met),
    and phases 2-5 skipped behind it."""
    tests = [make_record(f"test_{n}", line=n + 1, priority="P1") for n in range(TESTS)]
    selection = [Selected(t.nodeid, t.file, t.line, t.priority) for t in tests]
    write.write_atomically(rundir.selected(run, 1), selected_lines(selection))
    writer = RecordWriter(rundir.records(run, 1))
    refused = Failure("ConnectionError", "Error 111 connecting to 127.0.0.1:6379", "tb")
    for n, test in enumerate(tests):
        writer.start(test.nodeid, test.start)
        failed = dataclasses.replace(test, outcome="failed", failure=refused)
        writer.record(test if n < PASSING else failed)
    writer.close()
    found = read_records(rundir.records(run, 1))
    first = evaluate_gate(1, config.phases[1], config, found, started_at="2026-01-01T00:00:00Z")
    write.gate(run, first)
    for number in list(config.phases)[1:]:
        write.gate(run, skipped_gate(number, config.phases[number], first))


def store_of(run: Path) -> dict[str, str]:
    """An environment whose run store is the test's own, beside the run's folder."""
    return {HISTORY_URL: sqlite_url(run.parent / f"{run.name}-history.db")}


def stored(environ: dict[str, str]) -> list[tuple[PastRun, int]]:
    """The runs of the local environment in the store, each with its count of results."""
    store = open_store(environ[HISTORY_URL])
    try:
        found = store.runs("local")
        counts = {key: 0 for key in (r.key for r in found)}
        for result in store.results(list(counts)):
            counts[result.run] += 1
        return [(run, counts[run.key]) for run in found]
    finally:
        store.close()


def cli(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``ci-tools`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", *args],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cut_to_a_third(path: Path) -> None:
    """The file cut short mid-line, as a broken copy of an artifact leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def leftovers(folder: Path) -> list[str]:
    """Temporary files of the atomic writer left in the folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# The atomic writer


def test_a_file_is_written_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A write replaces the file with the new text (bytes alike) and leaves nothing beside it."""
    path = tmp_path / "deeper" / "phase1.order.txt"
    write.write_atomically(path, "a\n")
    write.write_atomically(path, b"b\n")
    assert path.read_bytes() == b"b\n"
    assert leftovers(path.parent) == []


def test_a_directory_in_a_files_place_fails_the_whole_set(tmp_path: Path) -> None:
    """One file of a set that cannot be written (a directory stands in its place): none is
    written, the others keep their earlier bytes, and the error names the file in one line."""
    worklog, verdict = rundir.worklog(tmp_path), tmp_path / "verdict.json"
    worklog.write_text("previous worklog\n")
    verdict.mkdir()
    with pytest.raises(RunDirError) as refused:
        write.write_all({worklog: "new worklog\n", verdict: "{}\n"})
    message = str(refused.value)
    assert message.startswith(f"could not write {verdict}: a directory is in its place")
    assert "move away the directory in its place" in message
    assert "\n" not in message
    assert worklog.read_text() == "previous worklog\n"
    assert leftovers(tmp_path) == []


def test_a_folder_that_is_a_file_is_one_line_naming_it(tmp_path: Path) -> None:
    """A file where the run's folder should be: ``RunDirError`` names the file to write."""
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(RunDirError, match=r"could not write .*run/worklog\.md: .*folder"):
        write.worklog(tmp_path / "run", "text")


FILE_TOO_LARGE = """
import resource, signal, sys
from pathlib import Path
from ci_tools._exceptions import RunDirError
from ci_tools.rundir import write

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write.worklog(Path(sys.argv[1]), "x" * 100_000)
except RunDirError as exc:
    print(exc)
    sys.exit(2)
"""


def test_a_write_past_the_file_size_limit_keeps_the_previous_file(tmp_path: Path) -> None:
    """A real write error (EFBIG under ``ulimit -f``): the previous worklog is kept byte for
    byte, the temporary file is gone, and the error says what to do."""
    worklog = rundir.worklog(tmp_path)
    worklog.write_text("previous worklog\n")
    before = worklog.stat()
    done = subprocess.run(
        [sys.executable, "-c", FILE_TOO_LARGE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.startswith(f"could not write {worklog}: File too large")
    assert "raise the file-size limit (ulimit -f)" in done.stdout
    assert worklog.read_text() == "previous worklog\n"
    assert worklog.stat().st_ino == before.st_ino
    assert leftovers(tmp_path) == []


WRITE_FOREVER = """
import itertools, sys
from pathlib import Path
from ci_tools.rundir import write

run, size = Path(sys.argv[1]), int(sys.argv[2])
print("writing", flush=True)
for n in itertools.count():
    write.worklog(run, "ab"[n % 2] * size)
"""


def test_a_kill_mid_write_never_leaves_an_empty_or_cut_file(tmp_path: Path) -> None:
    """A process killed (SIGKILL) while it rewrites a big worklog over and over leaves the
    last complete worklog, every time: never 0 bytes, never part of one."""
    size = 4 * 1024 * 1024
    write.worklog(tmp_path, "a" * size)
    for round_ in range(8):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITE_FOREVER, str(tmp_path), str(size)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline() == "writing\n"
        time.sleep(0.05 + 0.04 * round_)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()
        text = rundir.worklog(tmp_path).read_text()
        assert len(text) == size
        assert text in ("a" * size, "b" * size)


# What the run lost


def test_a_truncated_phase_reported_again_is_incomplete_and_keeps_the_stored_run(
    config: cfg.Config, tmp_path: Path
) -> None:
    """phase1.jsonl cut to a third after the run was reported: ``ci-tools report`` says the
    run is incomplete (verdict, first cause, $GITHUB_OUTPUT), exits non-zero, and the store
    keeps the complete report: its verdict and all 17 results."""
    run = tmp_path / "r1"
    write_run(config, run)
    environ = store_of(run)
    first = write_report(config, run, "local", ROOT, environ=environ)
    assert first.diagnosis.verdict == "unhealthy"
    assert [(r.verdict, count) for r, count in stored(environ)] == [("unhealthy", TESTS)]
    cut_to_a_third(rundir.records(run, 1))
    output = tmp_path / "github_output"
    done = cli(
        "--root",
        str(ROOT),
        "report",
        "--run-dir",
        str(run),
        environ={**environ, "GITHUB_OUTPUT": str(output), "GITHUB_ACTIONS": "false"},
    )
    assert done.returncode == 1, done.stderr
    document = read.verdict(run)
    lost = read.load(config, run).incomplete
    assert len(lost) == 1
    assert lost[0].startswith("phase 1: ")
    assert f"of {TESTS} records unreadable (1 line(s) of phase1.jsonl cut or not JSON)" in lost[0]
    assert (document.verdict, document.top_cause) == ("incomplete", lost[0])
    assert rundir.worklog(run).read_text().startswith("# ⚠️ Deploy incomplete")
    assert f"1. **{lost[0]}** (infrastructure)" in rundir.worklog(run).read_text()
    assert "verdict=incomplete\n" in output.read_text()
    assert f"top_cause={lost[0]}\n" in output.read_text()
    assert "an incomplete report never replaces it" in done.stderr
    assert [(r.verdict, count) for r, count in stored(environ)] == [("unhealthy", TESTS)]


def test_an_incomplete_run_is_stored_as_incomplete_until_its_complete_report(
    config: cfg.Config, tmp_path: Path
) -> None:
    """Reported first from a cut copy, the run is stored as incomplete; its complete folder
    reported later replaces that, with every result."""
    run, cut = tmp_path / "r1", tmp_path / "copy" / "r1"
    write_run(config, run)
    shutil.copytree(run, cut)
    cut_to_a_third(rundir.records(cut, 1))
    environ = store_of(run)
    assert write_report(config, cut, "local", ROOT, environ=environ).incomplete
    [(incomplete, _)] = stored(environ)
    assert incomplete.verdict == "incomplete"
    assert not write_report(config, run, "local", ROOT, environ=environ).incomplete
    assert [(r.verdict, count) for r, count in stored(environ)] == [("unhealthy", TESTS)]


def test_selected_tests_without_records_make_the_run_incomplete(
    config: cfg.Config, tmp_path: Path
) -> None:
    """Every line parses but records are gone (a file swapped for a shorter one): the
    selection says how many; a records file gone entirely is said as gone."""
    write_run(config, tmp_path)
    records = rundir.records(tmp_path, 1)
    lines = records.read_text().splitlines(keepends=True)
    records.write_text("".join(lines[: len(lines) // 2]))
    found = read.records(tmp_path, 1)
    assert found.bad_lines == 0
    missing = TESTS - len(found.records)
    assert read.lost(tmp_path, 1, found) == f"phase 1: {missing} of {TESTS} records unreadable"
    records.unlink()
    gone = read.records(tmp_path, 1)
    assert read.lost(tmp_path, 1, gone) == (
        f"phase 1: {TESTS} of {TESTS} records missing (phase1.jsonl is gone)"
    )


def test_a_whole_run_has_lost_nothing(config: cfg.Config, tmp_path: Path) -> None:
    """The run as the runner left it is complete: nothing lost, its verdict from its gates."""
    write_run(config, tmp_path)
    assert read.load(config, tmp_path).incomplete == ()


# A write that fails


def test_a_report_that_cannot_write_keeps_the_files_and_records_nothing(
    config: cfg.Config, tmp_path: Path
) -> None:
    """junit.xml cannot be written (a directory in its place): ``ci-tools report`` exits 2
    with one line naming it; the previous worklog and verdict are untouched (same inode,
    same bytes), and the run store does not hold the run."""
    run = tmp_path / "r1"
    write_run(config, run)
    write_report(config, run, "local", ROOT, environ=store_of(run))
    worklog = rundir.worklog(run)
    before = worklog.read_bytes(), worklog.stat().st_ino, rundir.paths.verdict(run).read_bytes()
    rundir.junit(run).unlink()
    rundir.junit(run).mkdir()
    environ = {HISTORY_URL: sqlite_url(tmp_path / "other-history.db")}
    done = cli("--root", str(ROOT), "report", "--run-dir", str(run), environ=environ)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: could not write {rundir.junit(run)}")
    assert (
        worklog.read_bytes(),
        worklog.stat().st_ino,
        rundir.paths.verdict(run).read_bytes(),
    ) == before
    assert leftovers(run) == []
    assert stored(environ) == []


# Who a run is


def test_a_copied_run_reported_again_is_the_same_run(config: cfg.Config, tmp_path: Path) -> None:
    """A run folder copied under another name and reported again replaces the run in the
    store (its run.json names it), instead of adding a second one."""
    run, copy = tmp_path / "r1", tmp_path / "downloaded-artifact"
    write_run(config, run)
    environ = {HISTORY_URL: sqlite_url(tmp_path / "history.db")}
    write_report(config, run, "local", ROOT, environ=environ)
    assert read.identity(run) == RunIdentity("r1", 1)
    shutil.copytree(run, copy)
    write_report(config, copy, "local", ROOT, environ=environ)
    assert [(r.run_id, r.attempt, count) for r, count in stored(environ)] == [("r1", 1, TESTS)]
    assert "| `r1` |" in rundir.worklog(copy).read_text()


def test_a_run_named_when_it_started_keeps_its_name_in_any_folder(
    config: cfg.Config, tmp_path: Path
) -> None:
    """``ci-tools run`` names the run in run.json; two copies of it, never reported before,
    are one run; a name already written is kept."""
    first, second = tmp_path / "a", tmp_path / "b"
    write_run(config, first)
    write.identify(first, "12345")
    write.identify(first, "other")
    assert read.identity(first) == RunIdentity("12345")
    shutil.copytree(first, second)
    environ = {HISTORY_URL: sqlite_url(tmp_path / "history.db")}
    for folder in (first, second):
        write_report(config, folder, "local", ROOT, environ=environ)
    assert [r.run_id for r, _ in stored(environ)] == ["12345"]


def test_an_unreadable_run_json_is_refused_not_guessed(tmp_path: Path) -> None:
    """A run.json cut short, or naming no usable run id, is one line saying what to do."""
    rundir.paths.identity(tmp_path).write_text('{"run_id": "1')
    with pytest.raises(RunDirError, match=r"run\.json is unreadable .*: restore it"):
        read.identity(tmp_path)
    rundir.paths.identity(tmp_path).write_text('{"run_id": "../x", "attempt": 1}')
    with pytest.raises(RunDirError, match="is not a run id"):
        read.identity(tmp_path)


@pytest.mark.parametrize(
    "value",
    ["../../x", "..", ".hidden", "a/b", "a b", "", "x" * 129, "latest", "history.db", "é"],
)
def test_a_run_id_that_is_not_one_folder_name_is_refused(value: str) -> None:
    """Only letters, digits, '.', '_' and '-', no leading dot, at most 128 characters, and
    not a name reports/ gives to something else: anything else is a ConfigError."""
    with pytest.raises(ConfigError, match="is not a run id"):
        rundir.check_run_id(value, "$CI_TOOLS_RUN_ID")


def test_good_run_ids_are_kept_and_an_empty_variable_means_none() -> None:
    """GitHub's run ids, dated ids and the like pass as they are; an empty variable is unset."""
    assert rundir.run_id({"CI_TOOLS_RUN_ID": "12345678901"}) == "12345678901"
    assert rundir.run_id({}, "e2e-20261205-101010") == "e2e-20261205-101010"
    assert rundir.check_run_id("v1.2_rc-3", "--run-id") == "v1.2_rc-3"
    assert len(rundir.run_id({"CI_TOOLS_RUN_ID": ""})) == len("20261205-101010")


PROJECT = pyproject("test_one.py")


@pytest.mark.parametrize(
    ("args", "environ"),
    [((), {"CI_TOOLS_RUN_ID": "../../x"}), (("--run-id", "../x"), {})],
)
def test_run_refuses_a_run_id_outside_reports(
    tmp_path: Path, args: tuple[str, ...], environ: dict[str, str]
) -> None:
    """``ci-tools run`` with a run id that climbs out of reports/: exit 2, one line, nothing
    written anywhere, reports/latest still pointing at the last run."""
    project = tmp_path / "project"
    (project / "reports" / "r0").mkdir(parents=True)
    (project / "reports" / "latest").symlink_to("r0")
    (project / "pyproject.toml").write_text(PROJECT)
    (project / "test_one.py").write_text("def test_one():\n    pass\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = cli("--root", str(project), "run", *args, environ=environ)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1
    assert "is not a run id" in done.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert os.readlink(project / "reports" / "latest") == "r0"


def test_latest_is_repointed_in_one_step(tmp_path: Path) -> None:
    """``reports/latest`` moves from one run to the next with no moment without it, and a
    real folder named latest is left alone."""
    write.link_latest(tmp_path, "r1")
    write.link_latest(tmp_path, "r2")
    assert os.readlink(rundir.latest(tmp_path)) == "r2"
    assert leftovers(tmp_path) == []
    other = tmp_path / "other"
    (other / "latest").mkdir(parents=True)
    write.link_latest(other, "r1")
    assert (other / "latest").is_dir()
    assert not (other / "latest").is_symlink()
    assert [p.name for p in other.iterdir()] == ["latest"]
