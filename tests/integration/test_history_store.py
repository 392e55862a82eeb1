"""The run store against real databases: SQLite and a real PostgreSQL server, one code path;
migrations, re-reporting, attempts, two writers at once, and the bad inputs."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ci_tools._exceptions import HistoryError
from ci_tools.environment import sqlite_url
from ci_tools.history.model import PastResult, ResultRow, RunRow, Tally
from ci_tools.history.schema import metadata
from ci_tools.history.store import HEAD, MIGRATION_LOCK, open_store
from reference_platform import stack
from tests.integration.helpers import service_secrets

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def a_run(
    run_id: str = "r1", attempt: int = 1, started: str = "2026-12-01T10:00:00.000Z"
) -> RunRow:
    """A small run of phase 1."""
    return RunRow(
        run_id=run_id,
        attempt=attempt,
        env="local",
        commit="abc",
        revisions={"backend": "backend-00001-abc"},
        started=started,
        finished=started,
        verdict="unhealthy",
        escalation="P1",
        first_failed_phase=1,
        phases_ran=(1,),
        outage=False,
        agent_pipeline_failed=False,
        redis_down=True,
        database_min_ms=None,
    )


ROWS = [
    ResultRow(
        "t.py::a",
        "t.py",
        1,
        "P1",
        ("redis",),
        "failed",
        0.2,
        signature="sig",
        cause="Redis down",
        failure_class="infrastructure",
    ),
    ResultRow("t.py::b", "t.py", 1, None, (), "passed", 0.1),
]


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own on a real PostgreSQL server (the reference platform's)."""
    folder = tmp_path_factory.mktemp("history-pg")
    state = stack.start(stack.Options(state_dir=folder))
    try:
        password = service_secrets(state)[1]
        port = state.ports["postgres"]
        admin = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute("CREATE DATABASE ci_history")
        yield f"postgresql://postgres:{password}@127.0.0.1:{port}/ci_history"
    finally:
        stack.stop(folder)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "history.db")
        return
    base: str = request.getfixturevalue("postgres_url")
    name = f"h{time.monotonic_ns()}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    yield base.rsplit("/", 1)[0] + f"/{name}"


def raw_engine(url: str) -> sa.Engine:
    """An engine on the store's database, bypassing the store (psycopg 3 for PostgreSQL)."""
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def test_the_migrated_schema_is_the_schema_the_code_uses(url: str) -> None:
    """Alembic's migrations and schema.py agree on both databases (no pending change)."""
    open_store(url).close()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as db:
        assert compare_metadata(MigrationContext.configure(db), metadata) == []
    engine.dispose()


def test_a_run_reported_again_replaces_itself_and_a_new_attempt_adds_one(url: str) -> None:
    """The same run and attempt twice is one run with the second's results; attempt 2 is a
    second run of the same id; the latest attempt is what runs() lists."""
    store = open_store(url)
    try:
        store.record(
            a_run(),
            ROWS,
            [
                {
                    "name": "redis_latency_ms",
                    "measured": None,
                    "bound": "unreachable",
                    "samples": 1,
                    "met": False,
                }
            ],
        )
        store.record(a_run(), ROWS[:1])
        listed = store.runs("local")
        assert [(r.run_id, r.attempt) for r in listed] == [("r1", 1)]
        assert [r.nodeid for r in store.results([listed[0].key])] == ["t.py::a"]
        store.record(a_run(attempt=2), ROWS)
        assert [(r.run_id, r.attempt) for r in store.runs("local")] == [("r1", 2)]
        assert store.runs("local", before="2026-12-01T10:00:00.000Z") == []
        assert store.environments() == ["local"]
    finally:
        store.close()


def _write(url: str, index: int) -> None:
    store = open_store(url)
    try:
        for n in range(20):
            store.record(
                a_run(f"w{index}-{n}", started=f"2026-12-01T10:{n:02d}:0{index}.000Z"), ROWS
            )
    finally:
        store.close()


