"""The run store's bad input, each one line naming the store (never its password) and the fix:
a URL that names no store (ConfigError, exit 2, before any phase or report), a folder that
cannot be made, a file that is no database, a newer schema, a lock held past the timeout,
and the database errors PostgreSQL answers with (here without a server)."""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from ci_tools import cli
from ci_tools._exceptions import ConfigError, HistoryError
from ci_tools.config import parse
from ci_tools.environment import HISTORY_URL, sqlite_url, store_url
from ci_tools.history.address import check_url, describe, parse_url
from ci_tools.history.failures import failure
from ci_tools.history.model import ResultRow, RunRow
from ci_tools.history.store import HEAD, open_store

ROOT = Path(__file__).resolve().parents[2]
BAD_PORT = "postgresql://ci:s3cret-pw@127.0.0.1:notaport/history"
RUN = RunRow(
    run_id="r1",
    attempt=1,
    env="local",
    commit="abc",
    revisions={},
    started="2026-12-01T10:00:00.000Z",
    finished="2026-12-01T10:01:00.000Z",
    verdict="healthy",
    escalation="none",
    first_failed_phase=None,
    phases_ran=(1,),
    outage=False,
    agent_pipeline_failed=False,
    redis_down=False,
    database_min_ms=None,
)
ROWS = [ResultRow("t.py::a", "t.py", 1, "P1", (), "passed", 0.1)]


def refused(url: str) -> str:
    """The ConfigError's line for ``url``."""
    with pytest.raises(ConfigError) as caught:
        parse_url(url)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_port_that_is_no_number_is_one_line_naming_it_without_the_password() -> None:
    """``host:notaport``: one line naming the URL (password masked), where it was set, the
    port as written and the fix."""
    assert refused(BAD_PORT) == (
        "run store URL postgresql://ci:***@127.0.0.1:notaport/history (CI_TOOLS_HISTORY_URL) "
        "has a port that is not a number ('notaport'): give one from 1 to 65535, e.g. "
        "postgresql://USER:PASSWORD@HOST:5432/DB"
    )


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=65536)))
def test_a_port_outside_the_range_is_refused_naming_it(port: int) -> None:
    """Any port below 1 or above 65535 is refused in one line naming that port."""
    message = refused(f"postgresql://ci:s3cret-pw@127.0.0.1:{port}/history")
    assert f"has port {port}, outside 1-65535" in message
    assert "s3cret-pw" not in message


@given(st.integers(min_value=1, max_value=65535))
def test_a_port_in_range_is_kept_and_opened_with_psycopg(port: int) -> None:
    """A port from 1 to 65535 is the port opened, through psycopg 3."""
    parsed = parse_url(f"postgresql://ci@db.internal:{port}/history")
    assert (parsed.port, parsed.drivername) == (port, "postgresql+psycopg")


@given(st.text())
def test_a_password_is_never_shown_whatever_it_holds(password: str) -> None:
    """Whatever the password holds (an @, a slash, a newline), the URL shown masks it."""
    shown = describe(f"postgresql://ci:PW-{password}@127.0.0.1:5432/history")
    assert "PW-" not in shown
    assert "\n" not in shown
    assert shown.startswith("postgresql://ci:***@")


def test_a_password_given_as_a_query_parameter_is_masked() -> None:
    """``?password=`` is masked too; the rest of the URL stays."""
    shown = describe("postgresql://ci@db/history?sslmode=require&password=s3cret-pw")
    assert shown == "postgresql://ci@db/history?sslmode=require&password=***"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("nonsense", "is not a database URL: give sqlite:///PATH or postgresql://"),
        ("mysql://ci:s3cret-pw@db/history", "names 'mysql', which ci_tools cannot store runs in"),
        ("postgresql+psycopg2://ci@db/history", "names 'postgresql+psycopg2', which"),
        ("sqlite://", "names no file (a store in memory is gone when the command ends)"),
    ],
)
def test_a_url_that_names_no_store_is_one_line(url: str, said: str) -> None:
    """Not a URL, a database ci_tools does not store runs in, SQLite in memory: one line."""
    message = refused(url)
    assert said in message
    assert "s3cret-pw" not in message


