"""The context stage with the real google-cloud-run and google-cloud-logging clients, against
a local server speaking the Cloud Run Admin API v2 and Cloud Logging v2 REST APIs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_tools import config as cfg
from ci_tools import rundir
from ci_tools.context.stage import gather_context
from ci_tools.records import Failure, RecordWriter, TestRecord
from ci_tools.rundir import read, write
from tests.fakes.gcp import FakeGcp, cloud_config, serve
from tests.fakes.records import make_record

PROJECT, REGION = "proj", "us-central1"
T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
SECRET_VALUE = "sk-live-4f9c2d7e1a0b"  # seeded where an env value would be


def ts(seconds: float) -> str:
    """T0 plus some seconds, as the APIs write time."""
    return (T0 + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def revision(
    name: str,
    created_s: float,
    env: list[dict[str, Any]],
    image: str,
    ready: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A Revision resource as the API returns it."""
    return {
        "name": name,
        "createTime": ts(created_s),
        "service": "x",
        "containers": [{"image": image, "env": env}],
        "scaling": {"maxInstanceCount": 10},
        "timeout": "300s",
        "serviceAccount": "run@proj.iam.gserviceaccount.com",
        "vpcAccess": {
            "connector": "projects/proj/locations/r/connectors/c",
            "egress": "PRIVATE_RANGES_ONLY",
        },
        "conditions": [
            {
                "type": "Ready",
                "state": "CONDITION_SUCCEEDED" if ready else "CONDITION_FAILED",
                "reason": "" if ready else "ContainerMissing",
            }
        ],
        **extra,
    }


def service(name: str, ready: str, created: str) -> dict[str, Any]:
    """A Service resource whose traffic goes to the ready revision."""
    parent = f"projects/{PROJECT}/locations/{REGION}/services/{name}"
    return {
        "name": name,
        "latestReadyRevision": f"{parent}/revisions/{ready}",
        "latestCreatedRevision": f"{parent}/revisions/{created}",
        "trafficStatuses": [
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": ready, "percent": 100}
        ],
        "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
        "updateTime": ts(-240),
        "lastModifier": "deployer@proj.iam.gserviceaccount.com",
    }


def entry(
    seconds: float, severity: str, message: str, service_name: str, trace: str | None = None
) -> dict[str, Any]:
    """A LogEntry of a Cloud Run service."""
    data: dict[str, Any] = {
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": service_name, "project_id": PROJECT},
        },
        "timestamp": ts(seconds),
        "severity": severity,
        "jsonPayload": {"message": message},
    }
    if trace:
        data["trace"] = f"projects/{PROJECT}/traces/{trace}"
    return data


def seed(fake: FakeGcp) -> None:
    """Backend: 00042 serving (created 4 min before the failures, with REDIS_URL removed and
    an image change since 00041); auth: 00007 created but not ready, 00006 serving."""
    old_env: list[dict[str, Any]] = [
        {"name": "LOG_LEVEL", "value": "INFO"},
        {"name": "REDIS_URL", "value": SECRET_VALUE},
        {"name": "JWT_SECRET", "valueSource": {"secretKeyRef": {"secret": "jwt", "version": "3"}}},
    ]
    new_env: list[dict[str, Any]] = [
        {"name": "LOG_LEVEL", "value": "DEBUG"},
        {"name": "API_KEY", "value": SECRET_VALUE},
        {"name": "JWT_SECRET", "valueSource": {"secretKeyRef": {"secret": "jwt", "version": "4"}}},
    ]
    fake.add_service(
        PROJECT,
        REGION,
        service("netra-backend", "backend-00042-abc", "backend-00042-abc"),
        [
            revision("backend-00041-old", -3600, old_env, "gcr.io/p/backend@sha256:aaa"),
            revision("backend-00042-abc", -240, new_env, "gcr.io/p/backend@sha256:bbb"),
        ],
    )
    fake.add_service(
        PROJECT,
        REGION,
        service("netra-auth", "auth-00006-xyz", "auth-00007-new"),
        [
            revision("auth-00006-xyz", -7200, old_env, "gcr.io/p/auth:v6"),
            revision("auth-00007-new", -60, old_env, "gcr.io/p/auth:v7", ready=False),
        ],
    )
    fake.entries += [
        entry(
            1,
            "ERROR",
            "redis.exceptions.ConnectionError: Error 111 connecting to "
            "10.0.0.7:6379. Connection refused.",
            "netra-backend",
            "a" * 32,
        ),
        entry(2, "INFO", "POST /api/threads 503", "netra-backend", "a" * 32),
        entry(
            3,
            "ERROR",
            "redis.exceptions.ConnectionError: Error 111 connecting to "
            "10.0.0.8:6380. Connection refused.",
            "netra-backend",
            "b" * 32,
        ),
        entry(
            4,
            "ERROR",
            f"login failed password={SECRET_VALUE} token "
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "netra-backend",
        ),
        entry(5, "INFO", "GET /health 200", "netra-backend", "c" * 32),  # another test's trace
        entry(
            -600,
            "ERROR",
            "redis.exceptions.ConnectionError: old, outside the window",
            "netra-backend",
        ),
        entry(2, "ERROR", "token signing failed", "netra-auth", "a" * 32),
    ]


