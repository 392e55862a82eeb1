"""A small project's ``pyproject.toml`` for tests that run ``ci-tools`` on it: one environment
whose URLs point at 127.0.0.1:9, where nothing listens, and one phase per folder or file."""

from __future__ import annotations

NOWHERE = "http://127.0.0.1:9"
_TITLES = ("One", "Two", "Three", "Four", "Five")


def pyproject(
    *phase_paths: str,
    env: str = "here",
    backend: str = NOWHERE,
    password: str | None = "pw",  # noqa: S107 - the config's public dev password of a test project
    workers: int | None = None,
) -> str:
    """The ``[tool.ci_tools]`` of a project with a phase for each of ``phase_paths``;
    ``workers = 0`` runs one test at a time, in the file's order."""
    lines = [
        "[tool.ci_tools]",
        f'default_env = "{env}"',
        f"[tool.ci_tools.environments.{env}]",
        f'backend_url = "{backend}"',
        'websocket_url = "ws://127.0.0.1:9/ws"',
        f'auth_url = "{NOWHERE}"',
    ]
    if password is not None:
        lines.append(f'dev_password = "{password}"')
    for number, paths in enumerate(phase_paths, 1):
        lines += [
            f"[tool.ci_tools.phases.{number}]",
            f'title = "{_TITLES[number - 1]}"',
            f'paths = ["{paths}"]',
        ]
        if workers is not None:
            lines.append(f"workers = {workers}")
    return "\n".join(lines) + "\n"