def test_the_store_url_is_checked_where_it_is_resolved_naming_its_source(tmp_path: Path) -> None:
    """``$CI_TOOLS_HISTORY_URL`` and ``[tool.ci_tools.history] url`` are checked where the
    store's URL is resolved, each error naming where the URL was set."""
    config = parse({"history": {"url": "postgresql://ci@db:99999/history"}})
    with pytest.raises(ConfigError, match=r"\(CI_TOOLS_HISTORY_URL\) has a port that is not"):
        store_url(config, tmp_path, {HISTORY_URL: BAD_PORT})
    with pytest.raises(ConfigError, match=r"\(\[tool.ci_tools.history\] url\) has port 99999"):
        store_url(config, tmp_path, {})
    assert store_url(parse({}), tmp_path, {}) == sqlite_url(
        tmp_path.resolve() / "reports/history.db"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["history"],
        ["shard", "--phase", "4", "--shards", "2", "--index", "1"],
        ["report", "--run-dir", "{tmp}"],
        ["run", "--run-dir", "{tmp}/run", "--phase", "1"],
    ],
)
def test_every_command_refuses_a_bad_store_url_in_one_line_exit_2(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``history``, ``shard``, ``report`` and ``run`` with a store URL whose port is no
    number: exit 2 and one line, the password masked, before any phase or report."""
    monkeypatch.setenv(HISTORY_URL, BAD_PORT)
    for name in ("BACKEND", "WEBSOCKET", "AUTH"):  # a platform somewhere, never reached
        scheme = "ws" if name == "WEBSOCKET" else "http"
        monkeypatch.setenv(f"CI_TOOLS_{name}_URL", f"{scheme}://127.0.0.1:9")
    argv = ["--root", str(ROOT), *(arg.format(tmp=tmp_path) for arg in command)]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: run store URL postgresql://ci:***@127.0.0.1:notaport/history")
    assert err.count("\n") == 1
    assert "s3cret-pw" not in out + err
    assert not (tmp_path / "worklog.md").exists()
    assert not (tmp_path / "run").exists()


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    """A store under a regular file: one line naming the folder, why, and the fix."""
    (tmp_path / "file").write_text("")
    url = sqlite_url(tmp_path / "file" / "reports" / "history.db")
    with pytest.raises(HistoryError) as caught:
        open_store(url)
    assert str(caught.value) == (
        f"the run store at {url} cannot be made: its folder {tmp_path}/file/reports cannot be "
        "created (Not a directory): point CI_TOOLS_HISTORY_URL at another store (or "
        "[tool.ci_tools.history] url), in a folder that can be made"
    )


def test_a_file_that_is_no_database_is_one_line_and_left_as_it_is(tmp_path: Path) -> None:
    """Garbage where the SQLite file should be: one line saying so and what to do; the
    file's bytes stay."""
    path = tmp_path / "history.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(HistoryError) as caught:
        open_store(sqlite_url(path))
    assert str(caught.value) == (
        f"the run store at {sqlite_url(path)} is not a usable database (file is not a "
        "database): move the file aside (it was left as it is), or point "
        "CI_TOOLS_HISTORY_URL at another store"
    )
    assert path.read_bytes() == b"not a database" * 100


def test_a_newer_schema_says_its_revision_and_to_upgrade(tmp_path: Path) -> None:
    """A store a newer ci_tools migrated: "has schema N, this ci_tools knows up to M:
    upgrade ci_tools", and it stays at N."""
    url = sqlite_url(tmp_path / "history.db")
    open_store(url).close()
    with sqlite3.connect(tmp_path / "history.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    db.close()
    with pytest.raises(HistoryError) as caught:
        open_store(url)
    assert str(caught.value) == (
        f"the run store at {url} has schema 0099, this ci_tools knows up to {HEAD}: "
        "upgrade ci_tools"
    )
    with sqlite3.connect(tmp_path / "history.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0099",)
    db.close()


def test_a_store_locked_past_the_timeout_is_one_line_and_the_run_not_recorded(
    tmp_path: Path,
) -> None:
    """Another process holds the write lock past the busy timeout: one line naming the lock
    and the timeout, and for a report "this run was not recorded in the run store (URL):
    ..."; what was stored stays."""
    url = sqlite_url(tmp_path / "history.db")
    store = open_store(url)
    store.record(RUN, ROWS)
    store.close()
    holder = sqlite3.connect(tmp_path / "history.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        locked = open_store(url, busy_timeout_s=0.2)
        with pytest.raises(HistoryError) as caught:
            locked.record(RUN, [])
        locked.close()
    finally:
        holder.close()
    reason = "is locked: another writer held it past the 0.2 s timeout (database is locked)"
    assert str(caught.value) == (
        f"the run store at {url} {reason}: try again once that writer has finished"
    )
    assert caught.value.not_recorded() == (
        f"this run was not recorded in the run store ({url}): it {reason}; try again once "
        "that writer has finished"
    )
    store = open_store(url)
    try:
        (kept,) = store.runs("local")
        assert len(store.results([kept.key])) == 1
    finally:
        store.close()


def test_the_run_store_refusing_is_exit_2_for_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ci-tools history`` on a file that is no database: exit 2 and the store's one line."""
    path = tmp_path / "history.db"
    path.write_bytes(b"garbage" * 64)
    monkeypatch.setenv(HISTORY_URL, sqlite_url(path))
    assert cli.main(["--root", str(ROOT), "history"]) == 2
    _, err = capsys.readouterr()
    assert err == (
        f"error: the run store at {sqlite_url(path)} is not a usable database (file is not a "
        "database): move the file aside (it was left as it is), or point CI_TOOLS_HISTORY_URL "
        "at another store\n"
    )


WHERE = "postgresql://ci:***@db:5432/history"


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
            "is locked: another writer held it past the 10 s timeout (canceling statement due "
            "to lock timeout): try again once that writer has finished",
        ),
        (
            psycopg.errors.InvalidPassword('password authentication failed for user "ci"'),
            'refused the credentials (password authentication failed for user "ci"): check the '
            "user and password in CI_TOOLS_HISTORY_URL",
        ),
        (
            psycopg.errors.InvalidCatalogName('database "history" does not exist'),
            'has no such database (database "history" does not exist): create it (CREATE '
            "DATABASE) or correct the URL's database name",
        ),
        (
            psycopg.errors.InsufficientPrivilege("permission denied for schema public"),
            "refused a write (permission denied for schema public): grant the URL's user the "
            "right to create tables and write in the database",
        ),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "127.0.0.1", port 1 failed: '
                "Connection refused\n\tIs the server running on that host?"
            ),
            'cannot be reached (connection failed: connection to server at "127.0.0.1", port 1 '
            "failed: Connection refused): check that PostgreSQL runs there and the URL's host "
            "and port are right",
        ),
        (
            psycopg.errors.SerializationFailure("could not serialize access"),
            "could not record the run (could not serialize access): try again; if it repeats, "
            "check the store",
        ),
    ],
)
def test_each_postgresql_error_is_one_line_with_its_fix(error: Exception, said: str) -> None:
    """PostgreSQL's answers (by SQLSTATE; none for a connection that failed) each become one
    line saying what is wrong with the store and what to do."""
    wrapped = sa.exc.OperationalError("INSERT INTO runs ...", {}, error)
    assert (
        str(failure(wrapped, WHERE, "record the run", 10.0)) == f"the run store at {WHERE} {said}"
    )


