"""A baseline beside the candidate (``start --baseline``): the revision before, on URLs of its
own over the same PostgreSQL and Redis; shared faults hit both, a revision's own the candidate
only unless written ``NAME@baseline``; without ``baseline`` nothing more starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reference_platform import StackError, parse_faults, revisions, stack
from tests.integration.conftest import StartStack
from tests.integration.helpers import log_entries, login
from tests.integration.test_stack import cli

pytestmark = pytest.mark.integration


def _create_thread(urls: dict[str, str], title: str = "a thread") -> httpx.Response:
    """POST /api/threads on a revision's backend, as alice signed in at its auth."""
    headers = {"authorization": f"Bearer {login(urls['auth'])}"}
    return httpx.post(f"{urls['backend']}/api/threads", json={"title": title}, headers=headers)


def _revision(state_dir: Path, service: str, revision: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (state_dir / "revisions" / service / f"{revision}.json").read_text()
    )
    return doc


def _image(state_dir: Path, service: str, revision: str) -> str:
    return str(_revision(state_dir, service, revision)["containers"][0]["image"])


def _baseline(state: stack.State) -> stack.Baseline:
    assert state.baseline is not None
    return state.baseline


def test_both_revisions_answer_on_their_own_urls_over_the_same_data(
    start_stack: StartStack, tmp_path: Path
) -> None:
    """The baseline and the candidate each answer as their own revision on their own URLs; a
    thread created on the candidate is read on the baseline; stack.json, the revision and
    service documents and the shared service log name both, the baseline the revision
    before the candidate, serving the traffic."""
    state = start_stack(state_dir=tmp_path, baseline=True)
    baseline = _baseline(state)
    assert set(baseline.urls) == set(state.urls)
    assert not set(baseline.urls.values()) & set(state.urls.values())
    for service in stack.SERVICES:
        for urls, names in ((state.urls, state.revisions), (baseline.urls, baseline.revisions)):
            health = httpx.get(f"{urls[service]}/health")
            assert health.status_code == 200
            assert health.headers["x-revision"] == names[service]

    created = _create_thread(state.urls, "seen from both")
    assert created.status_code == 201
    thread_id = created.json()["id"]
    headers = {"authorization": f"Bearer {login(baseline.urls['auth'])}"}
    read = httpx.get(f"{baseline.urls['backend']}/api/threads/{thread_id}", headers=headers)
    assert read.status_code == 200
    assert read.json()["title"] == "seen from both"

    assert stack.read_state(tmp_path) == state
    assert {p.name for p in state.processes} == {
        "redis",
        "postgres",
        "auth",
        "backend",
        "auth@baseline",
        "backend@baseline",
    }
    for service in stack.SERVICES:
        old, new = baseline.revisions[service], state.revisions[service]
        assert revisions.short_name(old).split("-")[1] == f"{int(new.split('-')[1]) - 1:05d}"
        assert _image(tmp_path, service, old) == _image(tmp_path, service, new)
        assert (
            _revision(tmp_path, service, old)["createTime"]
            < (_revision(tmp_path, service, new)["createTime"])
        )
        doc = json.loads((tmp_path / "services" / f"{service}.json").read_text())
        assert doc["uri"] == baseline.urls[service]
        assert doc["latestCreatedRevision"].endswith(f"/{new}")
        assert [
            (t["revision"], t["percent"], t["tag"], t["uri"]) for t in doc["trafficStatuses"]
        ] == [
            (new, 0, "candidate", state.urls[service]),
            (old, 100, "baseline", baseline.urls[service]),
        ]
    versions = {e["serviceContext"]["version"] for e in log_entries(state, "backend")}
    assert {state.revisions["backend"], baseline.revisions["backend"]} <= versions
    assert baseline.logs["backend"] == state.logs["backend"]


def test_handler_error_breaks_only_the_candidate(start_stack: StartStack, tmp_path: Path) -> None:
    """A revision's own defect is in the candidate only: its POST /api/threads is 500 and its
    image carries the defect; the baseline creates the thread, its image is the code alone."""
    state = start_stack("handler_error", state_dir=tmp_path, baseline=True)
    baseline = _baseline(state)
    assert _create_thread(state.urls).status_code == 500
    assert _create_thread(baseline.urls).status_code == 201
    assert (state.faults, baseline.faults) == (["handler_error"], [])
    assert _image(tmp_path, "backend", state.revisions["backend"]).endswith(
        revisions.image_digest("backend", ("handler_error",))
    )
    assert _image(tmp_path, "backend", baseline.revisions["backend"]).endswith(
        revisions.image_digest("backend")
    )


