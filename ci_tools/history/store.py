"""The run store: SQLite by default (``reports/history.db``), PostgreSQL by URL, one code path.

Opened with :func:`open_store`, which migrates the schema forward (Alembic) and refuses a
store whose schema is newer than this ci_tools knows. A bad URL is a ``ConfigError``
(``address``); every failure to open, read or write (locked, corrupt, unreachable, newer
schema, a folder that cannot be made) is a :class:`HistoryError` with one line saying what is
wrong and what to do; nothing already stored is overwritten or dropped by it.

Writers may race: many reports at once into a store nobody has created yet, or the same run
reported twice at once. Creating and migrating the schema happens under the store's write
lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level advisory lock), each
writer looking again once it holds it. A run is identified by (environment, run id, attempt):
recording it is an upsert on that identity, so reporting the same run again, even at the
same moment, leaves one run with the last report's results, and a GitHub re-run is a new
attempt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from ci_tools._exceptions import HistoryError
from ci_tools.history.address import describe, parse_url
from ci_tools.history.failures import ELSEWHERE, failure
from ci_tools.history.model import COUNTED, PastResult, PastRun, ResultRow, RunRow, Tally
from ci_tools.history.schema import criteria, results, runs
from ci_tools.records import now, timestamp

__all__ = ["Store", "describe", "open_store"]

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration: a store already there opens without loading Alembic (a third of a
# second, and every run and report opens the store). A test keeps it equal to Alembic's head.
HEAD = "0003"
BUSY_TIMEOUT_S = 10.0  # a writer waits this long for another (two deploys reporting at once)
CONNECT_TIMEOUT_S = 5  # an unreachable PostgreSQL is said within this
# The PostgreSQL advisory lock that creating and migrating the schema hold: a number of
# ci_tools' own, so that it shares nothing with another application's locks.
MIGRATION_LOCK = int.from_bytes(
    hashlib.blake2b(b"ci_tools.history: migrate", digest_size=8).digest(), "big", signed=True
)
_WRITE = "ci_tools_write"  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)


def _scripts() -> tuple[AlembicConfig, ScriptDirectory]:
    """Alembic's view of the migrations (loads Alembic)."""
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415 - see HEAD
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(MIGRATIONS))
    return alembic_config, ScriptDirectory.from_config(alembic_config)


def _revision(db: sa.Connection) -> str | None:
    """The store's schema revision, as Alembic records it; None for a new store."""
    if not sa.inspect(db).has_table("alembic_version"):
        return None
    return db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _migrate(db: sa.Connection, current: str | None, where: str) -> None:
    """Brings the store's schema to the newest migration; refuses one newer than this
    ci_tools knows."""
    from alembic import command  # noqa: PLC0415 - only a store behind loads Alembic

    alembic_config, scripts = _scripts()
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise HistoryError(
            where,
            f"has schema {current}, this ci_tools knows up to {scripts.get_current_head()}",
            "upgrade ci_tools",
        )
    alembic_config.attributes["connection"] = db
    command.upgrade(alembic_config, "head")


def _engine(url: sa.URL, busy_timeout_s: float) -> sa.Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(
            url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, pool_pre_ping=True
        )
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi: Any, _record: Any) -> None:
        # sqlite3's own transactions begin late (at the first write) and not at all for
        # DDL: off, so that BEGIN is ours (below) and a migration is one transaction.
        dbapi.isolation_level = None
        cursor = dbapi.cursor()
        _wal(cursor, busy_timeout_s)  # readers never block the writer
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of the
        # process loses nothing, a power cut at most the last runs recorded.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(db: sa.Connection) -> None:
        # A writer takes the write lock at once, waiting out another writer (busy_timeout);
        # a deferred transaction that reads first could not wait for it when it writes.
        immediate = db.get_execution_options().get(_WRITE, False)
        db.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _wal(cursor: sqlite3.Cursor, busy_timeout_s: float) -> None:
    """Puts the SQLite file in WAL mode (kept in the file; a no-op once it is). The switch
    is refused at once, without SQLite's busy wait, while another connection writes to a
    file still in rollback mode: as when many reports open a store nobody has made yet. It
    is tried again until ``busy_timeout_s``, as any other wait for a writer."""
    deadline = time.monotonic() + busy_timeout_s
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            left = deadline - time.monotonic()
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or left <= 0:
                raise
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)


def _postgresql() -> ModuleType:
    """SQLAlchemy's PostgreSQL dialect, loaded only by a store on PostgreSQL: its import
    (30 ms) is otherwise paid by every command that opens a store on SQLite."""
    from sqlalchemy.dialects import postgresql  # noqa: PLC0415

    return postgresql


