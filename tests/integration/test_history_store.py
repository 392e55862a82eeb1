"""The run store against real databases: SQLite and a real PostgreSQL server, one code path;
migrations, re-reporting, attempts, two writers at once, and the bad inputs."""

from __future__ import annotations

import dataclasses
import multiprocessing
import socket
import sqlite3
import subprocess
import sys
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
from ci_tools.history.model import ResultRow, RunRow
from ci_tools.history.schema import metadata
from ci_tools.history.store import open_store
from reference_platform import stack
from tests.integration.helpers import service_secrets

pytestmark = pytest.mark.integration


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


def test_a_newer_schema_is_refused_in_one_line_and_left_alone(tmp_path: Path) -> None:
    """A store migrated by a newer ci_tools: one line naming the revision; nothing changed."""
    url = sqlite_url(tmp_path / "history.db")
    open_store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as db:
        db.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(HistoryError) as refused:
        open_store(url)
    message = str(refused.value)
    assert "\n" not in message
    assert "schema 0099, newer than this ci_tools knows" in message
    engine = sa.create_engine(url)
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
    assert "cannot be opened" in str(refused.value)
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
        assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        retries = db.execute(sa.text("SELECT nodeid, retries FROM results ORDER BY run")).all()
    engine.dispose()
    assert [tuple(r) for r in retries] == [("t.py::a", 0), ("t.py::b", 1)]


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
