"""A platform service's process environment: its revision's, never the configuration of the
shell that started the platform (a JWT_SECRET exported there would undo ``missing_secret``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_platform import stack
from reference_platform.faults import Faults, parse_faults

PORTS = {"backend": 8001, "auth": 8002, "postgres": 8003, "redis": 8004}
SECRETS = {"jwt-secret": "the-platform's-own", "database-url": "postgresql://p@127.0.0.1/db"}
PARENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/ci",
    "JWT_SECRET": "exported-by-the-shell",
    "DATABASE_URL": "postgresql://prod@db.internal/prod",
    "AGENT_HANG": "1",
    "CHECK_TIMEOUT_S": "0.001",
}


def service_env(service: str, faults: Faults, parent: dict[str, str]) -> dict[str, str]:
    """The process env ``stack.start`` gives ``service`` under ``faults``."""
    options = stack.Options(state_dir=Path(), faults=faults)
    entries = stack._service_env(service, PORTS, options)
    return stack.process_env(parent, entries, SECRETS, {"K_SERVICE": service})


def test_missing_secret_leaves_auth_without_jwt_secret_whatever_the_shell_exports() -> None:
    """``--fault missing_secret`` with JWT_SECRET set in the parent environment: the auth
    service still starts without it."""
    env = service_env("auth", parse_faults(["missing_secret"]), PARENT)
    assert "JWT_SECRET" not in env


def test_services_take_the_platform_secrets_not_the_shells() -> None:
    """Without the fault, both services get the platform's own JWT secret and database URL;
    the shell's values and fault switches (AGENT_HANG) do not reach them; the rest does."""
    for service in ("auth", "backend"):
        env = service_env(service, Faults(), PARENT)
        assert env["JWT_SECRET"] == SECRETS["jwt-secret"]
        assert "AGENT_HANG" not in env
        assert "CHECK_TIMEOUT_S" not in env
        assert (env["PATH"], env["HOME"], env["K_SERVICE"]) == ("/usr/bin", "/home/ci", service)
    assert service_env("backend", Faults(), PARENT)["DATABASE_URL"] == SECRETS["database-url"]


@pytest.mark.parametrize(
    "faults",
    [
        Faults(),
        Faults(  # every fault that is a switch in a service's env, at once
            db_slow_ms=500,
            agent_hang=True,
            subagent_hang="triage",
            subagent_error="data",
            ws_drop_rate=0.5,
            missing_module=True,
        ),
    ],
)
def test_every_variable_a_service_is_given_is_kept_from_the_shell(faults: Faults) -> None:
    """Each name a revision's env can hold is in SERVICE_CONFIGURATION, so the shell's value
    of it never leaks into a service that goes without it."""
    for service in ("auth", "backend"):
        options = stack.Options(state_dir=Path(), faults=faults)
        names = {var.name for var in stack._service_env(service, PORTS, options)}
        assert names <= stack.SERVICE_CONFIGURATION