def test_two_writers_at_once_both_land(url: str) -> None:
    """Two processes recording 20 runs each at the same time: all 40 are stored."""
    open_store(url).close()  # migrated once, as the first report would
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write, args=(url, i)) for i in (1, 2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    store = open_store(url)
    try:
        assert len(store.runs("local", limit=100)) == 40
    finally:
        store.close()


def test_a_store_at_the_newest_schema_opens_without_alembic(tmp_path: Path) -> None:
    """The store's known head is Alembic's head, and a store already there is opened (and
    read) without loading Alembic: every run and report opens it."""
    from ci_tools.history.store import HEAD, _scripts  # noqa: PLC0415

    assert _scripts()[1].get_current_head() == HEAD
    url = sqlite_url(tmp_path / "history.db")
    open_store(url).close()  # created and migrated
    code = (
        "import sys; from ci_tools.history.store import open_store; "
        f"s = open_store({url!r}); s.runs('local', limit=5); s.close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_newer_schema_is_refused_in_one_line_and_left_alone(url: str) -> None:
    """A store migrated by a newer ci_tools: one line naming its schema and the newest this
    ci_tools knows, and the fix; nothing changed."""
    open_store(url).close()
    engine = raw_engine(url)
    with engine.begin() as db:
        db.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(HistoryError) as refused:
        open_store(url)
    message = str(refused.value)
    assert "\n" not in message
    password = sa.make_url(url).password
    assert password is None or password not in message
    assert message.endswith(f"has schema 0099, this ci_tools knows up to {HEAD}: upgrade ci_tools")
    engine = raw_engine(url)
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0099"
    engine.dispose()


def test_a_corrupt_file_is_one_line_and_not_overwritten(tmp_path: Path) -> None:
    """Garbage where the store should be: HistoryError in one line; the bytes stay."""
    path = tmp_path / "history.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(HistoryError) as refused:
        open_store(sqlite_url(path))
    assert "\n" not in str(refused.value)
    assert "is not a usable database (file is not a database)" in str(refused.value)
    assert path.read_bytes() == b"not a database" * 100


def test_an_unreachable_postgresql_is_one_line_without_the_password() -> None:
    """A closed local port: HistoryError within the connect timeout, password masked."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(HistoryError) as refused:
        open_store(f"postgresql://ci:s3cret-pw@127.0.0.1:{port}/history")
    assert time.monotonic() - started < 10
    assert "s3cret-pw" not in str(refused.value)
    assert "\n" not in str(refused.value)
    assert "ci:***@127.0.0.1" in str(refused.value)
    assert " cannot be reached (" in str(refused.value)


def test_a_store_of_an_older_schema_is_migrated_forward_keeping_its_runs(url: str) -> None:
    """A store left at schema 0001 (before results had retries) is upgraded to the head
    when opened: its runs and results stay, the new column reads 0."""
    from alembic import command  # noqa: PLC0415

    from ci_tools.history.store import _scripts  # noqa: PLC0415

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    alembic_config, _ = _scripts()
    with engine.begin() as db:
        alembic_config.attributes["connection"] = db
        command.upgrade(alembic_config, "0001")
        db.execute(
            sa.text(
                'INSERT INTO runs (run_id, attempt, env, "commit", revisions, started, finished,'
                " verdict, escalation, phases_ran, outage, agent_pipeline_failed, redis_down,"
                " recorded_at) VALUES ('old', 1, 'local', 'abc', '{}', '2026-11-01T00:00:00Z',"
                " '2026-11-01T00:01:00Z', 'healthy', 'none', '1', false, false, false,"
                " '2026-11-01T00:01:00Z')"
            )
        )
        key = db.execute(sa.text("SELECT id FROM runs")).scalar()
        db.execute(
            sa.text(
                "INSERT INTO results (run, nodeid, file, phase, outcome, duration_s) "
                "VALUES (:key, 't.py::a', 't.py', 1, 'passed', 0.1)"
            ),
            {"key": key},
        )
    engine.dispose()
    store = open_store(url)
    try:
        (old,) = store.runs("local")
        assert old.run_id == "old"
        assert [r.nodeid for r in store.results([old.key])] == ["t.py::a"]
        store.record(
            a_run("new", started="2026-12-01T00:00:00.000Z"),
            [dataclasses.replace(ROWS[1], retries=1)],
        )
    finally:
        store.close()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        retries = db.execute(sa.text("SELECT nodeid, retries FROM results ORDER BY run")).all()
    engine.dispose()
    assert [tuple(r) for r in retries] == [("t.py::a", 0), ("t.py::b", 1)]


def test_each_failures_finding_is_stored_and_read_back(url: str) -> None:
    """The experiment's finding of a failure is stored with its result and read back as it
    was; a result without one reads None."""
    store = open_store(url)
    try:
        key = store.record(a_run(), [dataclasses.replace(ROWS[0], finding="pre-existing"), ROWS[1]])
        found = {r.nodeid: r.finding for r in store.results([key])}
    finally:
        store.close()
    assert found == {"t.py::a": "pre-existing", "t.py::b": None}


def test_a_store_written_before_findings_is_migrated_and_records_them(url: str) -> None:
    """A store left at schema 0002 (before results kept the experiment's finding), with a
    run in it, is upgraded when opened: its results stay and read no finding; a run
    recorded then keeps its findings."""
    from alembic import command  # noqa: PLC0415

    from ci_tools.history.store import _scripts  # noqa: PLC0415

    engine = raw_engine(url)
    alembic_config, _ = _scripts()
    with engine.begin() as db:
        alembic_config.attributes["connection"] = db
        command.upgrade(alembic_config, "0002")
        assert "finding" not in {c["name"] for c in sa.inspect(db).get_columns("results")}
        # A run as the previous ci_tools wrote it: results without the column.
        db.execute(
            sa.text(
                'INSERT INTO runs (run_id, attempt, env, "commit", revisions, started, finished,'
                " verdict, escalation, phases_ran, recorded_at) VALUES ('old', 1, 'local', 'abc',"
                " '{}', '2026-11-01T00:00:00Z', '2026-11-01T00:01:00Z', 'unhealthy', 'P1', '1',"
                " '2026-11-01T00:01:00Z')"
            )
        )
        key = db.execute(sa.text("SELECT id FROM runs")).scalar()
        db.execute(
            sa.text(
                "INSERT INTO results (run, nodeid, file, phase, outcome, duration_s, retries) "
                "VALUES (:key, 't.py::a', 't.py', 1, 'failed', 0.1, 1)"
            ),
            {"key": key},
        )
    engine.dispose()
    store = open_store(url)
    try:
        (stored_run,) = store.runs("local")
        assert [(r.nodeid, r.finding) for r in store.results([stored_run.key])] == [
            ("t.py::a", None)
        ]
        new = store.record(
            a_run("new", started="2026-12-01T00:00:00.000Z"),
            [dataclasses.replace(ROWS[0], finding="regression")],
        )
        assert [r.finding for r in store.results([new])] == ["regression"]
    finally:
        store.close()
    engine = raw_engine(url)
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    engine.dispose()


def test_a_locked_store_is_one_line_and_loses_nothing(tmp_path: Path) -> None:
    """Another process holds the SQLite store's write lock past the busy timeout: recording
    fails in one line naming the lock; once released, what was stored is all there."""
    url = sqlite_url(tmp_path / "history.db")
    store = open_store(url)
    store.record(a_run("kept"), ROWS)
    store.close()
    holder = sqlite3.connect(tmp_path / "history.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        locked = open_store(url, busy_timeout_s=0.2)
        with pytest.raises(HistoryError) as refused:
            locked.record(a_run("second", started="2026-12-01T11:00:00.000Z"), ROWS)
        locked.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "\n" not in str(refused.value)
    assert "database is locked" in str(refused.value)
    store = open_store(url)
    try:
        assert [r.run_id for r in store.runs("local")] == ["kept"]
    finally:
        store.close()


# One writer of a race, as a process of its own that loads only the store: reads its job
# (store URL, run, results) from stdin, says "ready", records the run once told "go", and
# prints what it was told ("this run was not recorded ...") or nothing.
WRITER = """
import json, sys
from ci_tools._exceptions import HistoryError
from ci_tools.history.model import PastResult, ResultRow, RunRow, Tally
from ci_tools.history.store import open_store
url, run, rows = json.loads(sys.stdin.readline())
run = RunRow(**{**run, "phases_ran": tuple(run["phases_ran"])})
rows = [ResultRow(**{**row, "areas": tuple(row["areas"])}) for row in rows]
print("ready", flush=True)
sys.stdin.readline()
try:
    store = open_store(url)
    try:
        store.record(run, rows)
    finally:
        store.close()
except HistoryError as exc:
    print(exc.not_recorded())
"""


def race(url: str, run_ids: list[str]) -> list[str | None]:
    """Each run id recorded by a process of its own (its results' cause naming the writer),
    all let go at the same moment once every one is ready; what each writer was told."""
    writers = []
    for n, run_id in enumerate(run_ids):
        rows = [dataclasses.asdict(row) | {"cause": f"writer {n}"} for row in ROWS]
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert writer.stdin is not None
        writer.stdin.write(json.dumps([url, dataclasses.asdict(a_run(run_id)), rows]) + "\n")
        writer.stdin.flush()
        writers.append(writer)
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n", writer.communicate(timeout=60)[1]
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    said: list[str | None] = []
    for writer in writers:
        out, err = writer.communicate(timeout=180)
        assert (writer.returncode, err) == (0, "")
        said.append(out.strip() or None)
    return said


def stored(url: str) -> tuple[list[tuple[str, int]], dict[str, list[tuple[str, str]]]]:
    """Every stored run's (run id, attempt), and each run id's results (node id, cause), as
    the tables hold them."""
    engine = raw_engine(url)
    with engine.connect() as db:
        found = db.execute(sa.text("SELECT run_id, attempt FROM runs ORDER BY run_id")).all()
        rows = db.execute(
            sa.text(
                "SELECT runs.run_id, results.nodeid, results.cause FROM results "
                "JOIN runs ON runs.id = results.run ORDER BY results.nodeid"
            )
        ).all()
    engine.dispose()
    by_run: dict[str, list[tuple[str, str]]] = {}
    for run_id, nodeid, cause in rows:
        by_run.setdefault(run_id, []).append((nodeid, cause))
    return [(r, a) for r, a in found], by_run


def test_sixteen_writers_into_a_fresh_store_record_every_run_once(url: str) -> None:
    """16 processes report 16 runs at the same moment into a store nobody has created yet:
    the schema is made once, under the lock; every run is recorded once with its own
    results, and no writer is told its run was not recorded."""
    run_ids = [f"r{n:02d}" for n in range(16)]
    assert race(url, run_ids) == [None] * 16
    runs, results = stored(url)
    assert runs == [(run_id, 1) for run_id in run_ids]
    assert results == {
        run_id: [("t.py::a", f"writer {n}"), ("t.py::b", f"writer {n}")]
        for n, run_id in enumerate(run_ids)
    }


def test_the_same_run_reported_six_times_at_once_is_one_run(url: str) -> None:
    """The same run (id and attempt) reported by 6 processes at the same moment into a fresh
    store: one run, with one writer's results whole (not a mix, not doubled), and no writer
    told its run was not recorded."""
    assert race(url, ["same"] * 6) == [None] * 6
    runs, results = stored(url)
    assert runs == [("same", 1)]
    (cause,) = {cause for _, cause in results["same"]}
    assert results["same"] == [("t.py::a", cause), ("t.py::b", cause)]


def test_a_store_in_rollback_mode_opens_once_its_writer_lets_go(tmp_path: Path) -> None:
    """A SQLite file still in rollback mode (made by another tool, or by the first of many
    reports opening a new store) whose writer holds it: opening waits for the writer, as
    any other wait, instead of failing at once; then the file is in WAL mode."""
    path = tmp_path / "history.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE other_tool (a)")
    threading.Timer(0.3, holder.rollback).start()
    started = time.monotonic()
    store = open_store(sqlite_url(path), busy_timeout_s=5)
    store.close()
    assert time.monotonic() - started >= 0.3
    holder.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_fresh_store_locked_past_the_timeout_is_one_line(url: str) -> None:
    """Another process holds the write lock that creating the schema takes (SQLite's, or
    PostgreSQL's advisory lock) past the timeout: one line saying the store is locked and
    what to do, after waiting the timeout out (SQLite refuses the switch to WAL at once
    while a writer holds a file still in rollback mode); once it lets go, the store opens."""
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        let_go = holder.close
    else:
        held = psycopg.connect(url)
        held.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        let_go = held.close  # the transaction ends, and its lock with it
    started = time.monotonic()
    try:
        with pytest.raises(HistoryError) as refused:
            open_store(url, busy_timeout_s=0.3)
    finally:
        waited = time.monotonic() - started
        let_go()
    assert waited >= 0.3
    message = str(refused.value)
    assert "\n" not in message
    assert " is locked: another writer held it past the 0.3 s timeout (" in message
    assert message.endswith(": try again once that writer has finished")
    open_store(url).close()


def test_a_run_held_by_another_writer_past_the_timeout_is_one_line(postgres_url: str) -> None:
    """On PostgreSQL, another transaction holding the run's row past the timeout: recording
    it again fails in one line as locked, instead of waiting without end; what was stored
    stays."""
    store = open_store(postgres_url, busy_timeout_s=0.3)
    try:
        store.record(a_run("held"), ROWS)
        with psycopg.connect(postgres_url) as held:
            held.execute("SELECT id FROM runs WHERE run_id = 'held' FOR UPDATE")
            with pytest.raises(HistoryError) as refused:
                store.record(a_run("held"), ROWS[:1])
            held.rollback()
        assert "is locked: another writer held it past the 0.3 s timeout" in str(refused.value)
        (kept,) = [r for r in store.runs("local") if r.run_id == "held"]
        assert len(store.results([kept.key])) == len(ROWS)
    finally:
        store.close()


def test_an_incomplete_report_never_replaces_a_complete_one(url: str) -> None:
    """``keep_complete``: over a stored incomplete attempt the new report lands; over a
    complete one it is refused in one line and the complete one stays, results and all."""
    incomplete = dataclasses.replace(a_run("cut"), verdict="incomplete")
    store = open_store(url)
    try:
        store.record(incomplete, ROWS[:1], keep_complete=True)
        key = store.record(incomplete, ROWS[1:], keep_complete=True)
        assert [r.nodeid for r in store.results([key])] == ["t.py::b"]
        assert store.record(a_run("cut"), ROWS) == key
        with pytest.raises(HistoryError) as refused:
            store.record(incomplete, ROWS[:1], keep_complete=True)
        (kept,) = store.runs("local")
        assert (kept.verdict, len(store.results([kept.key]))) == ("unhealthy", len(ROWS))
    finally:
        store.close()
    assert str(refused.value).endswith(
        "holds run cut (attempt 1) complete (unhealthy): an incomplete report never replaces "
        "it; report the run's complete directory again"
    )


def test_the_retention_trims_old_runs_results_and_then_their_summaries(url: str) -> None:
    """Thirty runs a day apart, two environments: keep the newest 20 runs' per-test rows
    within 25 days and summaries for 28 days. The 10 oldest runs of ``local`` lose their
    results and criteria, keep their summaries (the report's trend and streaks still read
    them), and the 2 older than 28 days go whole; the other environment's 5 runs are
    untouched. A dry run counts the same and removes nothing; a second prune finds nothing."""
    day = 86400.0
    at = time.mktime((2026, 12, 31, 12, 0, 0, 0, 0, 0)) - time.timezone
    store = open_store(url)
    try:
        for n in range(30):
            started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at - (30 - n) * day))
            measured = [{"name": "redis_latency_ms", "measured": 1.0, "samples": 1, "met": True}]
            store.record(a_run(f"r{n}", started=started), ROWS, measured)
            if n >= 25:
                other = dataclasses.replace(a_run(f"s{n}", started=started), env="staging")
                store.record(other, ROWS)
        would = store.prune(20, 25, 28, at, dry_run=True)
        assert store.prune(20, 25, 28, at, dry_run=True) == would
        done = store.prune(20, 25, 28, at)
        again = store.prune(20, 25, 28, at)
        local = store.runs("local", limit=100)
        with_results = {r.run for r in store.results([r.key for r in local])}
        staging = store.runs("staging", limit=100)
        staging_results = store.results([r.key for r in staging])
        with store.engine.connect() as db:
            measured_runs = set(db.execute(sa.text("SELECT DISTINCT run FROM criteria")).scalars())
    finally:
        store.close()
    assert (would.trimmed, would.results, would.runs) == (8, 20, 2)
    assert done == would
    assert again.empty
    assert len(local) == 28  # two summaries past 28 days went whole
    assert sorted(r.run_id for r in local if r.key in with_results) == sorted(
        f"r{n}" for n in range(10, 30)
    )
    assert len(staging) == 5
    assert {r.run for r in staging_results} == {r.key for r in staging}
    assert not {r.key for r in local if r.key not in with_results} & measured_runs


# Each test's outcome in the runs before the current one (newest last); "-": not in that run.
HISTORIES = {
    "a.py::steady": "pppppppppppppp",
    "a.py::quiet": "pppppppppppppp",
    "a.py::flips": "pfpfpppfpfpfpp",
    "a.py::broken": "ppppppppppffff",
    "a.py::new": "pppppppppppppp",
    "b.py::gone": "ffffffffff--ff",
    "b.py::skips": "ppsspppssppppp",
    "b.py::found": "pppppppppppppp",
    "b.py::young": "-----------ppf",
}
OUTCOMES = {"p": "passed", "f": "failed", "s": "skipped"}


def test_a_reports_narrow_read_of_the_store_says_what_reading_every_result_says(
    url: str,
) -> None:
    """The report reads only the results of the tests that did anything but pass in its
    window, and of the tests not passing now, and has the store count the rest: its view
    (track records, new and known, flaky and broken, rates per phase and file, the trend)
    is the view read from every result, on SQLite and PostgreSQL."""
    from ci_tools.config import parse  # noqa: PLC0415
    from ci_tools.diagnose import diagnose  # noqa: PLC0415
    from ci_tools.history.analysis import Rate, tallies_of  # noqa: PLC0415
    from ci_tools.records import Failure  # noqa: PLC0415
    from ci_tools.report import lookback  # noqa: PLC0415
    from tests.fakes.records import make_record  # noqa: PLC0415

    config = parse({"history": {"window": 8, "last": 6}})
    store = open_store(url)
    try:
        for n in range(14):
            started = f"2026-12-01T{n:02d}:00:00.000Z"
            found = {"b.py::found": "flaky"} if n == 12 else {}
            rows = [
                ResultRow(
                    nodeid,
                    nodeid.split("::")[0],
                    1 + (nodeid < "b"),
                    None,
                    (),
                    OUTCOMES[outcomes[n]],
                    0.1,
                    finding=found.get(nodeid),
                )
                for nodeid, outcomes in HISTORIES.items()
                if outcomes[n] != "-"
            ]
            past_run = dataclasses.replace(
                a_run(f"r{n:02d}", started=started),
                commit=f"c{n // 3}",
                phases_ran=(1, 2) if n != 9 else (1,),
                outage=n == 4,
            )
            store.record(past_run, rows)
        current = dataclasses.replace(
            a_run("now", started="2026-12-01T20:00:00.000Z"), commit="c9", phases_ran=(1, 2)
        )
        failing = {"a.py::broken", "a.py::new", "b.py::gone", "b.py::young"}
        records = [
            make_record(
                name,
                file=nodeid.split("::")[0],
                phase=1 + (nodeid < "b"),
                outcome="failed" if nodeid in failing else "passed",
                failure=Failure("AssertionError", nodeid) if nodeid in failing else None,
                retries=nodeid == "a.py::steady",
            )
            for nodeid in HISTORIES
            for name in [nodeid.split("::")[1]]
        ]
        diagnosis = diagnose(config, (), records, None)
        past, narrow, tallies = lookback.gather(store, config, "local", current.started, records)
        keys = [run.key for run in past[: max(config.history.window, config.history.last)]]
        every = store.results(keys)
    finally:
        store.close()
    assert {r.nodeid for r in every} - {r.nodeid for r in narrow} == {"a.py::quiet"}
    assert sorted(tallies, key=repr) == sorted(tallies_of(every), key=repr)

    def view(results: list[PastResult], counted: list[Tally] | None) -> lookback.LookbackView:
        return lookback.build_view(
            config,
            current=current,
            records=records,
            diagnosis=diagnosis,
            past=past,
            past_results=results,
            tallies=counted,
        )

    read_all, read_narrow = view(every, None), view(narrow, tallies)
    assert read_narrow == read_all
    flaky = {t.nodeid for t in read_all.flaky}
    assert flaky == {"a.py::flips", "a.py::steady", "b.py::found", "b.py::young"}
    assert {t.nodeid for t in read_all.broken} == {"a.py::broken", "b.py::gone"}
    assert (read_all.new_failures, read_all.known_failures) == (1, 3)
    assert read_all.phase_rates[2] == Rate(passed=33, total=40, runs=8)
