"""The main job's test part: wall time against its critical path, and time to a verdict.

(a) All five phases against the healthy platform, in the steady state: a first run (timed
    as (a0): an empty run store, the count of tests at once grown from the cores; goal <= 1.3
    times its own critical path) is reported into a run store of the benchmark's own, so the
    second, timed run seeds its workers from the durations it measured, as every main job
    after the first does. Printed: the wall time, and its ratio to the critical path as
    issue 10 defines it:
    the sum over phases of the longest test, plus the fixed start-up of one phase (phase 1's,
    in-process: launch to its first test). Goal <= 1.3. Also printed: the sum of every
    phase's start-up (launch to first test), which the runner takes off the path by starting
    each phase's process while the phase before runs. And the floor no schedule that keeps
    the rules can beat, with the wall time's ratio to it: the larger of the critical path
    plus what the serial tests add (they run with nothing beside them, after the phase's
    other tests) and the CPU bound (the CPU seconds of the run and the platform over the
    cores: on this machine the platform shares them).
    The peak memory (PSS) of the run's processes (ci-tools, pytest, its workers), sampled
    every 50 ms, is printed beside it (goal <= 1 GiB at the default pace).
(b) Under redis_down: wall time from launching the run to its verdict (goal <= 20 s).

``--agent-step-ms 500`` runs (a) with the agent at a staging-like pace (the platform's own is
20 ms a step), where tests wait and how many run at once decides the wall time. Memory is
the proportional set size (PSS: a page shared by n processes counts 1/n in each), since forked
workers share most of their phase's pages copy-on-write and a sum of RSS would count those
once per worker; the peak sum of RSS is printed beside it, as an upper bound. Each run uses
its own platform on free ports and its own results directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import Figure, keep

from ci_tools import rundir
from ci_tools.config import load
from ci_tools.environment import HISTORY_URL, sqlite_url
from ci_tools.records import read_records
from ci_tools.rundir import read
from reference_platform.stack import read_state

ROOT = Path(__file__).resolve().parent.parent
GOAL_WALL_S, GOAL_RATIO, GOAL_VERDICT_S = 120.0, 1.3, 20.0
GOAL_RSS = 1024**3
PEAK: dict[str, tuple[int, int]] = {}  # run id -> peak (PSS, RSS) of its process tree, bytes
CPU: dict[str, tuple[float, float]] = {}  # run id -> CPU seconds of (its processes, the platform)


def _sample_memory(process: psutil.Popen, run_id: str, done: threading.Event) -> None:
    """The largest total PSS (and RSS) of the process and its descendants until ``done``."""
    peak_pss = peak_rss = 0
    while not done.wait(0.05):
        pss = rss = 0
        try:
            for proc in [process, *process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    memory = proc.memory_full_info()
                    pss += memory.pss
                    rss += memory.rss
        except psutil.Error:
            continue
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
    PEAK[run_id] = (peak_pss, peak_rss)


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system, their ended children's included) the processes and their
    descendants have used so far."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system + times.children_user
                    total += times.children_system
    return total


def _children_cpu() -> float:
    """CPU seconds of this process's ended (waited-for) descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run(platform_args: list[str], run_id: str, store: str, *, report: bool) -> tuple[float, int]:
    """Starts a platform, times `ci-tools run` (then reports it into the store, untimed,
    when asked), stops the platform; (seconds, exit)."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-stack-") as stack_dir:
        env = {
            **os.environ,
            "CI_TOOLS_STACK_DIR": stack_dir,
            "CI_TOOLS_RUN_ID": run_id,
            HISTORY_URL: store,
            "PYTHONPATH": "",
        }
        platform = [sys.executable, "-m", "reference_platform"]
        subprocess.run(
            [*platform, "start", *platform_args], env=env, check=True, cwd=ROOT, capture_output=True
        )
        try:
            state = read_state(Path(stack_dir))
            platform_pids = [proc.pid for proc in state.processes] if state else []
            platform_cpu, run_cpu = _cpu_of(platform_pids), _children_cpu()
            started = time.perf_counter()
            process = psutil.Popen(
                [sys.executable, "-m", "ci_tools.cli", "run"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            done = threading.Event()
            sampler = threading.Thread(target=_sample_memory, args=(process, run_id, done))
            sampler.start()
            stdout, _ = process.communicate()
            elapsed = time.perf_counter() - started
            CPU[run_id] = (_children_cpu() - run_cpu, _cpu_of(platform_pids) - platform_cpu)
            done.set()
            sampler.join()
            if report:
                subprocess.run(
                    [sys.executable, "-m", "ci_tools.cli", "report"],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    check=False,
                )
        finally:
            subprocess.run([*platform, "stop"], env=env, check=True, cwd=ROOT, capture_output=True)
    for line in stdout.splitlines():
        if line.startswith(("phase ", "ci-tools: phase")):
            print(line)
    return elapsed, process.returncode


def paths(run_dir: Path, phases: list[int]) -> tuple[float, float, float, float]:
    """(Σ longest test, phase 1's fixed start-up, Σ over the other phases of go to first
    test: the start-up left on the path by starting each ahead, Σ over phases of what the
    serial tests add to the longest: they run with nothing beside them) of a run."""
    longest = startup_one = after_go = serial = 0.0
    for number in phases:
        gate = read.gate(run_dir, number)
        records = read_records(rundir.records(run_dir, number)).records
        if gate is None or not records:
            continue
        first = min(_seconds(r.start) for r in records)
        slowest = max(r.duration_s for r in records)
        alone = [r.duration_s for r in records if "serial" in r.markers]
        others = [r.duration_s for r in records if "serial" not in r.markers]
        longest += slowest
        serial += sum(alone) + max(others, default=0.0) - slowest
        if number == phases[0]:  # launched first thing: its start-up is all on the path
            startup_one = first - _seconds(gate.launched_at or gate.started_at)
        else:
            after_go += first - _seconds(gate.started_at)
    return longest, startup_one, after_go, serial


def main(argv: list[str]) -> int:
    """Runs (a) and (b); exit 1 when a goal is missed."""
    pace = argv[argv.index("--agent-step-ms") + 1] if "--agent-step-ms" in argv else None
    config = load(ROOT / "pyproject.toml")
    reports = ROOT / config.reports_dir
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    paced = ["--agent-step-ms", pace] if pace else []
    at = f" at {pace} ms an agent step" if pace else ""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-history-") as folder:
        store = sqlite_url(Path(folder) / "history.db")
        first, first_code = run(paced, f"bench-warmup-{stamp}", store, report=True)
        wall, code = run(paced, f"bench-healthy-{stamp}", store, report=False)
        verdict, redis_code = run(
            ["--fault", "redis_down"], f"bench-redis-{stamp}", store, report=False
        )
    longest, startup, after_go, serial = paths(
        reports / f"bench-healthy-{stamp}", list(config.phases)
    )
    critical = longest + startup
    first_longest, first_startup, _, _ = paths(
        reports / f"bench-warmup-{stamp}", list(config.phases)
    )
    first_critical = first_longest + first_startup
    print(
        f"(a0) first run, empty run store{at}: {first:.1f} s (exit {first_code}); its "
        f"critical path {first_critical:.1f} s; ratio {first / first_critical:.2f} "
        f"({f'goal <= {GOAL_RATIO}' if pace else 'no goal at this pace: CPU-bound'})"
    )
    run_cpu, platform_cpu = CPU.get(f"bench-healthy-{stamp}", (0.0, 0.0))
    cores = os.cpu_count() or 1
    busy = (run_cpu + platform_cpu) / cores  # no schedule on these cores ends sooner
    print(
        f"(a) healthy, all phases{at}: {wall:.1f} s (goal <= {GOAL_WALL_S:g} s, exit {code}); "
        f"critical path {critical:.1f} s (longest tests {longest:.1f} s + one phase's start-up "
        f"{startup:.1f} s); ratio {wall / critical:.2f} (goal <= {GOAL_RATIO}); "
        f"start-up left after the go of phases 2-5: {after_go:.2f} s in all"
    )
    floor = max(critical + serial, busy)  # no schedule that keeps the rules ends sooner
    print(
        f"    CPU: {run_cpu:.1f} s in the run's processes + {platform_cpu:.1f} s in the "
        f"platform's = {busy:.1f} s of {cores} cores' time ({busy / wall:.0%} of the wall "
        f"time busy); the serial tests, alone, add {serial:.1f} s to the longest tests; "
        f"ratio to max(critical path + serial tests, CPU bound) = {wall / floor:.2f}"
    )
    pss, rss = PEAK.get(f"bench-healthy-{stamp}", (0, 0))
    first_pss, _ = PEAK.get(f"bench-warmup-{stamp}", (0, 0))
    print(
        f"    peak memory of the run's processes: {pss / 1024**2:.0f} MiB PSS, the first run "
        f"{first_pss / 1024**2:.0f} MiB (goal <= 1 GiB, within [tool.ci_tools] memory_mb "
        f"{config.memory_mb} MiB); sum of RSS {rss / 1024**2:.0f} MiB (counts shared pages "
        "once per process)"
    )
    print(
        f"(b) redis_down, time to verdict: {verdict:.1f} s (goal <= {GOAL_VERDICT_S:g} s, "
        f"exit {redis_code})"
    )
    peak = max(pss, first_pss)
    first_ratio = first / first_critical
    figures = [
        Figure(
            f"first run, empty run store{at}: wall over its critical path",
            f"{first_ratio:.2f} ({first:.1f} s / {first_critical:.1f} s)",
            f"<= {GOAL_RATIO}" if pace else "",
            first_ratio <= GOAL_RATIO if pace else None,
        ),
        Figure(
            f"healthy run{at}: wall over its critical path",
            f"{wall / critical:.2f} ({wall:.1f} s / {critical:.1f} s)",
            f"<= {GOAL_RATIO}" if pace else "",
            wall / critical <= GOAL_RATIO if pace else None,
        ),
        Figure(
            f"healthy run{at}: wall over its floor (max of critical path + serial tests, CPU "
            "bound)",
            f"{wall / floor:.2f} (CPU {busy:.1f} s of {cores} cores' time)",
            "" if pace else f"<= {GOAL_RATIO}",
            None if pace else wall / floor <= GOAL_RATIO,
        ),
        Figure(
            f"peak memory (PSS) of the run's processes{at}, first and healthy run",
            f"{peak / 1024**2:,.0f} MiB",
            "<= 1 GiB",
            peak <= GOAL_RSS,
        ),
        Figure(
            "Redis down: time to verdict",
            f"{verdict:.1f} s",
            f"<= {GOAL_VERDICT_S:g} s",
            verdict <= GOAL_VERDICT_S,
        ),
    ]
    keep(
        "e2e_run-staging" if pace else "e2e_run",
        f"python benchmarks/e2e_run.py{f' --agent-step-ms {pace}' if pace else ''}",
        figures if pace else figures[1:],
    )
    ok = (
        code == 0
        and first_code == 0
        and (pace is None or first / first_critical <= GOAL_RATIO)
        and wall <= GOAL_WALL_S
        and wall / critical <= GOAL_RATIO
        and redis_code == 1
        and verdict <= GOAL_VERDICT_S
        and max(pss, first_pss) <= GOAL_RSS
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
