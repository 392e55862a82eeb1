"""The candidate and the baseline with the real google-cloud-run client, against a local
server speaking the Cloud Run Admin API v2: a deploy without traffic under a tag leaves the
revision that served before it taking the traffic."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ci_tools.context.stage import gather_context, summary
from ci_tools.experiment import Reruns
from ci_tools.rundir import write
from tests.fakes.gcp import FakeGcp, cloud_config, serve
from tests.integration.test_context_cloud import PROJECT, REGION, entry, failed, revision, ts

SERVICE_URL = "https://netra-backend-abc-uc.a.run.app"
PARENT = f"projects/{PROJECT}/locations/{REGION}/services/netra-backend"


def tag_url(tag: str) -> str:
    """The URL Cloud Run gives a tag of the service."""
    return f"https://{tag}---netra-backend-abc-uc.a.run.app"


def seed(fake: FakeGcp, traffic: list[dict[str, Any]]) -> None:
    """Backend revisions 00041 (an hour old), 00042 (a day's deploy) and 00043 (the candidate,
    deployed 4 min before the failures, ready), with this traffic."""
    env: list[dict[str, Any]] = [{"name": "LOG_LEVEL", "value": "INFO"}]
    fake.add_service(
        PROJECT,
        REGION,
        {
            "name": "netra-backend",
            "uri": SERVICE_URL,
            "latestReadyRevision": f"{PARENT}/revisions/backend-00043-new",
            "latestCreatedRevision": f"{PARENT}/revisions/backend-00043-new",
            "trafficStatuses": traffic,
            "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
            "updateTime": ts(-240),
        },
        [
            revision("backend-00041-old", -7200, env, "gcr.io/p/backend@sha256:aaa"),
            revision("backend-00042-mid", -3600, env, "gcr.io/p/backend@sha256:bbb"),
            revision("backend-00043-new", -240, env, "gcr.io/p/backend@sha256:ccc"),
        ],
    )


def status(name: str, percent: int = 0, tag: str = "") -> dict[str, Any]:
    """A traffic status as the API returns it (a tag with its URL)."""
    found: dict[str, Any] = {
        "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
        "revision": name,
        "percent": percent,
    }
    if tag:
        found.update(tag=tag, uri=tag_url(tag))
    return found


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    """An empty fake Cloud Run API; each test seeds its traffic."""
    with serve(FakeGcp()) as running:
        yield running


def backend(fake: FakeGcp, tmp_path: Path, urls: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The stage's backend service as context.json holds it, and its terminal summary."""
    config = cloud_config(
        fake.url, PROJECT, REGION, {"backend": "netra-backend"}, call_timeout_s=1.0
    )
    records = [failed("test_a", "a" * 32, 0)]
    context = gather_context(config, "cloud", records, None, environ={}, urls=urls)
    write.context(tmp_path, context)
    data: dict[str, Any] = json.loads((tmp_path / "context.json").read_text())
    service: dict[str, Any] = data["services"][0]
    service["summary"] = summary(context)
    return service


def test_a_tagged_deploy_without_traffic_has_the_serving_revision_as_baseline(
    fake: FakeGcp, tmp_path: Path
) -> None:
    """100% on 00042, 00043 under the tag candidate with none: the candidate is 00043 (its
    age and diff are its own, against the baseline), the baseline 00042 at the service's
    URL."""
    seed(fake, [status("backend-00042-mid", 100), status("backend-00043-new", 0, "candidate")])
    found = backend(fake, tmp_path)
    assert found["revision"]["name"] == "backend-00043-new"
    assert found["revision_age_s"] == 240
    assert found["baseline"]["name"] == "backend-00042-mid"
    assert found["baseline"]["image_digest"] == "sha256:bbb"
    assert (found["baseline_url"], found["baseline_percent"]) == (SERVICE_URL, 100)
    assert found["changes"]["previous"] == "backend-00042-mid"
    assert f"    baseline (serving 100%): backend-00042-mid at {SERVICE_URL}" in found["summary"]


