"""Cold start of the whole reference platform, and the ready endpoint's p95.

Prints: the wall time from nothing running to PostgreSQL, Redis, backend and auth all answering
(goal <= 10 s on a 2-core machine), for several starts; and the p95 latency of /health/ready
over 200 requests (goal <= 50 ms), beside /health's p95 on the same server in the same run, so
the ratio shows what the dependency checks cost whatever the machine's noise.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reference_platform import stack

STARTS = 3
REQUESTS = 200
START_GOAL_S = 10.0
READY_P95_GOAL_MS = 50.0


def p95(samples: list[float]) -> float:
    """The 95th percentile of the samples."""
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def timed_gets(client: httpx.Client, url: str, count: int) -> list[float]:
    """Milliseconds per GET, each checked to be 200."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.text}")
    return samples


def main() -> int:
    """Runs the benchmark; exit 1 when a goal is missed."""
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as folder:
        state_dir = Path(folder)
        start_times = []
        while True:
            started = time.perf_counter()
            state = stack.start(stack.Options(state_dir=state_dir))
            start_times.append(time.perf_counter() - started)
            if len(start_times) == STARTS:
                break
            stack.stop(state_dir)
        try:
            with httpx.Client(timeout=10) as client:
                timed_gets(client, f"{state.urls['backend']}/health/ready", 20)  # warm the pools
                ready = timed_gets(client, f"{state.urls['backend']}/health/ready", REQUESTS)
                health = timed_gets(client, f"{state.urls['backend']}/health", REQUESTS)
        finally:
            stack.stop(state_dir)
    worst = max(start_times)
    print(
        "stack cold start (s): "
        + ", ".join(f"{t:.2f}" for t in start_times)
        + f"; worst {worst:.2f} s (goal <= {START_GOAL_S:g} s)"
    )
    print(
        f"/health/ready p95 over {REQUESTS}: {p95(ready):.1f} ms "
        f"(goal <= {READY_P95_GOAL_MS:g} ms); /health p95 {p95(health):.1f} ms; "
        f"ratio ready/health {p95(ready) / p95(health):.2f}"
    )
    return 0 if worst <= START_GOAL_S and p95(ready) <= READY_P95_GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