@contextmanager
def _writing(
    engine: sa.Engine, busy_timeout_s: float, lock: int | None = None
) -> Iterator[sa.Connection]:
    """A write transaction holding the store's write lock from its start: SQLite's (BEGIN
    IMMEDIATE); on PostgreSQL the advisory lock ``lock``, when given. Either waits up to
    ``busy_timeout_s`` for another writer, then fails as locked."""
    with engine.connect() as db:
        db.execution_options(**{_WRITE: True})
        with db.begin():
            if db.dialect.name == "postgresql":
                db.exec_driver_sql(f"SET LOCAL lock_timeout = {int(busy_timeout_s * 1000)}")
                if lock is not None:
                    db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
            yield db


class Store:
    """An open run store."""

    def __init__(
        self, engine: sa.Engine, where: str, busy_timeout_s: float = BUSY_TIMEOUT_S
    ) -> None:
        self.engine = engine
        self.where = where
        self.busy_timeout_s = busy_timeout_s

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            secret = self.engine.url.password
            raise failure(exc, self.where, doing, self.busy_timeout_s, str(secret or "")) from None

    def record(
        self,
        run: RunRow,
        rows: Sequence[ResultRow],
        measured: Sequence[dict[str, Any]] = (),
        *,
        keep_complete: bool = False,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Stores a run with its results and criteria, in one transaction: an upsert on the
        run's identity (environment, run id, attempt), so the same run recorded again, even
        by another writer at the same moment, is one run with the last one's results. The
        run's key (the same each time). ``keep_complete`` (the report of a run that lost
        records): a stored attempt whose verdict is not "incomplete" is kept, and
        ``HistoryError`` says so. ``before_commit``: called last in the transaction, still
        holding the write lock; what it raises rolls the run back and is raised."""
        values = dataclasses.asdict(run)
        values["revisions"] = json.dumps(run.revisions, sort_keys=True)
        values["phases_ran"] = ",".join(map(str, run.phases_ran))
        values["recorded_at"] = now()
        identity = ("env", "run_id", "attempt")
        with self._errors("record the run"), _writing(self.engine, self.busy_timeout_s) as db:
            # Both dialects' INSERT ... ON CONFLICT DO UPDATE, the same construct: a second
            # writer of the run waits for the first's row, then updates it.
            dialect = _postgresql() if db.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(runs)
            upsert = (
                insert.values(**values)
                .on_conflict_do_update(
                    index_elements=[runs.c[name] for name in identity],
                    set_={name: insert.excluded[name] for name in values if name not in identity},
                    # An incomplete run never replaces a complete one: decided on the row
                    # itself, so a complete report landing meanwhile is kept too.
                    where=runs.c.verdict == "incomplete" if keep_complete else None,
                )
                .returning(runs.c.id)
            )
            found = db.execute(upsert).scalar_one_or_none()
            if found is None:  # the stored attempt is complete, and kept
                stored = db.execute(
                    sa.select(runs.c.verdict).where(
                        *(runs.c[name] == values[name] for name in identity)
                    )
                ).scalar()
                raise HistoryError(
                    self.where,
                    f"holds run {run.run_id} (attempt {run.attempt}) complete ({stored})",
                    "an incomplete report never replaces it; report the run's complete "
                    "directory again",
                )
            key = int(found)
            # Reported again: the earlier report's results and criteria make way.
            db.execute(results.delete().where(results.c.run == key))
            db.execute(criteria.delete().where(criteria.c.run == key))
            if rows:
                _insert_many(db, results, [_result_values(row, key) for row in rows])
            if measured:
                db.execute(criteria.insert(), [{**m, "run": key} for m in measured])
            if before_commit is not None:
                before_commit()
        return key

    def runs(self, env: str, limit: int = 50, before: str | None = None) -> list[PastRun]:
        """The environment's last runs, newest first (only those started before ``before``,
        when given); the latest attempt of each run."""
        query = sa.select(runs).where(runs.c.env == env)
        if before is not None:
            query = query.where(runs.c.started < before)
        query = query.order_by(runs.c.started.desc(), runs.c.attempt.desc())
        found: list[PastRun] = []
        seen: set[str] = set()
        with self._errors("read runs"), self.engine.connect() as db:
            for row in db.execute(query.limit(limit * 2)).mappings():
                if row["run_id"] in seen:
                    continue  # an earlier attempt of a run already listed
                seen.add(row["run_id"])
                found.append(_past_run(row))
                if len(found) == limit:
                    break
        return found

    def results(
        self,
        run_keys: Sequence[int],
        phase: int | None = None,
        *,
        eventful_and: Collection[str] | None = None,
    ) -> list[PastResult]:
        """The results of these runs (of one phase of them, when given). With
        ``eventful_and``, only those of the tests that did anything but pass in these runs
        (failed, erred, skipped, not run, or an experiment's finding) and of the tests named:
        what a test passing every time says (it passes) needs none of its rows, and most of
        a big team's tests pass every time."""
        if not run_keys:
            return []
        query = sa.select(
            results.c.run,
            results.c.nodeid,
            results.c.file,
            results.c.phase,
            results.c.outcome,
            results.c.cause,
            results.c.cause_class.label("failure_class"),
            results.c.duration_s,
            results.c.finding,
        ).where(results.c.run.in_(list(run_keys)))
        if phase is not None:
            query = query.where(results.c.phase == phase)
        if eventful_and is not None:
            eventful = sa.select(results.c.nodeid).where(
                results.c.run.in_(list(run_keys)),
                sa.or_(results.c.outcome != "passed", results.c.finding.is_not(None)),
            )
            named = [results.c.nodeid.in_(list(eventful_and))] if eventful_and else []
            query = query.where(sa.or_(results.c.nodeid.in_(eventful), *named))
        with self._errors("read results"), self.engine.connect() as db:
            # By position, in the select's order (a mapping per row costs as much again).
            return [PastResult(*row) for row in db.execute(query).all()]

    def tallies(self, run_keys: Sequence[int]) -> list[Tally]:
        """The results of these runs per run, phase and file, counted by the store (passed,
        and counted: passed, failed, error): a window's success rates, and which of its
        runs have results, without reading them."""
        if not run_keys:
            return []
        query = (
            sa.select(
                results.c.run,
                results.c.phase,
                results.c.file,
                sa.func.sum(sa.case((results.c.outcome == "passed", 1), else_=0)),
                sa.func.sum(sa.case((results.c.outcome.in_(COUNTED), 1), else_=0)),
            )
            .where(results.c.run.in_(list(run_keys)))
            .group_by(results.c.run, results.c.phase, results.c.file)
        )
        with self._errors("read results"), self.engine.connect() as db:
            return [Tally(*row) for row in db.execute(query).all()]

    def prune(
        self,
        keep_runs: int,
        keep_days: float,
        keep_summaries_days: float,
        at: float,
        *,
        dry_run: bool = False,
    ) -> Pruned:
        """Applies the retention (``[tool.ci_tools.history]``) in one transaction, in every
        environment: a run past the newest ``keep_runs`` or older than ``keep_days`` (before
        ``at``, seconds since the epoch) loses its per-test rows (results, criteria), which
        are what a store's size is; its summary (verdict, escalation, what failed) stays
        until ``keep_summaries_days``, then goes too. What it removed (``dry_run``: would
        remove; nothing is)."""
        results_before = timestamp(at - keep_days * 86400)
        summaries_before = timestamp(at - keep_summaries_days * 86400)
        with self._errors("prune"), _writing(self.engine, self.busy_timeout_s) as db:
            trimmed: list[int] = []
            for env in db.execute(sa.select(runs.c.env).distinct()).scalars():
                newest = (
                    sa.select(runs.c.started)
                    .where(runs.c.env == env)
                    .order_by(runs.c.started.desc())
                    .offset(keep_runs - 1)
                    .limit(1)
                )
                nth = db.execute(newest).scalar()
                cut = results_before if nth is None else max(results_before, nth)
                past = sa.select(runs.c.id).where(runs.c.env == env, runs.c.started < cut)
                trimmed += db.execute(
                    past.where(sa.exists().where(results.c.run == runs.c.id))
                ).scalars()
            rows = 0
            for start in range(0, len(trimmed), 500):  # bounded IN lists
                chunk = trimmed[start : start + 500]
                if dry_run:
                    count = sa.select(sa.func.count()).where(results.c.run.in_(chunk))
                    rows += int(db.execute(count).scalar() or 0)
                    continue
                rows += db.execute(results.delete().where(results.c.run.in_(chunk))).rowcount
                db.execute(criteria.delete().where(criteria.c.run.in_(chunk)))
            old = sa.select(runs.c.id).where(runs.c.started < summaries_before)
            gone = list(db.execute(old).scalars())
            for start in range(0, 0 if dry_run else len(gone), 500):
                chunk = gone[start : start + 500]
                db.execute(results.delete().where(results.c.run.in_(chunk)))
                db.execute(criteria.delete().where(criteria.c.run.in_(chunk)))
                db.execute(runs.delete().where(runs.c.id.in_(chunk)))
        return Pruned(len(set(trimmed) - set(gone)), rows, len(gone))

    def environments(self) -> list[str]:
        """Every environment with a run."""
        with self._errors("read runs"), self.engine.connect() as db:
            return sorted(db.execute(sa.select(runs.c.env).distinct()).scalars())

    def close(self) -> None:
        """Releases the connections."""
        self.engine.dispose()


@dataclasses.dataclass(frozen=True)
class Pruned:
    """What the store's retention removed."""

    trimmed: int = 0  # runs that lost their per-test rows, their summaries kept
    results: int = 0  # the per-test rows removed
    runs: int = 0  # runs removed whole (past the summaries' retention)

    @property
    def empty(self) -> bool:
        """Nothing removed."""
        return not (self.trimmed or self.results or self.runs)

    def summary(self) -> str:
        """``the per-test rows of 3 runs (15,000 results) and 1 run whole``."""
        parts = []
        if self.trimmed or self.results:
            parts.append(
                f"the per-test rows of {self.trimmed} run{'s' if self.trimmed != 1 else ''} "
                f"({self.results:,} results)"
            )
        if self.runs:
            parts.append(f"{self.runs} run{'s' if self.runs != 1 else ''} whole")
        return " and ".join(parts) or "nothing"


def _past_run(row: Any) -> PastRun:
    return PastRun(
        key=row["id"],
        run_id=row["run_id"],
        attempt=row["attempt"],
        env=row["env"],
        commit=row["commit"],
        revisions=json.loads(row["revisions"] or "{}"),
        started=row["started"],
        finished=row["finished"],
        verdict=row["verdict"],
        escalation=row["escalation"],
        first_failed_phase=row["first_failed_phase"],
        phases_ran=tuple(int(p) for p in row["phases_ran"].split(",") if p),
        outage=bool(row["outage"]),
        agent_pipeline_failed=bool(row["agent_pipeline_failed"]),
        redis_down=bool(row["redis_down"]),
        database_min_ms=row["database_min_ms"],
    )


def _insert_many(db: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Rows (each with the same columns) inserted through the driver's executemany. Through
    SQLAlchemy each row's parameters are processed one by one, which was a third of recording
    10,000 results; the results' columns (text, integers, floats) need no conversion."""
    names = list(rows[0])
    compiled = table.insert().values({name: sa.bindparam(name) for name in names}).compile(db)
    if compiled.positiontup is not None:  # SQLite's "?": each row's values in their order
        order = compiled.positiontup
        pick = operator.itemgetter(*order)
        values = [pick(row) for row in rows] if len(order) > 1 else [(pick(row),) for row in rows]
        db.exec_driver_sql(str(compiled), values)
    else:  # psycopg's "%(name)s"
        db.exec_driver_sql(str(compiled), list(rows))


def _result_values(row: ResultRow, run: int) -> dict[str, Any]:
    """A result as its table's row: the failure class in the column ``cause_class``."""
    # vars(), not dataclasses.asdict: asdict deep-copies every field, which was two thirds of
    # recording a run of 500 tests.
    values = vars(row) | {"run": run, "areas": ",".join(row.areas)}
    values["cause_class"] = values.pop("failure_class")
    return values


def _make_folder(path: Path, where: str) -> None:
    """Makes the SQLite file's folder; a HistoryError when it cannot be made."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HistoryError(
            where,
            f"cannot be made: its folder {path.parent} cannot be created "
            f"({exc.strerror or type(exc).__name__})",
            f"{ELSEWHERE} (or [tool.ci_tools.history] url), in a folder that can be made",
        ) from None


def open_store(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Store:
    """Opens (creating when new) and migrates the store at ``url``; a writer waits up to
    ``busy_timeout_s`` for another to finish before the store counts as locked. A URL that
    names no store is a ``ConfigError``; anything else the store refuses, a HistoryError."""
    address = parse_url(url)
    where = describe(url)
    if address.get_backend_name() == "sqlite":
        _make_folder(Path(str(address.database)), where)
    engine = _engine(address, busy_timeout_s)
    try:
        with engine.connect() as db:
            current = _revision(db)
        if current != HEAD:
            # Under the write lock, looked at again: another writer may have created or
            # migrated the schema while this one waited for the lock.
            with _writing(engine, busy_timeout_s, MIGRATION_LOCK) as db:
                current = _revision(db)
                if current != HEAD:
                    _migrate(db, current, where)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise failure(exc, where, "be opened", busy_timeout_s, address.password or "") from None
    except HistoryError:
        engine.dispose()
        raise
    return Store(engine, where, busy_timeout_s)