def project(fake_url: str, budget_s: float = 10.0) -> cfg.Config:
    """A config whose environment points both Google clients at the fake server."""
    return cloud_config(
        fake_url,
        PROJECT,
        REGION,
        {"backend": "netra-backend", "auth": "netra-auth"},
        budget_s=budget_s,
        call_timeout_s=1.0,
    )


def failed(name: str, trace: str, at_s: float) -> TestRecord:
    """A failed test's record with its trace id."""
    return make_record(
        name,
        file="tests/e2e/test_x.py",
        outcome="failed",
        duration_s=1.0,
        start=ts(at_s),
        end=ts(at_s + 1),
        trace_ids=(trace,),
        areas=("redis",),
        failure=Failure("ConnectionError", "refused"),
    )


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    """A seeded fake Google API server."""
    state = FakeGcp()
    seed(state)
    with serve(state) as running:
        yield running


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A run directory with two failed tests and one passed."""
    writer = RecordWriter(rundir.records(tmp_path, 1))
    writer.record(failed("test_a", "a" * 32, 0))
    writer.record(failed("test_b", "b" * 32, 2))
    writer.record(
        TestRecord(
            nodeid="tests/e2e/test_x.py::test_ok",
            file="tests/e2e/test_x.py",
            line=9,
            phase=1,
            outcome="passed",
            duration_s=0.1,
            start=ts(5),
            end=ts(5),
            trace_ids=("c" * 32,),
        )
    )
    writer.close()
    return tmp_path


def run_stage(config: cfg.Config, results: Path) -> None:
    """Runs the context stage as ``ci-tools context`` does: the run's records in, the
    context written to the run directory."""
    records = read.run_records(results, config.phases)
    write.context(results, gather_context(config, "cloud", records, None, environ={}))


def stage(fake: FakeGcp, results: Path, **kwargs: Any) -> dict[str, Any]:
    """Runs the stage and returns context.json as written."""
    run_stage(project(fake.url, **kwargs), results)
    data: dict[str, Any] = json.loads((results / "context.json").read_text())
    return data


def by_role(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services of a context, by role."""
    return {s["role"]: s for s in data["services"]}


def test_serving_revision_its_age_and_what_changed(fake: FakeGcp, results: Path) -> None:
    """The serving revision, its age at the first failure, and the diff from the previous."""
    backend = by_role(stage(fake, results))["backend"]
    assert backend["revision"]["name"] == "backend-00042-abc"
    assert backend["revision_age_s"] == 240
    assert backend["revision"]["image_digest"] == "sha256:bbb"
    assert backend["revision"]["vpc_access"]["egress"] == "PRIVATE_RANGES_ONLY"
    assert {e["name"]: e["kind"] for e in backend["revision"]["env"]} == {
        "LOG_LEVEL": "literal",
        "API_KEY": "literal",
        "JWT_SECRET": "secret",
    }
    assert backend["changes"] == {
        "previous": "backend-00041-old",
        "env_added": ["API_KEY"],
        "env_removed": ["REDIS_URL"],
        "env_kind_changed": [],
        "image_changed": True,
        "vpc_changed": False,
        "scaling_changed": False,
    }


