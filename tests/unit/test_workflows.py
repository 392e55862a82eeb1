"""The workflows' hygiene that no linter checks: least permissions, pinned actions, no
credentials left behind, no inputs spliced into shell."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)")
AUTH = "google-github-actions/"


def load(path: Path) -> dict[str, Any]:
    """A workflow as data (YAML's `on` key read as the string it is)."""
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's steps (none for a job that calls a reusable workflow)."""
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def test_there_are_the_workflows_the_design_names() -> None:
    """ci.yml, e2e.yml, phase.yml and deploy-staging.yml, and no other."""
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "deploy-staging.yml", "e2e.yml", "phase.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_none_at_the_top_and_the_least_per_job(path: Path) -> None:
    """`permissions: {}` at the top; each job names its own, and `id-token: write` only where
    Google auth runs (or a called workflow's job does)."""
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        granted: dict[str, str] = job.get("permissions", {})  # none: the top's {}
        runs_auth = any(str(s.get("uses", "")).startswith(AUTH) for s in steps(job))
        if runs_auth:
            assert granted.get("id-token") == "write", f"{path.name}: {name} runs auth"
        elif "uses" not in job:  # a job of steps that does not authenticate
            assert "id-token" not in granted, f"{path.name}: {name} needs no id-token"
        assert all(v == "read" for k, v in granted.items() if k != "id-token"), name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_full_sha_with_its_version(path: Path) -> None:
    """Every `uses:` of an action names a 40-hex commit and its version in a comment (a
    reusable workflow of this repository is named by its path)."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        used = USES.match(line)
        if used is None or used.group(1).startswith("./"):
            continue
        assert PINNED.match(line), f"{path.name}:{number}: not pinned to a SHA: {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_leave_no_credentials_and_no_input_reaches_a_shell(path: Path) -> None:
    """actions/checkout with `persist-credentials: false`; no `${{ inputs.* }}` or
    `${{ github.event.* }}` inside a `run:` (they go through `env:`)."""
    for name, job in load(path)["jobs"].items():
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, name
            script = str(step.get("run", ""))
            assert not re.search(r"\$\{\{\s*(inputs|github\.event)\.", script), (name, script)


def test_the_played_workflows_pin_only_the_actions_kept_offline() -> None:
    """e2e.yml and phase.yml (played with act) use only the pins of ../shared/actions, so a
    play offline finds every one."""
    offline = {
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065",
        "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02",
        "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093",
        "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684",
        "google-github-actions/auth@6fc4af4b145ae7821d527454aa9bd537d1f2dc5f",
    }
    for path in WORKFLOWS:
        if path.name not in ("e2e.yml", "phase.yml"):
            continue
        for line in path.read_text().splitlines():
            pinned = PINNED.match(line)
            if pinned:
                repo = "/".join(pinned.group(1).split("/")[:2])  # actions/cache/restore -> cache
                assert f"{repo}@{pinned.group(2)}" in offline, line.strip()
