"""The report stage on a big run: 10,000 records with 2,000 distinct failures.

Prints the wall time of `write_report` (read, diagnose, render the worklog and the summary
ladder, verdict.json, junit.xml; goal <= 2 s), beside the time of only reading the records in
the same round (goal: the stage <= 5 times that), and the size of the step summary (goal <=
1 MiB).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, for tests.fakes
from _figures import Figure, keep

from ci_tools import config as cfg
from ci_tools.environment import HISTORY_URL, sqlite_url
from ci_tools.report import write_report
from ci_tools.report.markdown import SUMMARY_LIMIT, Meta, fit
from ci_tools.rundir import read
from tests.fakes.runs import synthetic_run

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 2.0
READ_RATIO_GOAL = 5.0  # the stage against reading its records alone
ROUNDS = 3


def main(argv: list[str]) -> int:
    """Times the stage ROUNDS times, each in a new process (nothing any earlier round read,
    matched or escaped is remembered, as in a report step); exit 1 when a goal is missed."""
    if argv[:1] == ["--round"]:
        return _round(Path(argv[1]))
    config = cfg.load(ROOT / "pyproject.toml")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        results = Path(folder) / "run"
        results.mkdir()
        synthetic_run(config, results)
        rounds = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--round", str(results)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.splitlines()[-1]
            )
            for _ in range(ROUNDS)
        ]
        run = read.load(config, results)
        report = write_report(config, results, "local", ROOT, environ=_store(results))
        meta = Meta("local", results.name, "bench", str(report.worklog))
        summary, rung = fit(report.diagnosis, run.context, meta)
        full = report.worklog.stat().st_size
    reading = statistics.median(r["read"] for r in rounds)
    render = statistics.median(r["report"] for r in rounds)
    size = len(summary.encode())
    print(
        f"report of {len(run.records):,} records, {report.diagnosis.counts['failed']:,} "
        f"failures in {len(report.diagnosis.groups):,} groups: {render:.2f} s (goal <= "
        f"{GOAL_S:g} s); reading the records alone {reading:.2f} s, ratio "
        f"{render / reading:.1f} (goal <= {READ_RATIO_GOAL:g}); median of {ROUNDS} rounds, "
        "each a new process"
    )
    print(
        f"step summary {size / 1024:.0f} KiB (goal <= {SUMMARY_LIMIT // 1024} KiB, ladder "
        f"rung {rung}); full worklog {full / 1024:.0f} KiB"
    )
    records = f"{len(run.records):,} records, {report.diagnosis.counts['failed']:,} failures"
    keep(
        "report_render",
        "python benchmarks/report_render.py",
        [
            Figure(f"report of {records}", f"{render:.2f} s", f"<= {GOAL_S:g} s", render <= GOAL_S),
            Figure(
                f"report of {records}: over reading its records alone",
                f"{render / reading:.1f} ({reading:.2f} s to read)",
                f"<= {READ_RATIO_GOAL:g}",
                render / reading <= READ_RATIO_GOAL,
            ),
        ],
    )
    met = render <= GOAL_S and render / reading <= READ_RATIO_GOAL
    return 0 if met and size <= SUMMARY_LIMIT else 1


def _store(results: Path) -> dict[str, str]:
    """The run store of the benchmark, beside its run (not the checkout's)."""
    return {HISTORY_URL: sqlite_url(results.parent / "history.db")}


def _round(results: Path) -> int:
    """One round: reading the records alone, then the whole stage; printed as JSON."""
    config = cfg.load(ROOT / "pyproject.toml")
    started = time.perf_counter()
    read.load(config, results)
    reading = time.perf_counter() - started
    started = time.perf_counter()
    write_report(config, results, "local", ROOT, environ=_store(results))
    print(json.dumps({"read": reading, "report": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
