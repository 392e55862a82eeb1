"""Revision documents count up per service, keep their history, and record no secret value."""

from __future__ import annotations

import json
from pathlib import Path

from reference_platform import revisions
from reference_platform.revisions import EnvVar


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
