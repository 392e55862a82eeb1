"""Where the baseline is: the revision serving traffic beside the candidate under test, its
URL (from the service's traffic, or named in config), context.json and the worklog's row.
Built in memory, or from documents the reference platform writes in a temporary folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from ci_tools import config as cfg
from ci_tools._exceptions import ConfigError
from ci_tools.context import BaselineUrls, ContextRequest, analysis, baseline_urls, gather
from ci_tools.context.local import LocalSource
from ci_tools.context.model import Context, ServiceContext, ServiceInfo
from ci_tools.report.markdown import baseline_cell, render
from reference_platform import revisions
from tests.unit.test_worklog_consistency import (
    META,
    REDIS,
    rec,
    redis_context,
    redis_down_run,
    revision,
)

SERVICE_URL = "https://netra-backend-abc-uc.a.run.app"
TAG_URL = "https://candidate---netra-backend-abc-uc.a.run.app"
RUN_URLS = {
    "backend": TAG_URL,
    "websocket": "wss://candidate---netra-backend-abc-uc.a.run.app/ws",
    "auth": "https://auth.example.com",
}


def service(traffic: list[dict[str, Any]], ready: str = "b-3", **extra: Any) -> ServiceInfo:
    """A Service resource of revisions b-1 (oldest) to b-3 with this traffic, parsed."""
    return analysis.parse_service(
        {
            "name": "projects/p/locations/r/services/b",
            "uri": SERVICE_URL,
            "latestReadyRevision": f"projects/p/locations/r/services/b/revisions/{ready}",
            "latestCreatedRevision": "projects/p/locations/r/services/b/revisions/b-3",
            "trafficStatuses": traffic,
            **extra,
        }
    )


def target(revision_name: str, percent: int = 0, tag: str = "") -> dict[str, Any]:
    """A traffic status; a tag gets its URL."""
    status: dict[str, Any] = {
        "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
        "revision": revision_name,
    }
    if percent:
        status["percent"] = percent
    if tag:
        status.update(tag=tag, uri=f"https://{tag}---netra-backend-abc-uc.a.run.app")
    return status


def test_a_tagged_candidate_without_traffic_has_the_old_revision_as_baseline() -> None:
    """100% on b-2, b-3 deployed under the tag candidate: b-3 is the candidate, b-2 the
    baseline reached at the service's URL."""
    found = service([target("b-2", 100), target("b-3", tag="candidate")])
    assert analysis.candidate_revision(found) == "b-3"
    assert analysis.baseline_revision(found, "b-3") == ("b-2", SERVICE_URL, 100)


def test_a_split_takes_the_larger_share_at_its_tag_url() -> None:
    """90/10 between b-1 (tagged stable) and b-2: b-1 is the baseline, at its tag's URL,
    since the service's URL reaches b-2 one time in ten."""
    found = service(
        [target("b-1", 90, "stable"), target("b-2", 10), target("b-3", tag="candidate")]
    )
    assert analysis.baseline_revision(found, "b-3") == (
        "b-1",
        "https://stable---netra-backend-abc-uc.a.run.app",
        90,
    )
    untagged = service([target("b-1", 90), target("b-2", 10)])
    assert analysis.baseline_revision(untagged, "b-3") == ("b-1", SERVICE_URL, 90)


def test_a_candidate_serving_all_the_traffic_has_no_baseline() -> None:
    """The candidate already takes 100% (a LATEST target naming no revision is the latest
    ready one): nothing else serves."""
    latest = service([{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}])
    assert latest.traffic[0]["revision"] == "b-3"
    assert analysis.baseline_revision(latest, analysis.candidate_revision(latest)) is None
    named = service([target("b-3", 100, "candidate")])
    assert analysis.baseline_revision(named, "b-3") is None


def test_the_run_url_names_the_candidate() -> None:
    """A run against a tag's URL tests that tag's revision; against the service's URL, the
    serving one, even when a newer ready revision was never promoted."""
    found = service([target("b-1", 100), target("b-2", tag="older"), target("b-3", tag="next")])
    older = "https://older---netra-backend-abc-uc.a.run.app/api"
    assert analysis.candidate_revision(found, [older]) == "b-2"
    assert analysis.candidate_revision(found, [SERVICE_URL + "/health"]) == "b-1"
    assert analysis.candidate_revision(found, ["https://elsewhere.example.com"]) == "b-3"


