"""Revision documents count up per service, keep their history, and record no secret value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reference_platform import StackError, revisions
from reference_platform.revisions import EnvVar
from reference_platform.serve import SERVICES


def test_names_count_up_per_service(tmp_path: Path) -> None:
    """Each new revision takes the next number; services count separately."""
    first = revisions.next_revision(tmp_path, "backend")
    revisions.create_revision(tmp_path, "backend", first, [], 8000)
    second = revisions.next_revision(tmp_path, "backend")
    assert first.startswith("backend-00001-")
    assert second.startswith("backend-00002-")
    assert revisions.next_revision(tmp_path, "auth").startswith("auth-00001-")


def test_secrets_are_references_and_literals_are_values(tmp_path: Path) -> None:
    """A secret env entry is a secretKeyRef; only non-secrets carry a value."""
    env = [EnvVar("LOG_LEVEL", "INFO"), EnvVar("JWT_SECRET", secret="jwt-secret")]
    doc = revisions.create_revision(tmp_path, "auth", "auth-00001-abc", env, 9000)
    assert doc["containers"][0]["env"] == [
        {"name": "LOG_LEVEL", "value": "INFO"},
        {
            "name": "JWT_SECRET",
            "valueSource": {"secretKeyRef": {"secret": "jwt-secret", "version": "latest"}},
        },
    ]
    assert doc["name"] == "projects/local/locations/local/services/auth/revisions/auth-00001-abc"


def test_not_ready_revision_keeps_the_previous_one_serving(tmp_path: Path) -> None:
    """A created-but-failed revision leaves latestReadyRevision on the one before."""
    revisions.create_revision(tmp_path, "backend", "backend-00001-aaa", [], 1)
    revisions.settle_revision(tmp_path, "backend", "backend-00001-aaa", "http://x", ready=True)
    revisions.create_revision(tmp_path, "backend", "backend-00002-bbb", [], 1)
    revisions.settle_revision(
        tmp_path,
        "backend",
        "backend-00002-bbb",
        "http://x",
        ready=False,
        reason="HealthCheckContainerError",
        message="HTTP 503",
    )
    service = json.loads((tmp_path / "services" / "backend.json").read_text())
    assert service["latestCreatedRevision"].endswith("/backend-00002-bbb")
    assert service["latestReadyRevision"].endswith("/backend-00001-aaa")
    assert service["terminalCondition"]["state"] == "CONDITION_FAILED"
    failed = revisions.revisions(tmp_path, "backend")[-1]
    assert failed["conditions"][0]["reason"] == "HealthCheckContainerError"


def test_history_is_pruned_to_the_kept_number(tmp_path: Path) -> None:
    """Only the newest REVISIONS_KEPT documents stay, oldest dropped first."""
    for _ in range(revisions.REVISIONS_KEPT + 3):
        name = revisions.next_revision(tmp_path, "backend")
        revisions.create_revision(tmp_path, "backend", name, [], 1)
    kept = [revisions.short_name(d["name"]) for d in revisions.revisions(tmp_path, "backend")]
    assert len(kept) == revisions.REVISIONS_KEPT
    assert kept[0].startswith("backend-00004-")
    assert kept[-1].startswith(f"backend-{revisions.REVISIONS_KEPT + 3:05d}-")


def _package_copy(tmp_path: Path) -> Path:
    """A copy of the platform's code, to change without touching the checkout."""
    copy = tmp_path / "reference_platform"
    shutil.copytree(revisions.SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _digests(source: Path) -> dict[str, str]:
    return {service: revisions.image_digest(service, source=source) for service in SERVICES}


@pytest.mark.parametrize(
    ("module", "changed"),
    [
        ("backend.py", {"backend"}),
        ("subagents.py", {"backend"}),  # imported by the backend through agent.py
        ("store.py", {"backend"}),
        ("oauth_provider.py", {"auth"}),  # imported by auth through oauth.py
        ("telemetry.py", {"backend", "auth"}),  # both services log through it
        ("stack.py", set()),  # the tool that deploys them, in neither image
    ],
)
def test_a_code_change_changes_only_the_images_holding_that_code(
    tmp_path: Path, module: str, changed: set[str]
) -> None:
    """Editing one module changes the digest of exactly the services whose image holds it:
    a backend-only change leaves auth's image as it was."""
    source = _package_copy(tmp_path)
    before = _digests(source)
    path = source / module
    path.write_text(path.read_text() + "\n# a change\n")
    after = _digests(source)
    assert {service for service in SERVICES if after[service] != before[service]} == changed


def test_each_image_holds_its_services_imports_and_not_the_others() -> None:
    """The backend's image holds the agent and the store, auth's the OAuth modules; both hold
    the shared request log, and neither the stack that deploys them."""
    backend = set(revisions.image_modules("backend"))
    auth = set(revisions.image_modules("auth"))
    assert {"backend", "agent", "subagents", "domain", "store", "serve"} <= backend
    assert {"auth", "oauth", "oauth_provider", "tokens", "serve"} <= auth
    assert {"telemetry", "lifecycle", "tokens"} <= backend & auth
    assert not {"agent", "store", "backend"} & auth
    assert not {"auth", "oauth"} & backend
    assert "stack" not in backend | auth


def test_a_module_imported_relatively_is_in_the_image(tmp_path: Path) -> None:
    """A module the service reaches by a relative import is in its image as one it reaches
    by the package's name."""
    source = _package_copy(tmp_path)
    path = source / "auth.py"
    path.write_text(path.read_text() + "\nfrom . import store\nfrom .agent import run\n")
    assert {"store", "agent"} <= set(revisions.image_modules("auth", source))


def test_a_code_defect_changes_the_image_and_not_the_env(tmp_path: Path) -> None:
    """A revision built with a code defect has another image digest than one without, and the
    same env entries; the same defects give the same digest."""
    env = [EnvVar("LOG_LEVEL", "INFO")]
    clean = revisions.create_revision(tmp_path, "backend", "backend-00001-aaa", env, 1)
    broken = revisions.create_revision(
        tmp_path, "backend", "backend-00002-bbb", env, 1, defects=("handler_error",)
    )
    again = revisions.create_revision(
        tmp_path, "backend", "backend-00003-ccc", env, 1, defects=("handler_error",)
    )
    images = [doc["containers"][0]["image"] for doc in (clean, broken, again)]
    assert images[0] != images[1] == images[2]
    assert clean["containers"][0]["env"] == broken["containers"][0]["env"]


def test_a_source_that_is_not_the_package_is_named(tmp_path: Path) -> None:
    """Pointing the digest at a folder without the service's code fails naming the file."""
    with pytest.raises(StackError, match=r"serve\.py not found: is .* the reference_platform"):
        revisions.image_digest("backend", source=tmp_path)
