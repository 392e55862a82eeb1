"""The deployment context of a run: what ``context.json`` holds, as frozen dataclasses.

Built from API-shaped data (Cloud Run Admin API v2 Services and Revisions, Cloud Logging v2
LogEntries), whichever source gave it: Google's APIs or the reference platform's files.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class EnvEntry:
    """An env var of a container: its name and kind, never its value."""

    name: str
    kind: str  # "literal" or "secret"
    secret: str | None = None  # for a secret reference: the secret's name...
    version: str | None = None  # ...and version


@dataclasses.dataclass(frozen=True)
class Condition:
    """A Cloud Run condition (Ready, RoutesReady, ...)."""

    type: str
    state: str
    reason: str = ""
    message: str = ""


@dataclasses.dataclass(frozen=True)
class RevisionInfo:
    """What matters of one revision for a failure after a deploy."""

    name: str  # short name, e.g. backend-00042-xyz
    create_time: str
    image: str
    image_digest: str | None
    env: tuple[EnvEntry, ...]
    vpc_access: dict[str, Any]
    scaling: dict[str, Any]
    timeout: str
    service_account: str
    conditions: tuple[Condition, ...]

    @property
    def ready(self) -> bool:
        """Whether its Ready condition succeeded."""
        return any(c.type == "Ready" and c.state == "CONDITION_SUCCEEDED" for c in self.conditions)


@dataclasses.dataclass(frozen=True)
class ServiceInfo:
    """The state of a Cloud Run service."""

    name: str
    latest_ready_revision: str
    latest_created_revision: str
    terminal_condition: Condition | None
    traffic: tuple[dict[str, Any], ...]  # {"revision", "percent", "tag", "uri"}
    update_time: str
    last_modifier: str
    uri: str = ""  # the service's URL (it reaches the revisions taking traffic)

    @property
    def not_ready_finding(self) -> str | None:
        """A created revision that never became ready is itself a finding."""
        if self.latest_created_revision and (
            self.latest_created_revision != self.latest_ready_revision
        ):
            reason = ""
            if self.terminal_condition and self.terminal_condition.state != "CONDITION_SUCCEEDED":
                reason = f": {self.terminal_condition.reason or self.terminal_condition.message}"
            return (
                f"revision {self.latest_created_revision} was created but is not ready; "
                f"traffic stays on {self.latest_ready_revision or 'no revision'}{reason}"
            )
        return None


@dataclasses.dataclass(frozen=True)
class Changes:
    """What changed from the previous revision (the baseline, when one serves) to the
    candidate."""

    previous: str
    env_added: tuple[str, ...] = ()
    env_removed: tuple[str, ...] = ()
    env_kind_changed: tuple[str, ...] = ()
    image_changed: bool = False
    vpc_changed: bool = False
    scaling_changed: bool = False

    @property
    def summary(self) -> str:
        """One line: what changed, or that nothing did."""
        parts = []
        if self.env_added:
            parts.append(f"env added: {', '.join(self.env_added)}")
        if self.env_removed:
            parts.append(f"env removed: {', '.join(self.env_removed)}")
        if self.env_kind_changed:
            parts.append(f"env kind changed: {', '.join(self.env_kind_changed)}")
        if self.image_changed:
            parts.append("image changed")
        if self.vpc_changed:
            parts.append("VPC access changed")
        if self.scaling_changed:
            parts.append("scaling changed")
        return (
            "; ".join(parts) or f"env names, image, VPC and scaling unchanged since {self.previous}"
        )


@dataclasses.dataclass(frozen=True)
class Deployed:
    """One listed revision as "what changed since the last healthy run" compares it: its
    image, and a fingerprint of its configuration (env names and kinds, VPC access, scaling,
    timeout, service account; never a value)."""

    name: str
    image: str  # the digest, else the image reference
    config: str


@dataclasses.dataclass(frozen=True)
class LogLine:
    """One log entry, reduced to what a reviewer reads."""

    timestamp: str
    severity: str
    service: str
    message: str  # redacted
    trace: str | None = None
    status: int | None = None  # the HTTP status, for request entries
    # The revision that wrote it ("" when the entry has no revision label): the baseline's
    # lines and the candidate's share a service's log.
    revision: str = ""


@dataclasses.dataclass(frozen=True)
class Signature:
    """Error entries whose normalised message is the same."""

    signature: str
    count: int
    first_seen: str
    last_seen: str
    severity: str
    sample: str
    logs_url: str


@dataclasses.dataclass(frozen=True)
class ServiceContext:
    """Everything gathered for one service, or why it could not be."""

    role: str  # backend, auth, frontend...
    name: str  # the Cloud Run service name
    unavailable: str | None = None  # "context unavailable: <reason>" when gathering failed
    service: ServiceInfo | None = None
    # The candidate: the revision under test (the newest ready one, deployed under a tag
    # without traffic, or the one the run's URL reaches).
    revision: RevisionInfo | None = None
    revision_age_s: float | None = None  # the candidate's age at this run's first failure
    revision_url: str = ""
    # The baseline: the revision serving traffic, when it is not the candidate; its URL (its
    # tag's URL, else the service's) and its share of the traffic.
    baseline: RevisionInfo | None = None
    baseline_url: str = ""
    baseline_percent: int = 0
    changes: Changes | None = None
    deployed: tuple[Deployed, ...] = ()  # the revisions listed, oldest first (at most 50)
    signatures: tuple[Signature, ...] = ()
    logs_unavailable: str | None = None


@dataclasses.dataclass(frozen=True)
class TestContext:
    """A failed test's own log lines (by trace id) and links."""

    __test__ = False

    nodeid: str
    phase: int
    trace_ids: tuple[str, ...]
    trace_urls: tuple[str, ...]
    entries: tuple[LogLine, ...]
    # "" for the run's own failure; "baseline" or "candidate" for the experiment's re-run of
    # it on that revision (see ci_tools.experiment).
    arm: str = ""


@dataclasses.dataclass(frozen=True)
class Context:
    """The whole ``context.json``."""

    generated_at: str
    env: str
    source: str  # "cloud" or "local"
    project: str
    region: str
    window_start: str | None
    window_end: str | None
    failures: int
    requests: dict[str, int]  # API requests made, per API
    services: tuple[ServiceContext, ...]
    tests: tuple[TestContext, ...]

    def as_json(self) -> dict[str, Any]:
        """The context as written to ``context.json``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Context:
        """Reads what ``as_json`` wrote; raises ValueError on data of another shape."""
        from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415 - report stage only

        try:
            return TypeAdapter(cls).validate_python(data)
        except ValidationError as exc:
            raise ValueError(str(exc).splitlines()[0]) from None
