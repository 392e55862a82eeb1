"""The main job against what a user would run instead, side by side on one healthy platform.

The same 551 tests, the platform at its own pace, one platform for every command (started
once, its own folder and ports), each command's wall time and CPU seconds (its processes and
their children; the platform's printed apart):

- ``ci-tools run``: the five gated phases, in the steady state (a first run reported into a
  run store of the benchmark's own, then ROUNDS timed runs, the median printed);
- ``pytest tests/e2e -n 2 / 8 / 16``: pytest-xdist, no gates (-n 8 and 16: the median of
  ROUNDS runs, as every command below);
- ``pytest tests/e2e --concurrency 8``: one pytest process, its tests in forked workers (the
  plugin's), no gates: what the gated run costs beyond is the gates' price.

Every command goes without the plugins the gated run's phases go without
(``ci_tools.runner.command.WITHOUT_PLUGINS``): Hypothesis's plugin, installed here for this
project's own tests and absent from the main job's environment, imports all of Hypothesis at
each session's end, 0.7 CPU-s that only the ungated commands paid before.

Goals: the gated run's wall time <= 0.8x the best of pytest -n 2/8/16, and its CPU <= 1.2x
the one ungated ``--concurrency`` process's.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _figures import Figure, keep
from e2e_run import _children_cpu, _cpu_of

from ci_tools.environment import HISTORY_URL, sqlite_url
from ci_tools.runner.command import WITHOUT_PLUGINS
from reference_platform.stack import read_state

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3
GOAL_WALL, GOAL_CPU = 0.8, 1.2
# Every command goes without the plugins the gated run's phases go without (Hypothesis's
# alone costs 0.7 CPU-s a session in this project's test environment; the main job's has
# none): the same pytest, gated or not.
SUITE = ["tests/e2e", *WITHOUT_PLUGINS, "-q"]


def timed(
    command: list[str], env: dict[str, str], platform: list[int]
) -> tuple[float, float, float, int]:
    """(wall s, CPU s of the command's processes, CPU s of the platform, exit) of one run."""
    cpu, platform_cpu = _children_cpu(), _cpu_of(platform)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    return wall, _children_cpu() - cpu, _cpu_of(platform) - platform_cpu, done.returncode


def median(
    command: list[str], env: dict[str, str], platform: list[int], rounds: int
) -> tuple[float, float, float, int]:
    """``timed`` over ``rounds`` runs, as ``medians`` gives them."""
    return medians([timed(command, env, platform) for _ in range(rounds)])


def medians(runs: list[tuple[float, float, float, int]]) -> tuple[float, float, float, int]:
    """The median of each figure of ``runs`` (two runs of one command differ by a fifth on
    this machine), the worst exit."""
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        statistics.median(r[2] for r in runs),
        max(r[3] for r in runs),
    )


def main() -> int:
    """Runs every command against one platform; prints the table; exit 1 on a missed goal."""
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-versus-") as folder:
        env = {
            **os.environ,
            "CI_TOOLS_STACK_DIR": str(Path(folder) / "stack"),
            HISTORY_URL: sqlite_url(Path(folder) / "history.db"),
            "PYTHONPATH": "",
        }
        platform_cli = [python, "-m", "reference_platform"]
        subprocess.run([*platform_cli, "start"], env=env, cwd=ROOT, check=True, capture_output=True)
        try:
            state = read_state(Path(folder) / "stack")
            platform = [proc.pid for proc in state.processes] if state else []
            rows: list[tuple[str, float, float, float, int]] = []

            def ci_tools(run_id: str) -> tuple[float, float, float, int]:
                run_env = {**env, "CI_TOOLS_RUN_ID": run_id}
                command = [python, "-m", "ci_tools.cli", "run", "--run-dir", f"{folder}/{run_id}"]
                return timed(command, run_env, platform)

            ci_tools("warmup")
            subprocess.run(
                [python, "-m", "ci_tools.cli", "report", "--run-dir", f"{folder}/warmup"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                check=False,
            )
            runs = [ci_tools(f"timed{n}") for n in range(ROUNDS)]
            rows.append(("ci-tools run (5 gated phases)", *medians(runs)))
            for workers in (2, 8, 16):
                command = [python, "-m", "pytest", *SUITE, "-n", str(workers)]
                rounds = 1 if workers == 2 else ROUNDS  # -n 2 is never the best: half a minute
                rows.append((f"pytest -n {workers}", *median(command, env, platform, rounds)))
            command = [python, "-m", "pytest", *SUITE, "--concurrency", "8", "--capture=sys"]
            rows.append(
                (
                    "pytest --concurrency 8 (one process, no gates)",
                    *median(command, env, platform, ROUNDS),
                )
            )
        finally:
            subprocess.run(
                [*platform_cli, "stop"], env=env, cwd=ROOT, capture_output=True, check=False
            )
    print("| command | wall s | CPU s | platform CPU s | exit |")
    print("|---|---|---|---|---|")
    for name, wall, cpu, platform_cpu, code in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {platform_cpu:.1f} | {code} |")
    gated = rows[0]
    best = min(rows[1:4], key=lambda row: row[1])
    ungated = rows[4]
    wall_ratio, cpu_ratio = gated[1] / best[1], gated[2] / ungated[2]
    print(
        f"ci-tools run's wall time / the best pytest-xdist ({best[0]}): {wall_ratio:.2f} "
        f"(goal <= {GOAL_WALL:g}); its CPU / one ungated --concurrency process's: "
        f"{cpu_ratio:.2f} (goal <= {GOAL_CPU:g})"
    )
    keep(
        "versus_pytest",
        "python benchmarks/versus_pytest.py",
        [
            Figure(
                f"healthy run, the platform's pace: wall over the best of pytest -n 2/8/16 "
                f"({best[0]})",
                f"{wall_ratio:.2f} ({gated[1]:.1f} s / {best[1]:.1f} s)",
                f"<= {GOAL_WALL:g}",
                wall_ratio <= GOAL_WALL,
            ),
            Figure(
                "healthy run, the platform's pace: CPU over one ungated pytest --concurrency 8",
                f"{cpu_ratio:.2f} ({gated[2]:.1f} s / {ungated[2]:.1f} s)",
                f"<= {GOAL_CPU:g}",
                cpu_ratio <= GOAL_CPU,
            ),
        ],
    )
    ok = gated[4] == 0 and wall_ratio <= GOAL_WALL and cpu_ratio <= GOAL_CPU
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
