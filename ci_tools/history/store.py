"""The run store: SQLite by default (``reports/history.db``), PostgreSQL by URL, one code path.

Opened with :func:`open_store`, which migrates the schema forward (Alembic) and refuses a
store whose schema is newer than this ci_tools knows. Every failure to open, read or write
(locked, corrupt, unreachable, newer schema) is a :class:`HistoryError` with one line saying
what is wrong and what to do; nothing already stored is overwritten or dropped by it.

A run is identified by (environment, run id, attempt): recording it again replaces its rows,
so reporting the same run twice never duplicates it, and a GitHub re-run is a new attempt.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ci_tools._exceptions import HistoryError

__all__ = ["Store", "describe", "open_store"]
from ci_tools.history.model import PastResult, PastRun, ResultRow, RunRow
from ci_tools.history.schema import criteria, results, runs
from ci_tools.records import now

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration: a store already there opens without loading Alembic (a third of a
# second, and every run and report opens the store). A test keeps it equal to Alembic's head.
HEAD = "0002"
BUSY_TIMEOUT_S = 10.0  # a second writer (two deploys reporting at once) waits this long
CONNECT_TIMEOUT_S = 5  # an unreachable PostgreSQL is said within this


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
            f"history store {where} has schema {current}, newer than this ci_tools "
            f"knows (up to {scripts.get_current_head()}): upgrade ci_tools, or point "
            "CI_TOOLS_HISTORY_URL at another store"
        )
    alembic_config.attributes["connection"] = db
    command.upgrade(alembic_config, "head")


def _engine(url: str, busy_timeout_s: float) -> sa.Engine:
    if url.startswith("postgresql://"):  # psycopg 3, not SQLAlchemy's default psycopg2
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi: Any, _record: Any) -> None:
            cursor = dbapi.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of the
            # process loses nothing, a power cut at most the last runs recorded.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(
        url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, pool_pre_ping=True
    )


def describe(url: str) -> str:
    """The store's address without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"


class Store:
    """An open run store."""

    def __init__(self, engine: sa.Engine, where: str) -> None:
        self.engine = engine
        self.where = where

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
            raise HistoryError(f"history store {self.where}: could not {doing}: {first}") from None

    def record(
        self,
        run: RunRow,
        rows: Sequence[ResultRow],
        measured: Sequence[dict[str, Any]] = (),
    ) -> int:
        """Stores a run with its results and criteria, in one transaction; the same run and
        attempt recorded again replaces its rows. The run's key."""
        values = dataclasses.asdict(run)
        values["revisions"] = json.dumps(run.revisions, sort_keys=True)
        values["phases_ran"] = ",".join(map(str, run.phases_ran))
        values["recorded_at"] = now()
        with self._errors("record the run"), self.engine.begin() as db:
            db.execute(
                runs.delete().where(
                    (runs.c.env == run.env)
                    & (runs.c.run_id == run.run_id)
                    & (runs.c.attempt == run.attempt)
                )
            )  # its results and criteria go with it (ON DELETE CASCADE)
            inserted = db.execute(runs.insert().values(**values)).inserted_primary_key
            if inserted is None:  # every supported database returns the new key
                raise HistoryError(f"history store {self.where}: no key for the new run")
            key = int(inserted[0])
            if rows:
                db.execute(results.insert(), [_result_values(row, key) for row in rows])
            if measured:
                db.execute(criteria.insert(), [{**m, "run": key} for m in measured])
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

    def results(self, run_keys: Sequence[int]) -> list[PastResult]:
        """The results of these runs."""
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
        ).where(results.c.run.in_(list(run_keys)))
        with self._errors("read results"), self.engine.connect() as db:
            return [PastResult(**row) for row in db.execute(query).mappings()]

    def environments(self) -> list[str]:
        """Every environment with a run."""
        with self._errors("read runs"), self.engine.connect() as db:
            return sorted(db.execute(sa.select(runs.c.env).distinct()).scalars())

    def close(self) -> None:
        """Releases the connections."""
        self.engine.dispose()


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


def _result_values(row: ResultRow, run: int) -> dict[str, Any]:
    """A result as its table's row: the failure class in the column ``cause_class``."""
    # vars(), not dataclasses.asdict: asdict deep-copies every field, which was two thirds of
    # recording a run of 500 tests.
    values = vars(row) | {"run": run, "areas": ",".join(row.areas)}
    values["cause_class"] = values.pop("failure_class")
    return values


def open_store(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Store:
    """Opens (creating when new) and migrates the store at ``url``; an SQLite writer waits
    up to ``busy_timeout_s`` for another to finish before the store counts as locked."""
    where = describe(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = _engine(url, busy_timeout_s)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise HistoryError(
            f"history store {where}: not a usable database URL ({exc}); give "
            "sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from None
    try:
        with engine.begin() as db:
            current = _revision(db)
            if current != HEAD:
                _migrate(db, current, where)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        raise HistoryError(
            f"history store {where} cannot be opened: {first}; the worklog is written "
            "without history"
        ) from None
    except HistoryError:
        engine.dispose()
        raise
    return Store(engine, where)
