"""The main job's test part: wall time, its ratio to the critical path, and time to a verdict
under redis_down.

(a) All five phases against the healthy platform: wall time (goal <= 120 s on 2 cores) and its
    ratio to the critical path, the sum over phases of (pytest start-up + the longest test),
    which is what the run would take with unlimited workers (goal <= 1.3).
(b) Under redis_down: wall time from launching the run to its verdict (goal <= 20 s).
Each run uses its own platform on free ports and its own results directory.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ci_tools.config import load
from ci_tools.phases import read_gate
from ci_tools.records import read_records, records_path

ROOT = Path(__file__).resolve().parent.parent
GOAL_WALL_S, GOAL_RATIO, GOAL_VERDICT_S = 120.0, 1.3, 20.0


def _seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run(faults: list[str], run_id: str, reports: Path) -> tuple[float, int]:
    """Starts a platform with the faults, times `ci-tools run`, stops it; (seconds, exit)."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-stack-") as stack_dir:
        env = {**os.environ, "CI_TOOLS_STACK_DIR": stack_dir, "CI_TOOLS_RUN_ID": run_id}
        platform = [sys.executable, "-m", "reference_platform"]
        subprocess.run(
            [*platform, "start", *faults], env=env, check=True, cwd=ROOT, capture_output=True
        )
        try:
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "ci_tools.cli", "run"],
                env={**env, "PYTHONPATH": ""},
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = time.perf_counter() - started
        finally:
            subprocess.run([*platform, "stop"], env=env, check=True, cwd=ROOT, capture_output=True)
    print(
        result.stdout.strip().splitlines()[-5:]
        and "\n".join(line for line in result.stdout.splitlines() if line.startswith("phase "))
    )
    return elapsed, result.returncode


def critical_path(results_dir: Path, phases: list[int]) -> float:
    """Σ over phases of (start-up until the first test + the longest test)."""
    total = 0.0
    for number in phases:
        gate = read_gate(results_dir, number)
        records = read_records(records_path(results_dir, number)).records
        if gate is None or not records:
            continue
        startup = min(_seconds(r.start) for r in records) - _seconds(gate.started_at)
        total += startup + max(r.duration_s for r in records)
    return total


def main() -> int:
    """Runs (a) and (b); exit 1 when a goal is missed."""
    config = load(ROOT / "pyproject.toml")
    reports = ROOT / config.results_dir
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    wall, code = run([], f"bench-healthy-{stamp}", reports)
    path = critical_path(reports / f"bench-healthy-{stamp}", list(config.phases))
    print(
        f"(a) healthy, all phases: {wall:.1f} s (goal <= {GOAL_WALL_S:g} s, exit {code}); "
        f"critical path {path:.1f} s; ratio {wall / path:.2f} (goal <= {GOAL_RATIO})"
    )
    verdict, redis_code = run(["--fault", "redis_down"], f"bench-redis-down-{stamp}", reports)
    print(
        f"(b) redis_down, time to verdict: {verdict:.1f} s (goal <= {GOAL_VERDICT_S:g} s, "
        f"exit {redis_code})"
    )
    ok = (
        code == 0
        and wall <= GOAL_WALL_S
        and wall / path <= GOAL_RATIO
        and redis_code == 1
        and verdict <= GOAL_VERDICT_S
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