def test_a_password_the_driver_repeats_is_masked() -> None:
    """A driver's message that repeats the password shows it masked."""
    wrapped = sa.exc.OperationalError("", {}, psycopg.OperationalError("bad option s3cret-pw"))
    message = str(failure(wrapped, WHERE, "be opened", 10.0, secret="s3cret-pw"))
    assert "s3cret-pw" not in message
    assert "bad option ***" in message


def test_a_store_error_crosses_processes_whole() -> None:
    """A HistoryError pickles (a writer process hands it back) with its parts."""
    error = HistoryError(WHERE, "is locked", "try again")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (str(copy), copy.not_recorded()) == (str(error), error.not_recorded())


def _refusal(check: Callable[[str], object], url: str) -> str | None:
    """The ConfigError's line ``check`` raises for ``url``, or None."""
    try:
        check(url)
    except ConfigError as exc:
        return str(exc)
    return None


SQLITE_LIKE = r"\s?(sqlite|SQLite)(\+pysqlite)?:///[a-zA-Z0-9/?:=.%\n]{0,14}\s?"
EDGES = ["sqlite:///%3Amemory%3A", "sqlite:///:memory:", "sqlite:///?", "sqlite:////abs"]


@given(st.from_regex(SQLITE_LIKE, fullmatch=True) | st.sampled_from(EDGES) | st.text(max_size=40))
def test_the_quick_check_refuses_exactly_what_sqlalchemy_refuses(url: str) -> None:
    """``check_url`` (no SQLAlchemy for a SQLite file's URL) refuses a URL when and as
    ``parse_url`` does: the same line, or none."""
    assert _refusal(check_url, url) == _refusal(parse_url, url)
