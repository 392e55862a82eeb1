"""The context stage's cost: Logging requests for 100 failures over 3 services, and wall time.

The real google-cloud-run and google-cloud-logging clients run against the local fake of the
Cloud Run Admin API v2 and Cloud Logging v2 (tests/fakes/gcp.py), seeded with 3 services,
100 failed tests (one trace each) and 3,000 log entries. Prints the number of Logging requests
(goal <= 6; one request per failure would be 300) and the stage's wall time (goal <= 2 s),
beside the time of one bare Cloud Run GET in the same run.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
import tempfile
import time
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from ci_tools import rundir
from ci_tools.context.stage import gather_context
from ci_tools.records import Failure, RecordWriter, TestRecord
from ci_tools.rundir import read, write

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, for tests.fakes
from tests.fakes.gcp import FakeGcp, cloud_config, serve

PROJECT, REGION = "bench", "us-central1"
SERVICES = {"backend": "svc-backend", "auth": "svc-auth", "frontend": "svc-frontend"}
FAILURES = 100
T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
GOAL_REQUESTS, GOAL_WALL_S = 6, 2.0


def ts(seconds: float) -> str:
    """T0 plus seconds, RFC 3339."""
    return (T0 + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def seed(fake: FakeGcp, traces: list[str]) -> None:
    """Three services with two revisions each, and errors and request logs per trace."""
    for name in SERVICES.values():
        parent = f"projects/{PROJECT}/locations/{REGION}/services/{name}"
        fake.add_service(
            PROJECT,
            REGION,
            {
                "name": name,
                "latestReadyRevision": f"{parent}/revisions/{name}-00002-b",
                "latestCreatedRevision": f"{parent}/revisions/{name}-00002-b",
                "trafficStatuses": [{"revision": f"{name}-00002-b", "percent": 100}],
            },
            [
                {
                    "name": f"{name}-0000{n}-{c}",
                    "createTime": ts(-600 * (3 - n)),
                    "containers": [
                        {"image": f"img@sha256:{n}", "env": [{"name": "A", "value": "1"}]}
                    ],
                }
                for n, c in ((1, "a"), (2, "b"))
            ],
        )
        for index, trace in enumerate(traces):
            for severity in (
                "INFO",
                "ERROR",
                "ERROR",
                "INFO",
                "ERROR",
                "INFO",
                "INFO",
                "ERROR",
                "INFO",
                "INFO",
            ):
                fake.entries.append(
                    {
                        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
                        "timestamp": ts(index),
                        "severity": severity,
                        "trace": f"projects/{PROJECT}/traces/{trace}",
                        "resource": {
                            "type": "cloud_run_revision",
                            "labels": {"service_name": name},
                        },
                        "jsonPayload": {
                            "message": f"ConnectionError connecting to 10.0.0.{index % 9}"
                            f":6379 (request {index})"
                        },
                    }
                )


def main() -> int:
    """Runs the stage once; exit 1 when a goal is missed."""
    traces = [secrets.token_hex(16) for _ in range(FAILURES)]
    fake = FakeGcp()
    seed(fake, traces)
    with serve(fake) as running, tempfile.TemporaryDirectory() as folder:
        results = Path(folder)
        writer = RecordWriter(rundir.records(results, 2))
        for index, trace in enumerate(traces):
            writer.record(
                TestRecord(
                    nodeid=f"tests/e2e/test_b.py::test_{index}",
                    file="tests/e2e/test_b.py",
                    line=1,
                    phase=2,
                    outcome="failed",
                    duration_s=0.5,
                    start=ts(index),
                    end=ts(index + 0.5),
                    trace_ids=(trace,),
                    failure=Failure("ConnectionError", "refused"),
                )
            )
        writer.close()
        config = cloud_config(running.url, PROJECT, REGION, SERVICES)
        client = run_v2.ServicesClient(
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            transport="rest",
            client_options={"api_endpoint": running.url},
        )
        name = f"projects/{PROJECT}/locations/{REGION}/services/svc-backend"
        client.get_service(name=name, timeout=5)  # warm up the connection pool once
        started = time.perf_counter()
        client.get_service(name=name, timeout=5)
        one_get = time.perf_counter() - started
        running.requests.clear()
        started = time.perf_counter()
        records = read.run_records(results, config.phases)
        context = gather_context(config, "cloud", records, None, environ={})
        write.context(results, context)
        wall = time.perf_counter() - started
    logging_requests = context.requests.get("logging", 0)
    attached = sum(1 for test in context.tests if test.entries)
    print(
        f"context stage, {FAILURES} failures over {len(SERVICES)} services: "
        f"{logging_requests} Logging requests (goal <= {GOAL_REQUESTS}; one per failure "
        f"would be {FAILURES * len(SERVICES)}), {context.requests.get('run', 0)} Cloud Run "
        f"requests; {attached}/{FAILURES} failures got their entries"
    )
    print(
        f"context stage wall time: {wall:.2f} s (goal <= {GOAL_WALL_S:g} s); one bare Cloud "
        f"Run GET {one_get * 1000:.1f} ms; ratio {wall / one_get:.0f}x"
    )
    ok = logging_requests <= GOAL_REQUESTS and wall <= GOAL_WALL_S and attached == FAILURES
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