def test_revisions_on_one_host_are_told_apart_by_their_port() -> None:
    """The reference platform serves both revisions on 127.0.0.1: the run's port, not its
    host, names the revision it tested (the scheme's default port when none is written)."""
    found = analysis.parse_service(
        {
            "name": "projects/p/locations/r/services/b",
            "uri": "http://127.0.0.1:4001",
            "latestReadyRevision": "projects/p/locations/r/services/b/revisions/b-2",
            "trafficStatuses": [
                {"revision": "b-2", "tag": "candidate", "uri": "http://127.0.0.1:4002"},
                {
                    "revision": "b-1",
                    "percent": 100,
                    "tag": "baseline",
                    "uri": "http://127.0.0.1:4001",
                },
            ],
        }
    )
    assert analysis.candidate_revision(found, ["http://127.0.0.1:4002/api"]) == "b-2"
    assert analysis.candidate_revision(found, ["ws://127.0.0.1:4001/ws"]) == "b-1"
    assert analysis.candidate_revision(found, ["https://127.0.0.1/x"]) == "b-2"


def with_baseline(url: str = SERVICE_URL, percent: int = 100) -> Context:
    """The Redis-down context with backend's candidate b-3 beside a serving baseline b-2."""
    context = redis_context()
    backend, auth = context.services
    backend = dataclasses.replace(
        backend, baseline=revision("backend-00001"), baseline_url=url, baseline_percent=percent
    )
    return dataclasses.replace(context, services=(backend, auth))


def test_the_context_gives_the_baseline_urls_role_by_role() -> None:
    """The backend's baseline URL replaces the run's, the WebSocket moves with it (served by
    the backend's host), auth has no baseline and stays where the run reached it."""
    env = cfg.EnvironmentConfig()
    found = baseline_urls(env, with_baseline(), RUN_URLS)
    assert found == BaselineUrls(
        {
            "backend": SERVICE_URL,
            "websocket": "wss://netra-backend-abc-uc.a.run.app/ws",
            "auth": "https://auth.example.com",
        },
        "context",
        {"backend": "backend-00001"},
    )
    assert baseline_urls(env, redis_context(), RUN_URLS) is None
    assert baseline_urls(env, None, RUN_URLS) is None


def test_the_config_baseline_urls_win() -> None:
    """``[tool.ci_tools.environments.<env>.baseline]`` is used over what the context found."""
    config = cfg.parse(
        {
            "environments": {
                "staging": {
                    **{f"{name}_url": url for name, url in RUN_URLS.items()},
                    "baseline": {
                        "backend_url": "https://stable.example.com",
                        "websocket_url": "wss://stable.example.com/socket",
                    },
                }
            }
        }
    )
    found = baseline_urls(config.environment("staging"), with_baseline(), RUN_URLS)
    assert found == BaselineUrls(
        {
            "backend": "https://stable.example.com",
            "websocket": "wss://stable.example.com/socket",
            "auth": "https://auth.example.com",
        },
        "config",
    )


@pytest.mark.parametrize(
    ("baseline", "expected"),
    [
        (
            {"backend_url": "localhost:8080"},
            "environments.staging.baseline.backend_url: 'localhost:8080' is not an http(s) URL "
            "with a host; write e.g. https://api.example.com",
        ),
        (
            {"websocket_url": "https://api.example.com/ws"},
            "environments.staging.baseline.websocket_url: 'https://api.example.com/ws' is not a "
            "ws(s) URL with a host",
        ),
        ({"backend": "https://x"}, "environments.staging.baseline.backend: Extra inputs"),
        ({}, "environments.staging.baseline: is empty; give the serving revision's URLs"),
    ],
)
def test_bad_baseline_urls_are_refused_in_one_line(baseline: dict[str, str], expected: str) -> None:
    """A baseline URL without a scheme or host, of the wrong scheme, a key of another name
    or an empty table: one line naming the key."""
    with pytest.raises(ConfigError) as caught:
        cfg.parse({"environments": {"staging": {"baseline": baseline}}})
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_context_json_round_trips_the_baseline_and_old_files_still_load() -> None:
    """The baseline is written and read back; a context.json written before it existed
    (no baseline keys, no service uri) loads with none."""
    context = with_baseline(percent=90)
    written = json.loads(json.dumps(context.as_json()))
    assert Context.from_json(written) == context
    for service_data in written["services"]:
        for key in ("baseline", "baseline_url", "baseline_percent"):
            del service_data[key]
    old = Context.from_json(written)
    assert [(s.baseline, s.baseline_url, s.baseline_percent) for s in old.services] == [
        (None, "", 0),
        (None, "", 0),
    ]
    parsed = service([target("b-2", 100)])
    legacy = {k: v for k, v in dataclasses.asdict(parsed).items() if k != "uri"}
    with_service = {**written, "services": [{**written["services"][0], "service": legacy}]}
    assert Context.from_json(with_service).services[0].service.uri == ""  # type: ignore[union-attr]


