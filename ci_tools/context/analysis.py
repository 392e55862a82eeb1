"""Pure functions over API-shaped data: revisions, their diff, log signatures, filters, links.

Input is JSON as the Cloud Run Admin API v2 and Cloud Logging v2 REST APIs return it (camelCase),
so the cloud sources and the reference platform's files go through the same code.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ci_tools.context.model import (
    Changes,
    Condition,
    Deployed,
    EnvEntry,
    LogLine,
    RevisionInfo,
    ServiceInfo,
    Signature,
)
from ci_tools.redact import redact

MAX_FILTER_CHARS = 20_000  # Cloud Logging refuses longer queries
SEVERITIES = (
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
)


def short_name(name: str) -> str:
    """The last segment of a resource name: ``backend-00042-xyz`` of a revision."""
    return name.rsplit("/", 1)[-1]


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 timestamp (any precision, Z or offset) as an aware datetime."""
    text = value.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match and match.group(2):  # Python wants at most 6 fractional digits
        text = f"{match.group(1)}{match.group(2)[:7]}{match.group(3)}"
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def rfc3339(moment: dt.datetime) -> str:
    """A UTC timestamp as the APIs write it."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _condition(data: dict[str, Any] | None) -> Condition | None:
    if not data:
        return None
    return Condition(
        str(data.get("type", "")),
        str(data.get("state", "")),
        str(data.get("reason", "") or data.get("revisionReason", "")),
        redact(str(data.get("message", ""))),
    )


def parse_revision(data: dict[str, Any]) -> RevisionInfo:
    """A Revision resource, reduced; env values are dropped here and never kept."""
    container = (data.get("containers") or [{}])[0]
    env = []
    for var in container.get("env", []):
        ref = (var.get("valueSource") or {}).get("secretKeyRef")
        if ref:
            env.append(EnvEntry(var["name"], "secret", ref.get("secret"), ref.get("version")))
        else:
            env.append(EnvEntry(var["name"], "literal"))
    image = str(container.get("image", ""))
    digest = image.split("@", 1)[1] if "@" in image else None
    return RevisionInfo(
        name=short_name(str(data.get("name", ""))),
        create_time=str(data.get("createTime", "")),
        image=image,
        image_digest=digest,
        env=tuple(env),
        vpc_access=dict(data.get("vpcAccess") or {}),
        scaling=dict(data.get("scaling") or {}),
        timeout=str(data.get("timeout", "")),
        service_account=str(data.get("serviceAccount", "")),
        conditions=tuple(c for c in map(_condition, data.get("conditions", [])) if c),
    )


LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


def unlisted_revision(name: str) -> RevisionInfo:
    """A revision known only by its name (the traffic names it; the list read did not)."""
    return RevisionInfo(
        name=name,
        create_time="",
        image="",
        image_digest=None,
        env=(),
        vpc_access={},
        scaling={},
        timeout="",
        service_account="",
        conditions=(),
    )


def parse_service(data: dict[str, Any]) -> ServiceInfo:
    """A Service resource, reduced. A traffic status of type LATEST that names no revision
    is the latest ready one's."""
    latest_ready = short_name(str(data.get("latestReadyRevision", "")))
    traffic = tuple(
        {
            "revision": short_name(str(t.get("revision", "")))
            or (latest_ready if t.get("type") == LATEST else ""),
            "percent": int(t.get("percent", 0)),
            "tag": str(t.get("tag", "")),
            "uri": str(t.get("uri", "")),
        }
        for t in data.get("trafficStatuses", [])
    )
    return ServiceInfo(
        name=short_name(str(data.get("name", ""))),
        latest_ready_revision=latest_ready,
        latest_created_revision=short_name(str(data.get("latestCreatedRevision", ""))),
        terminal_condition=_condition(data.get("terminalCondition")),
        traffic=traffic,
        update_time=str(data.get("updateTime", "")),
        last_modifier=str(data.get("lastModifier", "")),
        uri=str(data.get("uri", "")),
    )


def traffic_shares(service: ServiceInfo) -> dict[str, int]:
    """Each revision's percent of the traffic, for those taking some (a revision can be
    listed twice: for its percent and for a tag)."""
    shares: dict[str, int] = {}
    for target in service.traffic:
        if target["revision"] and target["percent"] > 0:
            shares[target["revision"]] = shares.get(target["revision"], 0) + target["percent"]
    return shares


def serving_revision(service: ServiceInfo) -> str:
    """The revision taking the most traffic, else the latest ready one."""
    shares = traffic_shares(service)
    if shares:
        return max(shares, key=lambda name: shares[name])
    return service.latest_ready_revision or service.latest_created_revision