def test_a_created_but_not_ready_revision_is_a_finding(fake: FakeGcp, results: Path) -> None:
    """auth-00007 was created but never became ready; traffic stays on auth-00006."""
    auth = by_role(stage(fake, results))["auth"]
    assert auth["service"]["latest_created_revision"] == "auth-00007-new"
    assert auth["service"]["latest_ready_revision"] == "auth-00006-xyz"
    assert auth["revision"]["name"] == "auth-00006-xyz"


def test_failed_tests_get_their_own_entries_by_trace_id(fake: FakeGcp, results: Path) -> None:
    """Each failed test's entries are those of its trace, across services; none of others."""
    tests = {t["nodeid"].rsplit("::", 1)[1]: t for t in stage(fake, results)["tests"]}
    assert set(tests) == {"test_a", "test_b"}
    a_lines = [(e["service"], e["severity"]) for e in tests["test_a"]["entries"]]
    assert sorted(a_lines) == [("auth", "ERROR"), ("backend", "ERROR"), ("backend", "INFO")]
    assert [e["message"] for e in tests["test_b"]["entries"]] == [
        "redis.exceptions.ConnectionError: Error 111 connecting to 10.0.0.8:6380. "
        "Connection refused."
    ]
    assert tests["test_a"]["trace_urls"] == [
        f"https://console.cloud.google.com/traces/list?tid={'a' * 32}&project={PROJECT}"
    ]


def test_errors_are_grouped_by_signature_in_the_window(fake: FakeGcp, results: Path) -> None:
    """Errors differing only in address and port are one signature with its count; entries
    outside the failure window are not counted."""
    signatures = by_role(stage(fake, results))["backend"]["signatures"]
    top = signatures[0]
    assert top["signature"] == (
        "redis.exceptions.ConnectionError: Error <n> connecting to <address>. Connection refused."
    )
    assert top["count"] == 2
    assert (top["first_seen"], top["last_seen"]) == (
        "2026-11-24T10:00:01.000Z",
        "2026-11-24T10:00:03.000Z",
    )
    assert top["logs_url"].startswith("https://console.cloud.google.com/logs/query;query=")
    assert sum(s["count"] for s in signatures) == 3  # the old error is outside the window


def test_reads_are_batched_and_time_bounded(fake: FakeGcp, results: Path) -> None:
    """Two Logging reads per service (traces, errors), each filter with a timestamp bound."""
    data = stage(fake, results)
    assert data["requests"] == {"run": 4, "logging": 4}
    assert all("timestamp>=" in f and "timestamp<=" in f for f in fake.filters)
    trace_filter = next(f for f in fake.filters if "netra-backend" in f and "trace=" in f)
    assert (
        f'"projects/{PROJECT}/traces/{"a" * 32}" OR "projects/{PROJECT}/traces/{"b" * 32}"'
        in trace_filter
    )


def test_entries_are_read_across_pages(fake: FakeGcp, results: Path) -> None:
    """More errors than a page holds are all read, one request per page."""
    fake.entries += [entry(2, "ERROR", f"worker {i} crashed", "netra-backend") for i in range(2500)]
    signatures = by_role(stage(fake, results))["backend"]["signatures"]
    assert signatures[0]["signature"] == "worker <n> crashed"
    assert signatures[0]["count"] == 2500
    assert fake.requests["logging"] == 2 + 2 + 2  # backend errors took three pages of 1000