def test_a_split_makes_the_larger_share_the_baseline(fake: FakeGcp, tmp_path: Path) -> None:
    """90% on 00041 (tagged stable), 10% on 00042, the candidate 00043 tagged: 00041 is the
    baseline, at its tag's URL (the service's reaches 00042 one time in ten)."""
    seed(
        fake,
        [
            status("backend-00041-old", 90, "stable"),
            status("backend-00042-mid", 10),
            status("backend-00043-new", 0, "candidate"),
        ],
    )
    found = backend(fake, tmp_path)
    assert found["revision"]["name"] == "backend-00043-new"
    assert found["baseline"]["name"] == "backend-00041-old"
    assert (found["baseline_url"], found["baseline_percent"]) == (tag_url("stable"), 90)


def test_a_candidate_serving_all_the_traffic_has_no_baseline(fake: FakeGcp, tmp_path: Path) -> None:
    """The candidate took 100% (deployed with traffic): no baseline, no URL."""
    seed(fake, [status("backend-00043-new", 100, "candidate")])
    found = backend(fake, tmp_path)
    assert found["revision"]["name"] == "backend-00043-new"
    assert (found["baseline"], found["baseline_url"], found["baseline_percent"]) == (None, "", 0)
    assert found["changes"]["previous"] == "backend-00042-mid"


def test_the_run_url_names_the_candidate_over_the_newest(fake: FakeGcp, tmp_path: Path) -> None:
    """A run against the service's URL tests the serving 00042, even though 00043 (never
    promoted) is newer: no baseline then; against 00043's tag URL, 00042 is the baseline."""
    seed(fake, [status("backend-00042-mid", 100), status("backend-00043-new", 0, "candidate")])
    on_service = backend(fake, tmp_path, {"backend": SERVICE_URL, "auth": "https://a"})
    assert on_service["revision"]["name"] == "backend-00042-mid"
    assert on_service["baseline"] is None
    on_tag = backend(fake, tmp_path, {"backend": tag_url("candidate") + "/api"})
    assert on_tag["revision"]["name"] == "backend-00043-new"
    assert on_tag["baseline"]["name"] == "backend-00042-mid"


def test_reruns_on_both_revisions_get_their_entries_from_one_query_by_trace(
    fake: FakeGcp, tmp_path: Path
) -> None:
    """The failure's re-runs on the baseline (00042) and the candidate (00043), a minute after
    it (past its window): one trace query per service brings each re-run its own entries,
    labelled with the revision that wrote them, and its Cloud Trace link; one failure."""
    seed(fake, [status("backend-00042-mid", 100), status("backend-00043-new", 0, "candidate")])
    base, again = "b" * 32, "c" * 32
    for trace, name, code in ((base, "backend-00042-mid", 201), (again, "backend-00043-new", 500)):
        line = entry(
            61,
            "ERROR" if code >= 500 else "INFO",
            f"POST /api/threads {code}",
            "netra-backend",
            trace,
        )
        line["resource"]["labels"]["revision_name"] = name
        fake.entries.append(line)
    config = cloud_config(
        fake.url, PROJECT, REGION, {"backend": "netra-backend"}, call_timeout_s=1.0
    )
    reruns = Reruns(
        baseline={"t::test_a": dataclasses.replace(failed("test_a", base, 60), outcome="passed")},
        again={"t::test_a": failed("test_a", again, 60)},
    )
    found = gather_context(
        config, "cloud", [failed("test_a", "a" * 32, 0)], None, {}, reruns=reruns
    )
    assert found.failures == 1
    assert [(t.arm, t.trace_ids) for t in found.tests] == [
        ("", ("a" * 32,)),
        ("baseline", (base,)),
        ("candidate", (again,)),
    ]
    _, on_baseline, on_candidate = found.tests
    assert [(e.revision, e.message) for e in on_baseline.entries] == [
        ("backend-00042-mid", "POST /api/threads 201")
    ]
    assert [(e.revision, e.message) for e in on_candidate.entries] == [
        ("backend-00043-new", "POST /api/threads 500")
    ]
    assert on_baseline.trace_urls == (
        f"https://console.cloud.google.com/traces/list?tid={base}&project={PROJECT}",
    )
    traced = [f for f in fake.filters if "traces/" in f]
    assert len(traced) == 1
    assert all(f"traces/{t}" in traced[0] for t in ("a" * 32, base, again))