_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _host(url: str) -> str:
    """``host:port`` of a URL (the scheme's default port when it names none): two revisions
    on one machine differ by port only; "" for what is no URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    return f"{host}:{port}" if host else ""


def candidate_revision(service: ServiceInfo, urls: Iterable[str] = ()) -> str:
    """The revision under test: the one whose tag URL the run used; the serving one when
    the run used the service's own URL; else the newest ready one (a deploy without traffic
    puts it under a tag); else the serving one."""
    hosts = {_host(url) for url in urls} - {""}
    for target in service.traffic:
        if target["revision"] and target.get("uri") and _host(target["uri"]) in hosts:
            return str(target["revision"])
    if service.uri and _host(service.uri) in hosts:
        return serving_revision(service)
    return service.latest_ready_revision or serving_revision(service)


def baseline_revision(service: ServiceInfo, candidate: str) -> tuple[str, str, int] | None:
    """The revision serving traffic when it is not ``candidate``: its name, its URL and
    its percent of the traffic. The URL is the service's when it takes all the traffic,
    else its tag's (the service's URL reaches the others too), else the service's."""
    shares = traffic_shares(service)
    if not shares:
        return None
    serving = serving_revision(service)
    if serving == candidate:
        return None
    tagged = [str(t["uri"]) for t in service.traffic if t["revision"] == serving and t.get("uri")]
    percent = shares[serving]
    if percent >= 100 and service.uri:  # all of it
        return serving, service.uri, percent
    return serving, (tagged[0] if tagged else service.uri), percent


def deployed(revision: RevisionInfo) -> Deployed:
    """A revision's image and configuration fingerprint, to compare with another's."""
    config = json.dumps(
        [
            sorted((e.name, e.kind, e.secret or "") for e in revision.env),
            revision.vpc_access,
            revision.scaling,
            revision.timeout,
            revision.service_account,
        ],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(config.encode()).hexdigest()[:16]
    return Deployed(revision.name, revision.image_digest or revision.image, digest)


def diff(previous: RevisionInfo, current: RevisionInfo) -> Changes:
    """What changed between two revisions (names and kinds of env vars, never values)."""
    before = {e.name: e.kind for e in previous.env}
    after = {e.name: e.kind for e in current.env}
    return Changes(
        previous=previous.name,
        env_added=tuple(sorted(after.keys() - before.keys())),
        env_removed=tuple(sorted(before.keys() - after.keys())),
        env_kind_changed=tuple(
            sorted(n for n in before.keys() & after.keys() if before[n] != after[n])
        ),
        image_changed=(previous.image_digest or previous.image)
        != (current.image_digest or current.image),
        vpc_changed=previous.vpc_access != current.vpc_access,
        scaling_changed=previous.scaling != current.scaling,
    )


# Each normaliser with the text it cannot match without (any of them; none: no such text),
# so that a piece lacking it is not scanned for nothing.
_NORMALISERS = (
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
        ("-",),
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<address>", (".",)),
    (re.compile(r"\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b", re.I), "<address>", (":",)),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>", ("0x", "0X")),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>", ()),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z?"), "<time>", ("T",)),
    (re.compile(r"(?<![\w<])-?\d+(?:\.\d+)?(?![\w>])"), "<n>", ()),
)


SIGNATURE_CHARS = 300


