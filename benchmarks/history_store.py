"""The run store at scale: 1,000 runs × 500 tests in SQLite.

(a) Ingest through ``Store.record`` (one transaction a run, as reports do): goal <= 10 s, and
    <= 3x the floor, plain ``sqlite3`` ``executemany`` of the same rows in as many
    transactions, measured in the same run.
(b) Every history query one report makes against that store (the runs before it, the results
    of the last window, the analysis): goal <= 0.25 s; printed beside reading the run's own
    500 records from its JSONL file.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ci_tools.config import load
from ci_tools.environment import sqlite_url
from ci_tools.history.model import ResultRow, RunRow
from ci_tools.history.store import open_store
from ci_tools.records import RecordWriter, read_records
from ci_tools.report import lookback
from ci_tools.report.lookback import LookbackView
from tests.fakes.records import make_record

ROOT = Path(__file__).resolve().parent.parent
RUNS, TESTS = 1_000, 500
GOAL_INGEST_S, GOAL_RATIO, GOAL_QUERY_S = 10.0, 3.0, 0.25


def a_run(n: int) -> RunRow:
    """Run n, a minute after run n - 1; every tenth an outage."""
    minute = f"2026-11-{1 + n // 1440:02d}T{(n // 60) % 24:02d}:{n % 60:02d}:00.000Z"
    return RunRow(
        run_id=f"run-{n:05d}",
        attempt=1,
        env="staging",
        commit=f"{n:012x}",
        revisions={"backend": f"backend-{n:05d}-abc", "auth": "auth-00001-xyz"},
        started=minute,
        finished=minute,
        verdict="unhealthy" if n % 10 == 0 else "healthy",
        escalation="P1" if n % 10 == 0 else "none",
        first_failed_phase=1 if n % 10 == 0 else None,
        phases_ran=(1, 2, 3, 4, 5),
        outage=n % 10 == 0,
        agent_pipeline_failed=False,
        redis_down=n % 10 == 0,
        database_min_ms=15.0,
    )


def rows(n: int, tests: int = TESTS) -> list[ResultRow]:
    """The results of run n (500 unless given): one test in 50 fails, another flips every
    run."""
    return [
        ResultRow(
            nodeid=f"tests/e2e/phase{1 + t % 5}/test_f{t % 40}.py::test_{t}",
            file=f"tests/e2e/phase{1 + t % 5}/test_f{t % 40}.py",
            phase=1 + t % 5,
            priority="P1" if t % 3 == 0 else "P2",
            areas=("agent", "websocket") if t % 2 else ("threads",),
            outcome="failed" if t % 50 == 0 or (t == 7 and n % 2) else "passed",
            duration_s=0.05 + (t % 7) / 100,
            signature="AssertionError: x" if t % 50 == 0 else "",
            cause="Wrong content or behaviour" if t % 50 == 0 else "",
            failure_class="application" if t % 50 == 0 else "",
        )
        for t in range(tests)
    ]


def ingest(url: str) -> float:
    """Seconds to record every run through the store."""
    store = open_store(url)
    started = time.perf_counter()
    for n in range(RUNS):
        store.record(a_run(n), rows(n))
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def floor(path: Path) -> float:
    """Seconds for plain sqlite3 to insert the same rows, one transaction a run, into the
    same tables and indexes with the same pragmas: only the code in between differs."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, run_id, attempt, env, commit_, revisions,"
        " started, finished, verdict, escalation, first_failed_phase, phases_ran, outage,"
        " agent_pipeline_failed, redis_down, database_min_ms, recorded_at)"
    )
    db.execute(
        "CREATE TABLE results (run, nodeid, file, phase, priority, areas, outcome, duration_s,"
        " signature, cause, cause_class)"
    )
    db.execute("CREATE UNIQUE INDEX uq_runs ON runs (env, run_id, attempt)")
    db.execute("CREATE INDEX ix_runs_env_started ON runs (env, started)")
    db.execute("CREATE INDEX ix_results_run ON results (run)")
    started = time.perf_counter()
    for n in range(RUNS):
        run = a_run(n)
        with db:
            key = db.execute(
                "INSERT INTO runs VALUES (NULL,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.run_id,
                    run.attempt,
                    run.env,
                    run.commit,
                    json.dumps(run.revisions),
                    run.started,
                    run.finished,
                    run.verdict,
                    run.escalation,
                    run.first_failed_phase,
                    "1,2,3,4,5",
                    run.outage,
                    False,
                    run.redis_down,
                    run.database_min_ms,
                    run.started,
                ),
            ).lastrowid
            db.executemany(
                "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        key,
                        r.nodeid,
                        r.file,
                        r.phase,
                        r.priority,
                        ",".join(r.areas),
                        r.outcome,
                        r.duration_s,
                        r.signature,
                        r.cause,
                        r.failure_class,
                    )
                    for r in rows(n)
                ],
            )
    seconds = time.perf_counter() - started
    db.close()
    return seconds


def query(url: str, folder: Path) -> tuple[float, float, LookbackView]:
    """Seconds for one report's history queries and analysis, and for reading its records."""
    config = load(ROOT / "pyproject.toml")
    records_file = folder / "phase1.jsonl"
    writer = RecordWriter(records_file)
    for r in rows(RUNS):
        writer.record(
            make_record(r.nodeid.split("::")[1], file=r.file, phase=r.phase, outcome=r.outcome)
        )
    writer.close()
    current = a_run(RUNS)
    records = read_records(records_file).records
    from ci_tools.diagnose import diagnose  # noqa: PLC0415

    diagnosis = diagnose(config, (), records, None)
    times, reads = [], []
    view = None
    for _ in range(5):
        started = time.perf_counter()
        store = open_store(url)
        past, past_results, tallies = lookback.gather(
            store, config, current.env, current.started, records
        )
        view = lookback.build_view(
            config,
            current=current,
            records=records,
            diagnosis=diagnosis,
            past=past,
            past_results=past_results,
            tallies=tallies,
        )
        store.close()
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        read_records(records_file)
        reads.append(time.perf_counter() - started)
    assert view is not None
    return statistics.median(times), statistics.median(reads), view


def main() -> int:
    """Runs (a) and (b); exit 1 when a goal is missed."""
    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
        base = Path(folder)
        url = sqlite_url(base / "history.db")
        seconds = ingest(url)
        plain = floor(base / "floor.db")
        ratio = seconds / plain
        print(
            f"(a) ingest {RUNS:,} runs x {TESTS} tests into SQLite: {seconds:.1f} s (goal <= "
            f"{GOAL_INGEST_S:g} s); plain sqlite3 executemany {plain:.1f} s; ratio {ratio:.2f} "
            f"(goal <= {GOAL_RATIO:g})"
        )
        spent, read, view = query(url, base)
        print(
            f"(b) one report's history queries and analysis over {view.runs} runs: {spent:.3f} s "
            f"(goal <= {GOAL_QUERY_S:g} s); reading its own {TESTS} records {read:.3f} s, "
            f"ratio {spent / read:.1f}"
        )
    ok = seconds <= GOAL_INGEST_S and ratio <= GOAL_RATIO and spent <= GOAL_QUERY_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