def test_handler_error_at_baseline_breaks_both(start_stack: StartStack, tmp_path: Path) -> None:
    """``handler_error@baseline`` is a defect the baseline already shipped: both revisions
    answer 500 and both images carry it."""
    state = start_stack("handler_error@baseline", state_dir=tmp_path, baseline=True)
    baseline = _baseline(state)
    assert _create_thread(state.urls).status_code == 500
    assert _create_thread(baseline.urls).status_code == 500
    assert (state.faults, baseline.faults) == (["handler_error@baseline"], ["handler_error"])
    defective = revisions.image_digest("backend", ("handler_error",))
    for names in (state.revisions, baseline.revisions):
        assert _image(tmp_path, "backend", names["backend"]).endswith(defective)


def test_redis_down_breaks_both(start_stack: StartStack) -> None:
    """Redis is a dependency both revisions share: each one's ready endpoint is 503 naming
    it, and each one's thread creation fails."""
    state = start_stack("redis_down", baseline=True)
    baseline = _baseline(state)
    assert baseline.faults == ["redis_down"]
    for urls in (state.urls, baseline.urls):
        ready = httpx.get(f"{urls['backend']}/health/ready")
        assert ready.status_code == 503
        assert ready.json()["dependencies"]["redis"]["status"] == "down"
        assert _create_thread(urls).status_code == 503


def test_without_baseline_nothing_new_starts(start_stack: StartStack, tmp_path: Path) -> None:
    """A start without ``baseline`` runs the same four processes as before, one revision a
    service, and stack.json has no baseline; a fault scoped to a baseline that is not
    started is refused before anything starts."""
    with pytest.raises(StackError, match=r"^fault handler_error@baseline breaks the baseline"):
        start_stack("handler_error@baseline", state_dir=tmp_path)
    assert not (tmp_path / stack.STATE_FILE).exists()

    state = start_stack(state_dir=tmp_path)
    assert [p.name for p in state.processes] == ["redis", "auth", "backend", "postgres"]
    assert state.baseline is None
    assert "baseline" not in json.loads((tmp_path / stack.STATE_FILE).read_text())
    for service in stack.SERVICES:
        assert len(list((tmp_path / "revisions" / service).glob("*.json"))) == 1
        doc = json.loads((tmp_path / "services" / f"{service}.json").read_text())
        assert doc["uri"] == state.urls[service]
        assert [t["percent"] for t in doc["trafficStatuses"]] == [100]


def test_faults_are_scoped_to_the_baseline_as_on_cloud_run() -> None:
    """Shared faults stay on the baseline, a revision's own only when written @baseline; a
    shared fault or an unknown scope after @ is refused naming what to write."""
    shared = ["redis_down", "db_slow=10", "agent_hang", "subagent_error=triage", "ws_drop=0.5"]
    own = ["missing_secret", "missing_module", "contract_change", "subagent_wrong=data@baseline"]
    faults = parse_faults([*shared, *own])
    assert faults.for_baseline().names() == [*shared, "subagent_wrong=data"]
    assert parse_faults(faults.names()) == faults
    assert faults.in_image("backend") == ("subagent_wrong=data", "contract_change")
    with pytest.raises(StackError, match=r"both revisions share, .*: write --fault redis_down$"):
        parse_faults(["redis_down@baseline"])
    with pytest.raises(StackError, match=r"unknown scope 'candidate'"):
        parse_faults(["handler_error@candidate"])


def test_cli_starts_the_baseline_on_request_and_refuses_a_scope_without_it(
    tmp_path: Path,
) -> None:
    """``start --baseline`` prints the baseline's URLs and revisions and status lists its
    processes; ``--fault NAME@baseline`` without ``--baseline`` is bad input: exit 2, one
    line, nothing started."""
    refused = cli(tmp_path, "start", "--fault", "handler_error@baseline")
    assert (refused.returncode, refused.stderr.count("\n")) == (2, 1)
    assert "add --baseline" in refused.stderr
    assert not (tmp_path / stack.STATE_FILE).exists()
    try:
        started = cli(tmp_path, "start", "--baseline", "--fault", "handler_error@baseline")
        assert started.returncode == 0, started.stderr
        state = stack.read_state(tmp_path)
        assert state is not None
        baseline = _baseline(state)
        assert "baseline  (faults: handler_error)" in started.stdout
        for text in [*baseline.urls.values(), *baseline.revisions.values()]:
            assert text in started.stdout
        status = cli(tmp_path, "status")
        assert status.returncode == 0
        assert "backend@baseline running" in status.stdout
        assert baseline.urls["backend"] in status.stdout
    finally:
        stack.stop(tmp_path)
