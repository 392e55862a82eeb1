"""Revision and service documents shaped like the Cloud Run Admin API v2.

Every start of the stack is a deploy: each service gets a new revision (``backend-00007-kqz``,
counting up) whose document records the image, the env entries (a literal value only for
non-secrets, ``valueSource.secretKeyRef`` for secrets), scaling and VPC access, exactly the
fields ``projects.locations.services.revisions.get`` returns. Earlier revisions are kept, so
"what changed since the last deploy" can be answered locally.

A start with a baseline is a deploy without traffic, as ``deploy-staging.yml`` does it: each
service gets two revisions, the baseline (the revision before, without the candidate's own
defects) and then the candidate. The baseline serves all the traffic at the service's URL; the
candidate takes none and is reached at its tag's URL (``trafficStatuses``, tags ``baseline``
and ``candidate``). Both log to the service's one log, told apart by the revision name.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import re
import string
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reference_platform._errors import StackError

PACKAGE = "reference_platform"
SOURCE = Path(__file__).parent  # the package's code, what the images are built from
PROJECT = "local"
LOCATION = "local"
REVISIONS_KEPT = 50  # as many as one page of the API's list: the last healthy one stays in reach
_NUMBER = re.compile(r"^[a-z]+-(\d{5})-[a-z]{3}$")
BASELINE_TAG = "baseline"  # the traffic tag of the revision serving traffic, with a baseline
CANDIDATE_TAG = "candidate"  # the traffic tag of the revision under test, with a baseline
_REVISION_TARGET = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"


@dataclasses.dataclass(frozen=True)
class Served:
    """The baseline revision serving the traffic while the candidate takes none."""

    revision: str  # its short name
    url: str


@dataclasses.dataclass(frozen=True)
class EnvVar:
    """One env entry of a container: a literal value, or a reference to a secret."""

    name: str
    value: str | None = None
    secret: str | None = None  # the Secret Manager secret's name; its value is never recorded

    def as_json(self) -> dict[str, Any]:
        """The entry as the API shows it."""
        if self.secret is not None:
            return {
                "name": self.name,
                "valueSource": {"secretKeyRef": {"secret": self.secret, "version": "latest"}},
            }
        return {"name": self.name, "value": self.value or ""}


def now_rfc3339() -> str:
    """The current UTC time as the API writes timestamps."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def service_name(service: str) -> str:
    """The service's full resource name."""
    return f"projects/{PROJECT}/locations/{LOCATION}/services/{service}"


def image_modules(service: str, source: Path = SOURCE) -> list[str]:
    """The modules of the platform that make up the service's image: its process's entry
    (``serve``), the service's module, and every module of the package they import, however
    deep; the package's ``__init__`` too (every import of the package loads it).

    The ``__init__``'s own imports are not followed: it re-exports the stack's API for the
    command line and the tests, which no service uses. Modules both services import (the
    request log, the lifecycle, tokens) are in both images."""
    entries = ("serve", service)
    for entry in entries:
        if not (source / f"{entry}.py").is_file():
            raise StackError(
                f"{source / f'{entry}.py'} not found: is {source} the reference_platform package?"
            )
    wanted = list(entries)
    found: set[str] = set()
    while wanted:
        module = wanted.pop(0)
        path = source / f"{module}.py"
        # A name that is no module of its own is one the package's __init__ re-exports.
        if module in found or not path.is_file():
            continue
        found.add(module)
        wanted += _imported(ast.parse(path.read_text(), str(path)))
    return sorted(found | {"__init__"})


def _imported(tree: ast.Module) -> list[str]:
    """The package's modules a module imports: ``from reference_platform import x``,
    ``from reference_platform.x import y`` and ``import reference_platform.x``, or relatively
    (``from . import x``, ``from .x import y``: the package is one folder)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = f"{PACKAGE}.{node.module or ''}".rstrip(".") if node.level else node.module
            if module == PACKAGE:
                names += [alias.name for alias in node.names]
            elif (module or "").startswith(f"{PACKAGE}."):
                names.append(str(module).split(".")[1])
        elif isinstance(node, ast.Import):
            names += [a.name.split(".")[1] for a in node.names if a.name.startswith(f"{PACKAGE}.")]
    return names


def image_digest(service: str, defects: Sequence[str] = (), source: Path = SOURCE) -> str:
    """A digest of the service's own image: the code of its modules (``image_modules``) and
    the code defects built into it (its revision faults), so that a change of its code shows
    as an image change and a change of another service's code does not."""
    digest = hashlib.sha256(service.encode())
    for module in image_modules(service, source):
        digest.update(module.encode() + b"\0" + (source / f"{module}.py").read_bytes())
    for defect in defects:
        digest.update(b"defect\0" + defect.encode())
    return f"sha256:{digest.hexdigest()}"


def _revisions_dir(state_dir: Path, service: str) -> Path:
    return state_dir / "revisions" / service


def revisions(state_dir: Path, service: str) -> list[dict[str, Any]]:
    """The service's revision documents, oldest first."""
    folder = _revisions_dir(state_dir, service)
    docs = [json.loads(path.read_text()) for path in folder.glob(f"{service}-*.json")]
    return sorted(docs, key=lambda doc: short_name(doc["name"]))


def short_name(name: str) -> str:
    """``backend-00007-kqz`` from a full revision resource name."""
    return name.rsplit("/", 1)[-1]


