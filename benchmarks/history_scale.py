"""The run store at a big team's scale: 5,000 tests a run, on SQLite and on PostgreSQL.

Two years of 20 deploys a day is about 15,000 runs and 75 M results; filling that takes hours.
So each store is filled twice, to SMALL and then LARGE runs of 5,000 tests (the bulk written
straight through SQLAlchemy Core, as fast as the database takes it), and at each size are
timed, as a report does them:

(a) the ingest of one more 5,000-test run through ``Store.record`` (goal <= 1 s);
(b) one report's history queries and analysis (``lookback.gather`` and ``build_view``: the
    runs before it, the results of the window it reads, the track records; goal <= 0.5 s);
(c) the retention's prune when nothing is past it (what the main job pays after each run).

The ratio LARGE / SMALL of each is printed: near 1, the cost does not grow with the store, so
the figures hold at 15,000 runs. PostgreSQL is a real server started on a free local port
(the reference platform's own start-up code), in a folder of the benchmark's own.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _figures import Figure, keep
from history_store import a_run, rows

from ci_tools.config import load
from ci_tools.environment import sqlite_url
from ci_tools.history.schema import results, runs
from ci_tools.history.store import open_store
from ci_tools.records import TestRecord
from ci_tools.report import lookback
from reference_platform import servers

ROOT = Path(__file__).resolve().parent.parent
TESTS = 5_000
SMALL, LARGE = 50, 200  # runs in the store, each of TESTS results
GOAL_INGEST_S, GOAL_QUERY_S, GOAL_GROWTH = 1.0, 0.5, 1.5
FIGURES: list[Figure] = []  # what bench measured, for the README's table
ROUNDS = 3


def fill(url: str, first: int, last: int) -> None:
    """Runs first..last-1 written straight into the store's tables (the bulk of a store)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as db:
        for n in range(first, last):
            run = a_run(n)
            key = db.execute(
                runs.insert()
                .values(
                    run_id=run.run_id,
                    attempt=1,
                    env=run.env,
                    commit=run.commit,
                    revisions="{}",
                    started=run.started,
                    finished=run.finished,
                    verdict=run.verdict,
                    escalation=run.escalation,
                    first_failed_phase=run.first_failed_phase,
                    phases_ran="1,2,3,4,5",
                    outage=run.outage,
                    agent_pipeline_failed=False,
                    redis_down=run.redis_down,
                    database_min_ms=run.database_min_ms,
                    recorded_at=run.started,
                )
                .returning(runs.c.id)
            ).scalar_one()
            db.execute(
                results.insert(),
                [
                    {
                        "run": key,
                        "nodeid": r.nodeid,
                        "file": r.file,
                        "phase": r.phase,
                        "priority": r.priority,
                        "areas": ",".join(r.areas),
                        "outcome": r.outcome,
                        "duration_s": r.duration_s,
                        "signature": r.signature,
                        "cause": r.cause,
                        "cause_class": r.failure_class,
                    }
                    for r in rows(n, TESTS)
                ],
            )
    engine.dispose()


def records_of(n: int) -> list[TestRecord]:
    """Run n's results as the report reads its records."""
    stamp = a_run(n).started
    return [
        TestRecord(
            nodeid=r.nodeid,
            file=r.file,
            line=1,
            phase=r.phase,
            outcome=r.outcome,
            duration_s=r.duration_s,
            start=stamp,
            end=stamp,
            priority=r.priority,
            areas=r.areas,
        )
        for r in rows(n, TESTS)
    ]


def timed(action: Callable[[], object]) -> float:
    """The median of ROUNDS runs of ``action``, in seconds."""
    spent = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        action()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent)


def measure(url: str, size: int) -> tuple[float, float, float]:
    """(ingest of one more run, one report's history work, a prune removing nothing) on a
    store of ``size`` runs."""
    from ci_tools.diagnose import diagnose  # noqa: PLC0415

    config = load(ROOT / "pyproject.toml")
    n = size + 10_000  # a run after every run stored, its own identity each round
    records = records_of(n)
    diagnosis = diagnose(config, (), records, None)
    store = open_store(url)
    rounds = iter(range(ROUNDS))

    def ingest() -> None:
        store.record(a_run(n + next(rounds)), rows(n, TESTS))

    def report() -> None:
        current = a_run(n + ROUNDS)
        past, past_results, tallies = lookback.gather(
            store, config, current.env, current.started, records
        )
        lookback.build_view(
            config,
            current=current,
            records=records,
            diagnosis=diagnosis,
            past=past,
            past_results=past_results,
            tallies=tallies,
        )

    def prune() -> None:
        keep = config.history
        store.prune(keep.keep_runs, 10_000, 20_000, time.time())

    try:
        return timed(ingest), timed(report), timed(prune)
    finally:
        with store.engine.begin() as db:  # the rounds' runs out again: the sizes stay exact
            added = sa.select(runs.c.id).where(runs.c.run_id >= f"run-{n:05d}")
            keys = list(db.execute(added).scalars())
            db.execute(results.delete().where(results.c.run.in_(keys)))
            db.execute(runs.delete().where(runs.c.id.in_(keys)))
        store.close()


@contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """A real PostgreSQL server on a free local port, with an empty store database."""
    import psycopg  # noqa: PLC0415 - the PostgreSQL half alone

    password = secrets.token_urlsafe(16)
    port = servers.free_port()
    log_path = folder / "postgres.log"
    with log_path.open("wb") as log:
        server = servers.start_postgres(folder, port, password, log, log_path)
        try:
            deadline = time.monotonic() + 60
            servers.wait_until(
                lambda: servers.postgres_ready(port), server, "postgres", log_path, deadline
            )
            base = f"postgresql://postgres:{password}@127.0.0.1:{port}"
            with psycopg.connect(f"{base}/postgres", autocommit=True) as db:
                db.execute("CREATE DATABASE ci_history")
            yield f"{base}/ci_history"
        finally:
            server.terminate()
            server.wait(timeout=30)


def bench(name: str, url: str) -> bool:
    """Fills the store to SMALL then LARGE runs, measuring at each; prints; goals met."""
    open_store(url).close()  # the schema, as the first report makes it
    figures = []
    filled = 0
    for size in (SMALL, LARGE):
        fill(url, filled, size)
        filled = size
        figures.append(measure(url, size))
    (ingest_s, report_s, prune_s), (ingest_l, report_l, prune_l) = figures
    print(
        f"{name}: one {TESTS:,}-test run recorded in {ingest_s:.2f} s at {SMALL} runs, "
        f"{ingest_l:.2f} s at {LARGE} ({ingest_l / ingest_s:.2f}x; goal <= {GOAL_INGEST_S:g} s); "
        f"a report's history queries and analysis {report_s:.2f} s / {report_l:.2f} s "
        f"({report_l / report_s:.2f}x; goal <= {GOAL_QUERY_S:g} s); a prune removing nothing "
        f"{prune_s:.3f} s / {prune_l:.3f} s"
    )
    worst_ingest, worst_report = max(ingest_s, ingest_l), max(report_s, report_l)
    FIGURES.extend(
        [
            Figure(
                f"history, {name}: ingest of one {TESTS:,}-test run, store of {LARGE} runs "
                f"(growth from {SMALL})",
                f"{worst_ingest:.2f} s ({ingest_l / ingest_s:.2f}x)",
                f"<= {GOAL_INGEST_S:g} s",
                worst_ingest <= GOAL_INGEST_S and ingest_l / ingest_s <= GOAL_GROWTH,
            ),
            Figure(
                f"history, {name}: one report's history queries and analysis (growth from "
                f"{SMALL} to {LARGE} runs)",
                f"{worst_report:.2f} s ({report_l / report_s:.2f}x)",
                f"<= {GOAL_QUERY_S:g} s",
                worst_report <= GOAL_QUERY_S and report_l / report_s <= GOAL_GROWTH,
            ),
        ]
    )
    return (
        worst_ingest <= GOAL_INGEST_S
        and worst_report <= GOAL_QUERY_S
        and ingest_l / ingest_s <= GOAL_GROWTH
        and report_l / report_s <= GOAL_GROWTH
    )


def main() -> int:
    """SQLite, then PostgreSQL; exit 1 when a goal is missed."""
    print(
        f"stores of {SMALL} and {LARGE} runs x {TESTS:,} tests ({SMALL * TESTS:,} and "
        f"{LARGE * TESTS:,} results); growth goal <= {GOAL_GROWTH:g}x from the one to the other"
    )
    with tempfile.TemporaryDirectory(prefix="bench-history-scale-") as folder:
        base = Path(folder)
        ok = bench("SQLite", sqlite_url(base / "history.db"))
        with postgres(base) as url:
            ok = bench("PostgreSQL", url) and ok
    keep("history_scale", "python benchmarks/history_scale.py", FIGURES)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