@functools.lru_cache(maxsize=8192)
def signature(message: str) -> str:
    """A message's first line with numbers, ids, hex and addresses as placeholders, cut to
    SIGNATURE_CHARS (once a text: a report asks of a failure for its record, its group and
    its logs).

    The line is read in pieces cut before a space, only until the signature is whole: no
    normaliser matches a space, and a space is to each of their boundaries what the line's
    end or start is, so each piece reads as it does within the line (a failure's first line
    often runs to thousands of characters of a repr)."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    pieces: list[str] = []
    length = 0
    while first and length < SIGNATURE_CHARS:
        cut = first.find(" ", SIGNATURE_CHARS)
        piece, first = (first, "") if cut < 0 else (first[:cut], first[cut:])
        for pattern, placeholder, needed in _NORMALISERS:
            if not needed or any(text in piece for text in needed):
                piece = pattern.sub(placeholder, piece)
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)[:SIGNATURE_CHARS]


def entry_message(entry: dict[str, Any]) -> str:
    """The readable message of a LogEntry: jsonPayload.message, textPayload or the request."""
    payload = entry.get("jsonPayload")
    if isinstance(payload, dict) and payload.get("message"):
        return str(payload["message"])
    if entry.get("textPayload"):
        return str(entry["textPayload"])
    request = entry.get("httpRequest") or {}
    if request:
        return (
            f"{request.get('requestMethod', '')} {request.get('requestUrl', '')} "
            f"{request.get('status', '')}".strip()
        )
    return ""


def from_current_revisions(
    entries: Iterable[dict[str, Any]],
    revisions: Sequence[RevisionInfo],
    serving: RevisionInfo | None,
) -> list[dict[str, Any]]:
    """The entries not written by a revision older than the serving one: an earlier deploy's
    crash inside the failure window is not evidence about this one. Entries of the serving
    revision, of newer ones (a created-but-not-ready revision's crash is evidence) and
    without a revision label are kept."""
    if serving is None or not serving.create_time:
        return list(entries)
    created = parse_time(serving.create_time)
    older = {r.name for r in revisions if r.create_time and parse_time(r.create_time) < created}
    return [entry for entry in entries if revision_of(entry) not in older]


def revision_of(entry: dict[str, Any]) -> str:
    """The revision that wrote a LogEntry (its resource's ``revision_name``), "" when unlabelled."""
    return str(((entry.get("resource") or {}).get("labels") or {}).get("revision_name") or "")


def log_line(entry: dict[str, Any], service: str) -> LogLine:
    """A LogEntry as the worklog shows it, redacted."""
    status = (entry.get("httpRequest") or {}).get("status")
    return LogLine(
        timestamp=normal_time(str(entry.get("timestamp", ""))),
        severity=str(entry.get("severity", "DEFAULT")),
        service=service,
        message=redact(entry_message(entry))[:2000],
        trace=entry.get("trace"),
        status=int(status) if status else None,
        revision=revision_of(entry),
    )


def group_signatures(
    entries: Iterable[dict[str, Any]], link: Callable[[str], str]
) -> tuple[Signature, ...]:
    """ERROR-or-worse entries grouped by signature, most frequent first; ``link(sig)`` gives
    each group's Logs Explorer URL. Messages are redacted before anything is derived from
    them, so no secret reaches a signature, a sample or a link."""
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for entry in entries:
        if severity_rank(str(entry.get("severity", "DEFAULT"))) < severity_rank("ERROR"):
            continue
        message = redact(entry_message(entry))
        groups.setdefault(signature(message), []).append((message, entry))
    result = []
    for sig, members in groups.items():
        times = sorted(normal_time(str(m.get("timestamp", ""))) for _, m in members)
        worst = max((str(m.get("severity", "ERROR")) for _, m in members), key=severity_rank)
        result.append(
            Signature(
                sig, len(members), times[0], times[-1], worst, members[0][0][:2000], link(sig)
            )
        )
    return tuple(sorted(result, key=lambda s: (-s.count, s.first_seen)))


def normal_time(value: str) -> str:
    """Any RFC 3339 timestamp in one form (milliseconds, Z), so times compare as text."""
    try:
        return rfc3339(parse_time(value))
    except ValueError:
        return value


def severity_rank(severity: str) -> int:
    """The order of a Cloud Logging severity (DEFAULT lowest)."""
    try:
        return SEVERITIES.index(severity.upper())
    except ValueError:
        return 0


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def base_filter(service: str, start: dt.datetime, end: dt.datetime) -> str:
    """A Cloud Run service's entries in a time window: every filter carries the bound."""
    return (
        f'resource.type="cloud_run_revision" AND '
        f"resource.labels.service_name={_quote(service)} AND "
        f"timestamp>={_quote(rfc3339(start))} AND timestamp<={_quote(rfc3339(end))}"
    )


def trace_filters(
    service: str,
    project: str,
    trace_ids: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    limit: int = MAX_FILTER_CHARS,
) -> list[str]:
    """As few filters as fit under ``limit`` characters, together naming every trace id."""
    base = base_filter(service, start, end)
    names = [_quote(f"projects/{project}/traces/{t}") for t in dict.fromkeys(trace_ids)]
    filters: list[str] = []
    chunk: list[str] = []

    def text(items: list[str]) -> str:
        return f"{base} AND trace=({' OR '.join(items)})"

    for name in names:
        if chunk and len(text([*chunk, name])) > limit:
            filters.append(text(chunk))
            chunk = []
        chunk.append(name)
    if chunk:
        filters.append(text(chunk))
    return filters


def error_filter(service: str, start: dt.datetime, end: dt.datetime) -> str:
    """The service's ERROR-or-worse entries in the failure window."""
    return f"{base_filter(service, start, end)} AND severity>=ERROR"


def logs_explorer_url(project: str, query: str, start: str, end: str) -> str:
    """A Logs Explorer link that opens the query over the window."""
    encoded = urllib.parse.quote(query, safe="")
    return (
        f"https://console.cloud.google.com/logs/query;query={encoded};"
        f"timeRange={urllib.parse.quote(start, safe='')}%2F"
        f"{urllib.parse.quote(end, safe='')}?project={project}"
    )


def trace_url(project: str, trace_id: str) -> str:
    """The Cloud Trace page of a trace."""
    return f"https://console.cloud.google.com/traces/list?tid={trace_id}&project={project}"


def revision_url(project: str, region: str, service: str) -> str:
    """The revisions page of a Cloud Run service in the console."""
    return (
        f"https://console.cloud.google.com/run/detail/{region}/{service}/revisions"
        f"?project={project}"
    )