def next_revision(state_dir: Path, service: str) -> str:
    """The next revision's short name: the highest number so far plus one."""
    numbers = [
        int(m.group(1))
        for path in _revisions_dir(state_dir, service).glob("*.json")
        if (m := _NUMBER.match(path.stem))
    ]
    suffix = "".join(random.choices(string.ascii_lowercase, k=3))
    return f"{service}-{max(numbers, default=0) + 1:05d}-{suffix}"


def create_revision(
    state_dir: Path,
    service: str,
    revision: str,
    env: list[EnvVar],
    port: int,
    *,
    defects: Sequence[str] = (),
) -> dict[str, Any]:
    """Writes a new revision document (not yet ready) and prunes the oldest beyond the kept;
    ``defects`` are the code defects built into its image (they change the image digest)."""
    created = now_rfc3339()
    parent = service_name(service)
    doc: dict[str, Any] = {
        "name": f"{parent}/revisions/{revision}",
        "uid": str(uuid.uuid4()),
        "generation": "1",
        "labels": {"managed-by": "reference-platform"},
        "annotations": {},
        "createTime": created,
        "updateTime": created,
        "launchStage": "GA",
        "service": parent,
        "scaling": {"minInstanceCount": 1, "maxInstanceCount": 1},
        "vpcAccess": {
            "egress": "PRIVATE_RANGES_ONLY",
            "networkInterfaces": [{"network": "loopback", "subnetwork": "loopback"}],
        },
        "maxInstanceRequestConcurrency": 80,
        "timeout": "300s",
        "serviceAccount": f"{service}@{PROJECT}.iam.gserviceaccount.com",
        "containers": [
            {
                "name": service,
                "image": f"local/reference-platform/{service}@{image_digest(service, defects)}",
                "command": ["python", "-m", "reference_platform.serve", service],
                "env": [var.as_json() for var in env],
                "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
                "ports": [{"name": "http1", "containerPort": port}],
            }
        ],
        "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
        "conditions": [
            {"type": "Ready", "state": "CONDITION_PENDING", "lastTransitionTime": created}
        ],
        "logUri": f"file://{(state_dir / 'logs' / f'{service}.jsonl').resolve()}",
        "reconciling": True,
    }
    folder = _revisions_dir(state_dir, service)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / f"{revision}.json", doc)
    for old in revisions(state_dir, service)[:-REVISIONS_KEPT]:
        (folder / f"{short_name(old['name'])}.json").unlink(missing_ok=True)
    return doc


def settle_revision(
    state_dir: Path,
    service: str,
    revision: str,
    url: str,
    *,
    ready: bool,
    reason: str = "",
    message: str = "",
    baseline: Served | None = None,
    update_service: bool = True,
) -> None:
    """Records whether the revision became ready, and the service document that follows:
    with a ``baseline``, the baseline serves the traffic and the candidate has a tag. A
    baseline revision is settled first, with ``update_service=False``: the candidate's
    settle writes the service document."""
    path = _revisions_dir(state_dir, service) / f"{revision}.json"
    doc = json.loads(path.read_text())
    moment = now_rfc3339()
    condition: dict[str, Any] = {
        "type": "Ready",
        "lastTransitionTime": moment,
        "state": "CONDITION_SUCCEEDED" if ready else "CONDITION_FAILED",
    }
    if not ready:
        condition.update(reason=reason, message=message, severity="ERROR")
    doc.update(conditions=[condition], updateTime=moment, reconciling=False)
    _write_json(path, doc)
    if not update_service:
        return

    service_path = state_dir / "services" / f"{service}.json"
    previous = json.loads(service_path.read_text()) if service_path.exists() else {}
    full = doc["name"]
    latest_ready = full if ready else previous.get("latestReadyRevision", "")
    traffic = [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
    statuses = [
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
            "percent": 100,
            "revision": short_name(latest_ready) if latest_ready else "",
        }
    ]
    if baseline is not None:
        served = json.loads((path.parent / f"{baseline.revision}.json").read_text())
        if not ready and served["conditions"][0]["state"] == "CONDITION_SUCCEEDED":
            latest_ready = served["name"]
        # The candidate first: a reader matching a run's URL to a tag finds it before the
        # baseline, whose URL is also the service's.
        traffic = [
            {"type": _REVISION_TARGET, "revision": name, "percent": percent, "tag": tag}
            for name, percent, tag in (
                (revision, 0, CANDIDATE_TAG),
                (baseline.revision, 100, BASELINE_TAG),
            )
        ]
        statuses = [
            {**target, "uri": target_url}
            for target, target_url in zip(traffic, (url, baseline.url), strict=True)
        ]
        url = baseline.url  # the service's URL reaches the revision serving its traffic
    terminal = dict(condition)
    if not ready:
        terminal["message"] = (
            f"Revision '{revision}' is not ready and cannot serve traffic. {message}"
        )
    service_doc = {
        "name": service_name(service),
        "uid": previous.get("uid", str(uuid.uuid4())),
        "generation": str(int(previous.get("generation", "0")) + 1),
        "createTime": previous.get("createTime", doc["createTime"]),
        "updateTime": moment,
        "creator": previous.get("creator", _modifier()),
        "lastModifier": _modifier(),
        "uri": url,
        "latestCreatedRevision": full,
        "latestReadyRevision": latest_ready,
        "traffic": traffic,
        "trafficStatuses": statuses,
        "terminalCondition": terminal,
        "conditions": [],
        "reconciling": False,
    }
    service_path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(service_path, service_doc)


def _modifier() -> str:
    return f"{os.environ.get('USER') or 'developer'}@{PROJECT}"


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    # Written whole then renamed, so a reader never sees half a document.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