def test_no_secret_reaches_context_json(fake: FakeGcp, results: Path) -> None:
    """Env values are never fetched into the output; secrets in messages are masked."""
    text = stage(fake, results) and (results / "context.json").read_text()
    assert SECRET_VALUE not in text
    assert "eyJhbGciOiJIUzI1NiJ9" not in text
    assert "password=[REDACTED]" in text


@pytest.mark.parametrize(
    ("api", "faults", "reason"),
    [
        ("run", [403], "permission denied (403)"),
        ("run", [404], "not found (404)"),
        ("run", [429], "rate limited (429) after 3 tries"),
        ("run", [503], "service unavailable (503) after 3 tries"),
        ("run", ["hang"], "no answer in time"),
        ("logging", [403], "permission denied (403)"),
        ("logging", [503], "service unavailable (503) after 3 tries"),
    ],
)
def test_api_faults_degrade_to_one_line_per_service(
    fake: FakeGcp,
    results: Path,
    api: str,
    faults: list[int | str],
    reason: str,
) -> None:
    """Each API failure gives "context unavailable: <reason>" (or "logs unavailable") per
    service, in one line, and the stage still writes context.json."""
    fake.faults[api] = faults
    fake.hang_s = 3.0
    services = by_role(stage(fake, results))
    for role in ("backend", "auth"):
        text = services[role]["unavailable"] if api == "run" else services[role]["logs_unavailable"]
        assert text is not None
        assert reason in text
        assert "\n" not in text


def test_a_transient_429_is_retried_and_then_succeeds(fake: FakeGcp, results: Path) -> None:
    """Two 429s then success: the data arrive, after retries with backoff."""
    fake.faults["logging"] = [429, 429, "ok"]
    backend = by_role(stage(fake, results))["backend"]
    assert backend["logs_unavailable"] is None
    assert backend["signatures"]


def test_a_closed_port_and_no_credentials_degrade(
    results: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Nothing listening, or no Application Default Credentials: context unavailable."""
    closed = stage_without_server(results, "http://127.0.0.1:9")
    assert "cannot connect" in by_role(closed)["backend"]["unavailable"]
    home = tmp_path_factory.mktemp("home")
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home))
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # never ask a metadata server
    no_creds = stage_without_server(results, "https://127.0.0.1:9")
    assert "no Google credentials" in by_role(no_creds)["backend"]["unavailable"]


def stage_without_server(results: Path, url: str) -> dict[str, Any]:
    """Runs the stage against an endpoint where no fake server runs."""
    run_stage(project(url), results)
    data: dict[str, Any] = json.loads((results / "context.json").read_text())
    return data


def test_the_stage_keeps_to_its_budget(fake: FakeGcp, results: Path) -> None:
    """A server that never answers cannot hold the stage past its budget (plus a margin)."""
    fake.faults["run"] = ["hang"]
    fake.hang_s = 20.0
    started = time.monotonic()
    data = stage(fake, results, budget_s=2.0)
    assert time.monotonic() - started < 4.0
    assert all(s["unavailable"] for s in data["services"])


def test_cli_degrades_without_a_traceback(results: Path) -> None:
    """`ci-tools context` against a closed port exits 0, says why per service, prints no
    traceback, and the run's records are untouched."""
    (results / "pyproject.toml").write_text(f"""
[tool.ci_tools.environments.cloud]
backend_url = "https://b"
websocket_url = "wss://b/ws"
auth_url = "https://a"
gcp = {{ project = "{PROJECT}", region = "{REGION}", services = {{ backend = "netra-backend" }} }}
[tool.ci_tools.context]
run_endpoint = "http://127.0.0.1:9"
logging_endpoint = "http://127.0.0.1:9"
""")
    before = rundir.records(results, 1).read_bytes()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ci_tools.cli",
            "--root",
            str(results),
            "context",
            "--env",
            "cloud",
            "--run-dir",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "backend: context unavailable: Cloud Run service netra-backend: cannot connect" in (
        result.stdout
    )
    assert rundir.records(results, 1).read_bytes() == before