def test_the_worklog_row_shows_the_baseline() -> None:
    """The deployment context table has a "baseline (serving)" column: the serving revision
    and its share, "-" where the candidate serves."""
    record = rec("redis_a", "failed", phase=1, message=REDIS, areas=("redis",))
    diagnosis, _ = redis_down_run([record])
    worklog = render(diagnosis, with_baseline(percent=90), META)
    assert (
        "| service | revision | age at this run's first failure | baseline (serving) | "
        "what changed | state |"
    ) in worklog
    backend = next(line for line in worklog.splitlines() if line.startswith("| backend |"))
    auth = next(line for line in worklog.splitlines() if line.startswith("| auth |"))
    assert "| `backend-00002` | 3 s | `backend-00001` 90% |" in backend
    assert "| `auth-00002` | 3 s | - |" in auth


def test_the_baseline_cell_is_inert() -> None:
    """A revision name with a pipe or backticks cannot break the table."""
    context = with_baseline()
    backend = dataclasses.replace(context.services[0], baseline=revision("b|`x`"))
    cell = baseline_cell(backend)
    assert "|" not in cell.replace("\\|", "")
    assert cell.endswith(" 100%")


def local_context(state_dir: Path) -> ServiceContext:
    """The backend's context as the local source reads the platform's documents."""
    source = LocalSource(state_dir)
    request = ContextRequest(env="local", services={"backend": "backend"}, records=())
    return gather(request, source, source).services[0]


def test_the_local_platform_has_no_baseline_today(tmp_path: Path) -> None:
    """Two deploys of the reference platform, the newest taking all the traffic: the
    candidate is the newest and there is no baseline."""
    for name in ("backend-00001-aaa", "backend-00002-bbb"):
        revisions.create_revision(tmp_path, "backend", name, [], 1)
        revisions.settle_revision(tmp_path, "backend", name, "http://127.0.0.1:1", ready=True)
    found = local_context(tmp_path)
    assert found.revision is not None
    assert found.revision.name == "backend-00002-bbb"
    assert (found.baseline, found.baseline_url) == (None, "")


def test_a_local_document_serving_an_older_revision_names_the_baseline(tmp_path: Path) -> None:
    """A service document whose traffic goes to a revision other than the newest (a deploy
    without traffic) makes that revision the baseline, at the service's URL."""
    for name in ("backend-00001-aaa", "backend-00002-bbb"):
        revisions.create_revision(tmp_path, "backend", name, [], 1)
        revisions.settle_revision(tmp_path, "backend", name, "http://127.0.0.1:1", ready=True)
    path = tmp_path / "services" / "backend.json"
    document = json.loads(path.read_text())
    document["trafficStatuses"] = [
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": "backend-00001-aaa",
            "percent": 100,
        },
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": "backend-00002-bbb",
            "tag": "candidate",
            "uri": "http://127.0.0.1:2",
        },
    ]
    path.write_text(json.dumps(document))
    found = local_context(tmp_path)
    assert found.revision is not None
    assert found.baseline is not None
    assert (found.revision.name, found.baseline.name) == ("backend-00002-bbb", "backend-00001-aaa")
    assert (found.baseline_url, found.baseline_percent) == ("http://127.0.0.1:1", 100)
