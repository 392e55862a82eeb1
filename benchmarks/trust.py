"""Trust: the goals of issue 22 as figures, each beside its goal.

- Faults survived: 13 probes, each through the real ``ci-tools`` in processes of its own (a
  kill at any write of the report, a full disk, an unwritable target, 16 writers into a
  fresh SQLite store and into a fresh PostgreSQL database, the same run reported 6 times at
  once, a locked, a corrupt and a newer store, a truncated records file, a copied run
  directory, a bad run id, a bad store URL); a probe is ok when no run is lost or silently
  changed and the command says what happened in one line. Goal: 13 of 13.
- Hostile text: over N generated payloads (``tests/fakes/payloads.py``) in every place
  untrusted text reaches, through the real renderers: workflow commands on stdout beyond the
  annotations meant, ``<details>`` blocks broken and headings injected as GitHub's renderer
  (cmark-gfm) reads the worklog and the step summary. Goal: 0 each.
- Secret values: ``ci-tools run`` + ``ci-tools report`` of a probe project whose failing
  tests hold the test users' password in every shape (``tests/fakes/leaky.py``), in and out
  of GitHub Actions: its hits in the run's files, the run store and the terminal. Goal: 0.
- Job log: the main job with ``--fault redis_down``: its lines (goal <= 150) and the
  verdict's line counted from the end (goal <= 40).

``--no-postgres`` skips the PostgreSQL probe and ``--no-main-job`` the job log (each printed
as skipped); ``--rounds`` sets the kills, ``--payloads`` the payloads. Exit 1 when a goal is
missed.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, for tests.*
import psycopg
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings

from ci_tools import config as cfg
from ci_tools import rundir
from ci_tools.environment import HISTORY_URL, PASSWORD_VARIABLE, sqlite_url
from ci_tools.report.github import error_annotations
from ci_tools.report.markdown import LADDER, Meta, fit, render
from ci_tools.rundir import IDENTITY, JUNIT, VERDICT, WORKLOG, write
from ci_tools.rundir.identity import RunIdentity
from reference_platform import stack
from tests.fakes import leaky
from tests.fakes.inert import injected_headings, structure, terminal_output
from tests.fakes.payloads import (
    Hostile,
    hostile_diagnosis,
    parse_workflow_command,
    workflow_commands,
)
from tests.fakes.runs import synthetic_run
from tests.fakes.secret_shapes import shapes
from tests.integration.helpers import service_secrets
from tests.integration.test_job_log import LAST_SCREEN, MOST_LINES, verdict_from_end

ROOT = Path(__file__).resolve().parent.parent
CONFIG = cfg.load(ROOT / "pyproject.toml")
PROBES = 13
REPORT_FILES = (IDENTITY, JUNIT, WORKLOG, VERDICT)  # what one report writes, as one set
SMALL, BIG = 200, 2_000  # records of a synthetic run: most probes, the kills
BAD_URL = "postgresql://ci:s3cret-pw@127.0.0.1:notaport/history"
COMMIT = "c0ffee000022"  # the commit every report of the probes names
# ``ci-tools`` as one of many writers let go at the same moment: loaded, it says "ready",
# then runs the command once told "go" (the command line is the CLI's own).
AT_ONCE = """
import sys
from ci_tools import cli
import ci_tools.report, ci_tools.report.terminal, ci_tools.history.store
print("ready", flush=True)
sys.stdin.readline()
sys.exit(cli.main(sys.argv[1:]))
"""
# ``ci-tools`` on a full disk: every file it writes may hold ``limit`` bytes.
LIMITED = """
import resource, signal, sys
from ci_tools import cli
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
sys.exit(cli.main(sys.argv[1:]))
"""


@dataclasses.dataclass(frozen=True)
class Probe:
    """One fault and what was seen: ok, missed (what went wrong) or skipped (None)."""

    name: str
    ok: bool | None
    said: str
    seconds: float = 0.0


class Checks:
    """What a probe expected and did not see."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def expect(self, ok: bool, what: str) -> bool:
        """Notes ``what`` as missed unless ``ok``."""
        if not ok:
            self.missed.append(what)
        return ok

    def one_line(self, done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
        """Exit ``code``, one line on stderr holding every word, no traceback."""
        err = done.stderr
        self.expect(done.returncode == code, f"exit {done.returncode}, not {code}: {err[-300:]}")
        self.expect(err.count("\n") == 1, f"{err.count(chr(10))} lines on stderr: {err[-300:]}")
        for word in words:
            self.expect(word in err, f"stderr does not say {word!r}: {err[-300:]}")

    def probe(self, name: str, said: str) -> Probe:
        """The probe: ok with ``said``, or missed with what went wrong."""
        return Probe(name, not self.missed, "; ".join(self.missed) or said)


def environ(**extra: str) -> dict[str, str]:
    """This environment without CI_TOOLS_* and GITHUB_* (a CI machine sets them), the
    commit under test fixed (a commit to the checkout meanwhile changes no report), and
    ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CI_TOOLS_", "GITHUB_"))}
    return base | {"CI_TOOLS_COMMIT": COMMIT} | extra


def ci_tools(
    *args: str,
    url: str,
    root: Path = ROOT,
    script: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``ci-tools --root ROOT ARGS`` as a user runs it, its run store at ``url``, with the
    ``extra`` variables (through ``script`` instead of the CLI's module, when given)."""
    head = ["-c", script] if script else ["-m", "ci_tools.cli"]
    return subprocess.run(
        [sys.executable, *head, "--root", str(root), *args],
        env=environ(**{HISTORY_URL: url, **(extra or {})}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def report(run: Path, url: str) -> subprocess.CompletedProcess[str]:
    """``ci-tools report --run-dir RUN``."""
    return ci_tools("report", "--run-dir", str(run), url=url)


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def report_files(run: Path) -> dict[str, bytes]:
    """The report's files of a run, with their bytes (b"" for one missing)."""
    return {
        name: (run / name).read_bytes() if (run / name).is_file() else b"" for name in REPORT_FILES
    }


def temporaries(run: Path) -> list[Path]:
    """The atomic writer's temporary files in the run's folder."""
    return [p for p in run.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


def engine_of(url: str) -> sa.Engine:
    """An engine on the store's database, bypassing ci_tools (psycopg 3 for PostgreSQL)."""
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def stored(url: str) -> list[tuple[object, ...]]:
    """Every run the store holds (run id, attempt, verdict, when recorded) with its count of
    results, as its tables hold them; none for a SQLite file not there."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    engine = engine_of(url)
    try:
        with engine.connect() as db:
            rows = db.execute(
                sa.text(
                    "SELECT run_id, attempt, verdict, recorded_at, (SELECT count(*) FROM results "
                    "WHERE results.run = runs.id) FROM runs ORDER BY run_id, attempt"
                )
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]


def schema(url: str) -> str | None:
    """The store's schema revision."""
    engine = engine_of(url)
    try:
        with engine.connect() as db:
            return db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


class Lab:
    """A folder of synthetic runs: each probe takes copies of one small and one big run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.templates: dict[int, Path] = {}
        for size in (SMALL, BIG):
            self.templates[size] = folder / "templates" / f"run-{size}"
            synthetic_run(CONFIG, self.templates[size], records=size, failures=size // 5,
                          distinct=size // 5)  # fmt: skip

    def run(self, name: str, size: int = SMALL) -> Path:
        """A new copy of the synthetic run, in ``name``'s own folder (its run id)."""
        copy = self.folder / name / name
        shutil.copytree(self.templates[size], copy)
        return copy

    def url(self, name: str) -> str:
        """A SQLite store of the probe's own (not created yet)."""
        return sqlite_url(self.folder / name / "history.db")

    def reported(self, name: str, size: int = SMALL) -> tuple[Path, str, Checks]:
        """A run reported once into a store of its own, and the probe's checks (the first
        report being one)."""
        run, url, checks = self.run(name, size), self.url(name), Checks()
        done = report(run, url)
        checks.expect(done.returncode == 0 and not done.stderr, f"first report: {done.stderr}")
        return run, url, checks


# --- the faults ---------------------------------------------------------------------------


def kill_once(run: Path, url: str, way: str, longest_s: float, rng: random.Random) -> str:
    """Starts ``ci-tools report`` and SIGKILLs it: after a random delay, as soon as it
    stages the report's files (``.tmp`` beside them), or once they are renamed (it writes
    the store). Where it was killed."""
    verdict = run / VERDICT
    before = verdict.stat().st_ino
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ci_tools.cli",
            "--root",
            str(ROOT),
            "report",
            "--run-dir",
            str(run),
        ],
        env=environ(**{HISTORY_URL: url}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its git too
    )
    delay = rng.uniform(0.05, longest_s) if way == "at random" else 3 * longest_s
    deadline, point = time.monotonic() + delay, way
    while time.monotonic() < deadline:
        if process.poll() is not None:
            point = "after it ended"
            break
        if way == "staging the files" and temporaries(run):
            break
        if way == "writing the store" and verdict.stat().st_ino != before:
            break
        if way == "at random":
            time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return point


def store_whole(url: str, run_id: str | None, results: int) -> str:
    """What is wrong with the SQLite store ("" when nothing): its integrity, and the run
    ``run_id`` there alone, once, with every result (when given)."""
    path = url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        return f"integrity_check: {integrity}"
    if run_id is None:
        return ""
    found = [(row[0], row[4]) for row in stored(url)]
    return "" if found == [(run_id, results)] else f"store holds {found}"


def kill_at_writes(lab: Lab, rounds: int) -> Probe:
    """SIGKILL ``ci-tools report`` at random and while it writes its files and the store,
    ROUNDS times, the run's records alternating between two versions: each file of the
    report is always one of the two complete versions, the store whole."""
    run, url, checks = lab.run("kill", BIG), lab.url("kill"), Checks()
    records = rundir.records(run, 1)
    first = records.read_bytes()
    versions, longest = [], 0.0
    for variant in (first, first.replace(b"; the answer was: ", b"; the answer then was: ", 1)):
        records.write_bytes(variant)
        started = time.perf_counter()
        done = report(run, url)
        longest = max(longest, time.perf_counter() - started)
        checks.expect(done.returncode == 0, f"report: {done.stderr[-300:]}")
        versions.append((variant, report_files(run)))
    checks.expect(versions[0][1][WORKLOG] != versions[1][1][WORKLOG], "versions alike")
    wrong = store_whole(url, run.name, BIG)
    checks.expect(not wrong, f"before: {wrong}")
    rng = random.Random(22)
    ways = ("at random", "staging the files", "writing the store")
    points: collections.Counter[str] = collections.Counter()
    left = mixed = 0
    for n in range(rounds):
        records.write_bytes(versions[n % 2][0])
        points[kill_once(run, url, ways[n % len(ways)], longest, rng)] += 1
        found = report_files(run)
        which = set()
        for name in REPORT_FILES:
            known = [v[1][name] for v in versions]
            whole = checks.expect(found[name] in known, f"round {n}: {name} is neither version")
            if whole and known[0] != known[1]:
                which.add(known.index(found[name]))
        mixed += len(which) > 1
        wrong = store_whole(url, run.name, BIG)
        checks.expect(not wrong, f"round {n}: {wrong}")
        for temporary in temporaries(run):  # a kill leaves them; the next round looks for new
            temporary.unlink()
            left += 1
    records.write_bytes(versions[0][0])
    done = report(run, url)
    checks.expect(done.returncode == 0 and report_files(run) == versions[0][1], "after: report")
    kills = ", ".join(f"{count} {point}" for point, count in sorted(points.items()))
    return checks.probe(
        "kill at any write of the report",
        f"{rounds} kills ({kills}): every file one complete version, the store whole; "
        f"{mixed} sets of two versions, {left} .tmp files left by the kills",
    )


def limited(run: Path, url: str, limit: int) -> subprocess.CompletedProcess[str]:
    """``ci-tools report --run-dir RUN`` where a file may hold ``limit`` bytes: past it a
    write fails with EFBIG (SIGXFSZ ignored, as a full disk's ENOSPC sends none)."""
    script = LIMITED.format(limit=limit)
    return ci_tools("report", "--run-dir", str(run), url=url, script=script)


def whole_or_none(run: Path) -> bool:
    """The report's files are all there and parse, or none is there."""
    there = [(run / name).is_file() for name in REPORT_FILES]
    if not any(there):
        return True
    try:
        json.loads((run / VERDICT).read_text())
        json.loads((run / IDENTITY).read_text())
        ElementTree.parse(run / JUNIT)  # noqa: S314 - our own report
    except (OSError, ValueError, ElementTree.ParseError):
        return False
    return all(there) and (run / WORKLOG).read_text().startswith("# ")


def full_disk(lab: Lab) -> Probe:
    """``ci-tools report`` where a file may hold 4 KiB (EFBIG): one line, exit 2, the
    previous files byte for byte, no temporary file, the store as it was. Then new runs with
    room for the report's files and little more, so that the store's write may fail: each
    report is refused (exit 2) or written whole and says the run was not recorded, or the
    run is recorded; the store whole and as it was unless the run was recorded."""
    run, url, checks = lab.reported("full")
    before, kept = files(run), stored(url)
    done = limited(run, url, 4096)
    checks.one_line(done, 2, "error: could not write", "File too large", "ulimit -f")
    checks.expect(files(run) == before, "the run's files changed")
    checks.expect(stored(url) == kept, "the store changed")
    largest = max(len(content) for content in report_files(run).values())
    seen: collections.Counter[str] = collections.Counter()
    for room in (2, 8, 16, 32):
        other = lab.run(f"full-{room}")
        done = limited(other, url, largest + room * 1024)
        checks.expect(not temporaries(other), f"+{room} KiB: temporary files left")
        checks.expect(whole_or_none(other), f"+{room} KiB: the report's files are cut")
        now = stored(url)
        if done.returncode == 2:
            seen["refused"] += 1
            checks.one_line(done, 2, "could not write")
            checks.expect(now == kept, f"+{room} KiB: the store changed: {now}")
        elif done.returncode == 0 and done.stderr:
            seen["not recorded, said"] += 1
            checks.one_line(done, 0, "warning: this run was not recorded")
            checks.expect(now == kept, f"+{room} KiB: the store changed: {now}")
            checks.expect("not recorded" in (other / WORKLOG).read_text(), "worklog silent")
        elif done.returncode == 0:
            seen["recorded"] += 1
            checks.expect([r[0] for r in now] == [r[0] for r in kept] + [other.name], f"{now}")
            kept = now
        else:
            checks.expect(False, f"+{room} KiB: exit {done.returncode}: {done.stderr[-300:]}")
        checks.expect(store_whole(url, None, 0) == "", f"+{room} KiB: the store is not whole")
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in sorted(seen.items()))
    return checks.probe(
        "full disk (EFBIG)",
        f"4 KiB a file: exit 2, files and store kept; room for the files +2..32 KiB: {outcomes}",
    )


def unwritable_target(lab: Lab) -> Probe:
    """A directory where worklog.md goes; the store's folder under a file; a run directory
    under a file: each one line, what was there kept, nothing recorded that was not said."""
    run, url, checks = lab.reported("unwritable")
    (run / WORKLOG).unlink()
    (run / WORKLOG).mkdir()
    before, kept = files(run), stored(url)
    done = report(run, url)
    checks.one_line(done, 2, f"could not write {run / WORKLOG}")
    checks.expect(files(run) == before and stored(url) == kept, "files or store changed")
    (run / WORKLOG).rmdir()
    blocker = lab.folder / "unwritable" / "a-file"
    blocker.write_text("")
    unmade = sqlite_url(blocker / "reports" / "history.db")
    done = report(run, unmade)
    checks.one_line(done, 0, "warning: this run was not recorded", "cannot be made")
    checks.expect((run / WORKLOG).is_file(), "no worklog written without the store")
    project = lab.folder / "unwritable" / "project"
    leaky.write_project(project, {"test_one.py": "def test_one(): pass\n"})
    made = files(project)
    done = ci_tools("run", "--run-dir", str(blocker / "run"), "--phase", "1", url=url, root=project)
    checks.one_line(done, 2, "could not write")
    checks.expect(files(project) == made, "the project changed")
    return checks.probe(
        "unwritable target", "worklog.md a folder: exit 2; store unmakeable: said, report "
        "written; run folder unmakeable: exit 2"
    )  # fmt: skip


def at_once(runs: Sequence[Path], url: str) -> list[subprocess.CompletedProcess[str]]:
    """``ci-tools report`` of each run, every process let go at the same moment once all are
    loaded."""
    command = [sys.executable, "-c", AT_ONCE, "--root", str(ROOT), "report", "--run-dir"]
    writers = [
        subprocess.Popen(
            [*command, str(run)],
            env=environ(**{HISTORY_URL: url}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]
    for writer in writers:
        assert writer.stdout is not None
        writer.stdout.readline()  # "ready"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    done = []
    for writer, run in zip(writers, runs, strict=True):
        out, err = writer.communicate(timeout=300)
        done.append(subprocess.CompletedProcess([str(run)], writer.returncode, out, err))
    return done


def sixteen_writers(lab: Lab, name: str, url: str) -> Probe:
    """16 reports of 16 runs at once into a store nobody has made: every one recorded once
    with all its results, none told it was not."""
    checks, runs = Checks(), []
    for n in range(16):
        run = lab.run(f"{name}-{n:02d}")
        write.identity(run, RunIdentity(f"w{n:02d}"))
        runs.append(run)
    done = at_once(runs, url)
    said = [d.stderr.strip() for d in done if d.returncode != 0 or d.stderr]
    checks.expect(not said, f"{len(said)} writers said: {said[:1]}")
    found = [(row[0], row[1], row[4]) for row in stored(url)]
    checks.expect(found == [(f"w{n:02d}", 1, SMALL) for n in range(16)], f"stored {found}")
    return checks.probe(f"16 writers, fresh {name}", f"16 runs recorded once, {SMALL} results each")


def start_postgres(folder: Path) -> str:
    """The reference platform's PostgreSQL (the platform started in ``folder``): its URL
    without a database."""
    state = stack.start(stack.Options(state_dir=folder))
    password = service_secrets(state)[1]
    return f"postgresql://postgres:{password}@127.0.0.1:{state.ports['postgres']}"


def fresh_database(server: str) -> str:
    """A new, empty database on the server."""
    name = f"trust{time.monotonic_ns()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


def same_run_six_times(lab: Lab) -> Probe:
    """The same run directory reported by 6 processes at once into a fresh store: one run
    with its results once, its files whole and what one report alone writes."""
    run, url, checks = lab.run("same"), lab.url("same"), Checks()
    done = at_once([run] * 6, url)
    said = [d.stderr.strip() for d in done if d.returncode != 0 or d.stderr]
    checks.expect(not said, f"{len(said)} writers said: {said[:1]}")
    found = [(row[0], row[4]) for row in stored(url)]
    checks.expect(found == [(run.name, SMALL)], f"stored {found}")
    raced = report_files(run)
    checks.expect(not temporaries(run), "temporary files left")
    again = report(run, url)
    checks.expect(again.returncode == 0 and report_files(run) == raced, "files not whole")
    return checks.probe("same run reported 6 times at once", "one run, its results once")


def locked_store(lab: Lab) -> Probe:
    """Another writer holds the store past the busy timeout: the report is written and says
    in one line the run was not recorded; the store as it was; once let go, it records."""
    _, url, checks = lab.reported("locked")
    other = lab.run("locked-2")
    kept = stored(url)
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.perf_counter()
        done = report(other, url)
        waited = time.perf_counter() - started
    finally:
        holder.close()
    checks.one_line(done, 0, "warning: this run was not recorded", "is locked")
    checks.expect(stored(url) == kept, "the store changed")
    checks.expect("not recorded" in (other / WORKLOG).read_text(), "the worklog does not say")
    again = report(other, url)
    checks.expect(again.returncode == 0 and len(stored(url)) == 2, "not recorded once free")
    return checks.probe("locked store", f"said after {waited:.0f} s; recorded once let go")


def corrupt_store(lab: Lab) -> Probe:
    """Garbage where the SQLite file is: the report says so in one line, the bytes stay;
    ``ci-tools history`` exits 2 in one line."""
    run, url, checks = lab.run("corrupt"), lab.url("corrupt"), Checks()
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a database" * 100)
    done = report(run, url)
    checks.one_line(done, 0, "warning: this run was not recorded", "is not a usable database")
    shown = ci_tools("history", url=url)
    checks.one_line(shown, 2, "is not a usable database")
    checks.expect(path.read_bytes() == b"not a database" * 100, "the file was changed")
    return checks.probe("corrupt store", "said in one line; the file left as it was")


def newer_schema(lab: Lab) -> Probe:
    """A store a newer ci_tools migrated: the next report says "upgrade ci_tools" in one
    line; the store keeps its schema and runs."""
    _, url, checks = lab.reported("newer")
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    kept = stored(url)
    done = report(lab.run("newer-2"), url)
    checks.one_line(done, 0, "has schema 0099", "upgrade ci_tools")
    checks.expect(stored(url) == kept and schema(url) == "0099", "the store changed")
    return checks.probe("newer schema", "said; the store at 0099 with its run")


def truncated_records(lab: Lab) -> Probe:
    """phase1.jsonl cut to a third after the run was reported: the report says incomplete
    (exit 1, verdict.json), and the store keeps the complete run."""
    run, url, checks = lab.reported("cut")
    kept = stored(url)
    records = rundir.records(run, 1)
    records.write_bytes(records.read_bytes()[: records.stat().st_size // 3])
    done = report(run, url)
    checks.expect(done.returncode == 1, f"exit {done.returncode}: {done.stderr[-200:]}")
    verdict = (run / VERDICT).read_text()
    checks.expect('"verdict": "incomplete"' in verdict, "verdict.json is not incomplete")
    checks.expect("an incomplete report never replaces it" in done.stderr, "not said")
    checks.expect(stored(url) == kept, f"the stored run changed: {stored(url)} (was {kept})")
    return checks.probe("truncated records file", "incomplete, exit 1; the stored run kept")


def copied_run(lab: Lab) -> Probe:
    """A run's directory copied under another name and reported again: the same run in the
    store, not a second one."""
    run, url, checks = lab.reported("copied")
    copy = run.parent / "downloaded-artifact"
    shutil.copytree(run, copy)
    done = report(copy, url)
    checks.expect(done.returncode == 0, f"exit {done.returncode}: {done.stderr[-200:]}")
    found = [(row[0], row[4]) for row in stored(url)]
    checks.expect(found == [(run.name, SMALL)], f"stored {found}")
    checks.expect(f"`{run.name}`" in (copy / WORKLOG).read_text(), "the worklog names another")
    return checks.probe("copied run directory", "the same run, replaced")


def bad_run_id(lab: Lab) -> Probe:
    """``../../x`` as the run id (variable, option, a run.json): refused in one line, exit 2,
    nothing written anywhere, the store as it was."""
    checks, folder = Checks(), lab.folder / "run-id"
    project = folder / "project"
    leaky.write_project(project, {"test_one.py": "def test_one(): pass\n"})
    (project / "reports" / "r0").mkdir(parents=True)
    (project / "reports" / "latest").symlink_to("r0")
    before = files(folder)
    url = lab.url("run-id")
    for args, extra in (((), {"CI_TOOLS_RUN_ID": "../../x"}), (("--run-id", "../x"), {})):
        done = ci_tools("run", *args, url=url, root=project, extra=extra)
        checks.one_line(done, 2, "is not a run id")
        checks.expect(files(folder) == before, f"{args or extra}: something was written")
    run, url, _ = lab.reported("run-id-report")
    (run / IDENTITY).write_text('{"run_id": "../../x", "attempt": 1}\n')
    before, kept = files(run), stored(url)
    done = report(run, url)
    checks.one_line(done, 2, "is not a run id")
    checks.expect(files(run) == before and stored(url) == kept, "the report wrote")
    return checks.probe("bad run id", "refused 3 ways in one line; nothing written")


def bad_store_url(lab: Lab) -> Probe:
    """A store URL whose port is no number: ``report`` and ``run`` exit 2 in one line, the
    password masked, before anything is written."""
    run, _, checks = lab.reported("bad-url")
    before = files(run)
    done = report(run, BAD_URL)
    checks.one_line(done, 2, "postgresql://ci:***@127.0.0.1:notaport/history")
    checks.expect("s3cret-pw" not in done.stdout + done.stderr, "the password shown")
    checks.expect(files(run) == before, "the run's files changed")
    project = lab.folder / "bad-url" / "project"
    leaky.write_project(project, {"test_one.py": "def test_one(): pass\n"})
    made = files(project)
    done = ci_tools("run", url=BAD_URL, root=project)
    checks.one_line(done, 2, "has a port that is not a number")
    checks.expect(files(project) == made, "the run wrote")
    return checks.probe("bad store URL", "report and run: exit 2, one line, password masked")


def guarded(name: str, probe: Callable[[], Probe]) -> Probe:
    """The probe, or MISSED with what it raised (a fault nobody handled)."""
    started = time.perf_counter()
    try:
        found = probe()
    except Exception as exc:  # noqa: BLE001 - any error is the probe's finding
        found = Probe(name, False, f"{type(exc).__name__}: {str(exc)[:300]}")
    return dataclasses.replace(found, seconds=time.perf_counter() - started)


def faults(folder: Path, rounds: int, postgres: bool) -> list[Probe]:
    """The 13 probes; the PostgreSQL one skipped unless ``postgres``. PostgreSQL starts, and
    the locked store waits out its timeout, beside the other probes."""
    lab = Lab(folder)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        server = pool.submit(start_postgres, folder / "postgres") if postgres else None

        def on_postgres() -> Probe:
            assert server is not None
            return sixteen_writers(lab, "PostgreSQL", fresh_database(server.result(120)))

        try:
            found = [
                guarded("kill at any write of the report", lambda: kill_at_writes(lab, rounds)),
                guarded("full disk (EFBIG)", lambda: full_disk(lab)),
                guarded("unwritable target", lambda: unwritable_target(lab)),
                guarded("16 writers, fresh SQLite",
                        lambda: sixteen_writers(lab, "SQLite", lab.url("sixteen"))),
                guarded("16 writers, fresh PostgreSQL", on_postgres)
                if server is not None
                else Probe("16 writers, fresh PostgreSQL", None, "skipped (--no-postgres)"),
                guarded("same run reported 6 times at once", lambda: same_run_six_times(lab)),
            ]  # fmt: skip
            locked = pool.submit(guarded, "locked store", lambda: locked_store(lab))
            found += [
                guarded("corrupt store", lambda: corrupt_store(lab)),
                guarded("newer schema", lambda: newer_schema(lab)),
                guarded("truncated records file", lambda: truncated_records(lab)),
                guarded("copied run directory", lambda: copied_run(lab)),
                guarded("bad run id", lambda: bad_run_id(lab)),
                guarded("bad store URL", lambda: bad_store_url(lab)),
            ]
            found.insert(6, locked.result())
        finally:
            if server is not None:
                with contextlib.suppress(Exception):
                    server.result(timeout=120)
                stack.stop(folder / "postgres")
    return found


# --- hostile text -------------------------------------------------------------------------


@dataclasses.dataclass
class Hostility:
    """What the payloads did to the outputs, summed."""

    payloads: int = 0
    commands: int = 0  # workflow commands on stdout beyond the annotations meant
    details: int = 0  # <details> opened or closed beyond those the template built
    headings: int = 0  # headings the template did not build


def judge(hostile: Hostile, found: Hostility) -> None:
    """One payload in every place, through the real renderers."""
    diagnosis, context = hostile_diagnosis(CONFIG, hostile)
    meta = Meta(env="staging", run_id="r1", commit="abc", artifact="reports/r1/worklog.md")
    annotations = error_annotations(diagnosis)
    stdout = terminal_output(diagnosis, context, meta.artifact)
    found.commands += len(workflow_commands("\n".join([stdout, *annotations])))
    for line in annotations:  # meant: one line each, read back as an error of its group
        name, _, _ = parse_workflow_command(line)
        found.commands -= name == "error" and len(workflow_commands(line)) == 1
    for rung in LADDER:
        built = len(diagnosis.groups[: rung.max_groups])
        opened, closed, headings = structure(render(diagnosis, context, meta, rung))
        found.details += abs(opened - built) + abs(closed - built)
        found.headings += len(injected_headings(headings))
    summary, _ = fit(diagnosis, context, meta)
    opened, closed, headings = structure(summary)
    found.details += abs(opened - closed)
    found.headings += len(injected_headings(headings))
    found.payloads += 1


def hostile_text(payloads: int) -> Hostility:
    """The payloads' sums."""
    found = Hostility()

    @settings(
        max_examples=payloads,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(Hostile.strategy())
    def each(hostile: Hostile) -> None:
        judge(hostile, found)

    each()
    return found


# --- secret values ------------------------------------------------------------------------


def secret_hits(folder: Path) -> tuple[dict[str, int], list[str]]:
    """``ci-tools run`` + ``report`` of the probe project, outside and inside Actions, with a
    random password: hits of each of its shapes (and of any 8 characters of its random part)
    in the run's files, the store and the terminal; and where."""
    core = secrets.token_hex(8)
    password = f'pw-{core}/+"é'  # changed by URL-encoding and by JSON-escaping
    shaped = shapes(password)
    needles = {
        **shaped,
        "URL password": f":{shaped['URL-encoded']}@",
        "JWT": shaped["JWT"].rsplit(".", 1)[1],  # its signature: header and payload are fixed
        "its first 8 characters": core[:8],
        "its last 8 characters": core[-8:],
    }
    hits = {"files": 0, "store": 0, "terminal": 0}
    where: list[str] = []
    tests = {"test_one.py": leaky.LEAKY + leaky.SHAPED, "test_two.py": "def test_two(): pass\n"}
    for mode, actions in (("plain", {}), ("Actions", {"GITHUB_ACTIONS": "true"})):
        project = folder / mode
        if actions:
            actions |= {
                "GITHUB_STEP_SUMMARY": str(project / "summary.md"),
                "GITHUB_OUTPUT": str(project / "output.txt"),
            }
        ran = leaky.run_and_report(project, tests, {PASSWORD_VARIABLE: password, **actions})
        records = (project / "reports" / "latest" / "phase1.jsonl").read_text()
        failed = records.count('"outcome":"failed"')  # test_login, test_token, 5 shapes
        if ran.run.returncode != 1 or ran.report.returncode != 0 or failed != 7:
            where.append(f"{mode}: the probe did not run as meant: {ran.run.stdout[-300:]}")
        terminal = "\n".join(
            line for line in ran.terminal.splitlines() if not line.startswith("::add-mask::")
        )
        with contextlib.closing(sqlite3.connect(project / "history.db")) as db:
            store = "\n".join(
                repr(row)
                for table in ("runs", "results", "criteria")
                for row in db.execute(f"SELECT * FROM {table}")  # noqa: S608 - our names
            )
        for name, needle in needles.items():
            for path, count in leaky.occurrences(project, needle).items():
                place = "store" if path.startswith("history.db") else "files"
                hits[place] += count
                where.append(f"{mode}: {name} in {path} ({count})")
            for place, text in (("store", store), ("terminal", terminal)):
                if text.count(needle):
                    hits[place] += text.count(needle)
                    where.append(f"{mode}: {name} in the {place}'s text ({text.count(needle)})")
    return hits, where


# --- the job log --------------------------------------------------------------------------


def job_log() -> tuple[int, int | None, int]:
    """The main job with ``--fault redis_down``: its lines, the verdict's line from the
    end (None: no verdict), its exit code."""
    from tests.integration.fault_matrix import main_job  # noqa: PLC0415 - only when asked

    with tempfile.TemporaryDirectory(prefix="trust-job-") as store:
        url = sqlite_url(Path(store) / "history.db")
        _, done, _ = main_job("--fault", "redis_down", history_url=url)
    lines = (done.stdout + done.stderr).splitlines()
    return len(lines), verdict_from_end(lines), done.returncode


# --- the table ----------------------------------------------------------------------------


def mark(ok: bool | None) -> str:
    """ok, MISSED or skipped."""
    return {True: "ok", False: "MISSED", None: "skipped"}[ok]


def main(argv: Sequence[str] | None = None) -> int:
    """Every figure beside its goal; exit 1 when one is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="kills of the report (12)")
    parser.add_argument("--payloads", type=int, default=1000, help="hostile payloads (1000)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL's probe")
    parser.add_argument("--no-main-job", action="store_true", help="skip the job log")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    missed = False
    with tempfile.TemporaryDirectory(prefix="bench-trust-") as folder:
        probes = faults(Path(folder) / "faults", args.rounds, not args.no_postgres)
        hits, where = secret_hits(Path(folder) / "secrets")
    survived = sum(p.ok is True for p in probes)
    ran = sum(p.ok is not None for p in probes)
    skipped = f" ({PROBES - ran} skipped)" if ran < PROBES else ""
    print(
        f"faults survived: {survived} of {ran} probes{skipped} (goal {PROBES} of {PROBES}), no "
        "run lost or silently changed"
    )
    width = max(len(p.name) for p in probes)
    for probe in probes:
        print(f"  {mark(probe.ok):7} {probe.name:{width}} {probe.seconds:3.0f} s  {probe.said}")
    missed |= survived < ran or len(probes) != PROBES

    found = hostile_text(args.payloads)
    print(
        f"hostile text over {found.payloads} payloads: workflow commands on stdout "
        f"{found.commands}, broken <details> {found.details}, injected headings "
        f"{found.headings} (goal 0 each)"
    )
    missed |= found.commands + found.details + found.headings > 0

    shown = ", ".join(f"{place} {count}" for place, count in hits.items())
    print(
        f"secret values: {sum(hits.values())} hits ({shown}) of the password bare, "
        "URL-encoded, JSON-escaped, as a URL's password, a JWT signed with it, or 8 characters "
        "of it (goal 0)"
    )
    for line in where:
        print(f"  {line}")
    missed |= bool(where)

    if args.no_main_job:
        print("job log: skipped (--no-main-job)")
    else:
        lines, place, code = job_log()
        print(
            f"job log of a failing run (--fault redis_down, exit {code}): {lines} lines (goal "
            f"<= {MOST_LINES}); the verdict {place} lines from the end (goal <= {LAST_SCREEN})"
        )
        missed |= code == 0 or place is None or lines > MOST_LINES or place > LAST_SCREEN
    print(f"({time.perf_counter() - started:.0f} s)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
