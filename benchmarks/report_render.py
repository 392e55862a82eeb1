"""The report stage on a big run: 10,000 records with 2,000 distinct failures.

Prints the wall time of `write_report` (read, diagnose, render the worklog and the summary
ladder, verdict.json, junit.xml; goal <= 2 s), beside the time of only reading the records in
the same run, and the size of the step summary (goal <= 1 MiB).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, for tests.fakes
from ci_tools import config as cfg
from ci_tools.environment import HISTORY_URL, sqlite_url
from ci_tools.report import write_report
from ci_tools.report.markdown import SUMMARY_LIMIT, Meta, fit
from ci_tools.rules import forget_matches
from ci_tools.rundir import read
from tests.fakes.runs import synthetic_run

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 2.0
ROUNDS = 3


def main() -> int:
    """Times the stage ROUNDS times; exit 1 when a goal is missed."""
    config = cfg.load(ROOT / "pyproject.toml")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        results = Path(folder)
        synthetic_run(config, results)
        reads, renders = [], []
        for _ in range(ROUNDS):
            forget_matches()  # each round as a new report process: no rule match remembered
            started = time.perf_counter()
            run = read.load(config, results)
            reads.append(time.perf_counter() - started)
            started = time.perf_counter()
            store = {HISTORY_URL: sqlite_url(Path(folder) / "history.db")}  # not the checkout's
            report = write_report(config, results, "local", ROOT, environ=store)
            renders.append(time.perf_counter() - started)
        meta = Meta("local", results.name, "bench", str(report.worklog))
        summary, rung = fit(report.diagnosis, run.context, meta)
        full = report.worklog.stat().st_size
    reading, render = statistics.median(reads), statistics.median(renders)
    size = len(summary.encode())
    print(
        f"report of {len(run.records):,} records, {report.diagnosis.counts['failed']:,} "
        f"failures in {len(report.diagnosis.groups):,} groups: {render:.2f} s (goal <= "
        f"{GOAL_S:g} s); reading the records alone {reading:.2f} s, ratio {render / reading:.1f}"
    )
    print(
        f"step summary {size / 1024:.0f} KiB (goal <= {SUMMARY_LIMIT // 1024} KiB, ladder "
        f"rung {rung}); full worklog {full / 1024:.0f} KiB"
    )
    return 0 if render <= GOAL_S and size <= SUMMARY_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
