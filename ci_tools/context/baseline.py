"""Where the baseline answers: the URLs of the revision serving traffic, to re-run failures on.

The environment's ``baseline`` table names them outright (any platform); else the deployment
context found them (Cloud Run: the serving revision's tag URL or the service's URL). Either
way they replace the run's own URLs role by role: a service without a baseline (its candidate
already serves, or it was not deployed) is reached where the run reached it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from ci_tools.config import EnvironmentConfig
from ci_tools.context.model import Context

__all__ = ["BaselineUrls", "baseline_urls"]

URL_NAMES = ("backend", "websocket", "auth", "frontend")


@dataclasses.dataclass(frozen=True)
class BaselineUrls:
    """The baseline's URLs (backend, websocket, auth, frontend, as the run's are keyed), where
    they come from, and the baseline revision of each service the context found (role ->
    revision name; none from config)."""

    urls: dict[str, str]
    source: Literal["config", "context"]
    revisions: dict[str, str] = dataclasses.field(default_factory=dict)


def _websocket_following(run: Mapping[str, str], backend: str) -> str | None:
    """The WebSocket URL on the baseline backend's host, when the run's WebSocket is on the
    run's backend host (the backend serves both); None otherwise."""
    if "backend" not in run or "websocket" not in run:
        return None
    old_backend, old_socket = urlsplit(run["backend"]), urlsplit(run["websocket"])
    if old_backend.netloc != old_socket.netloc:
        return None
    new = urlsplit(backend)
    scheme = {"https": "wss", "http": "ws"}.get(new.scheme, new.scheme)
    return urlunsplit((scheme, new.netloc, old_socket.path, old_socket.query, ""))


def _replaced(run: Mapping[str, str], given: Mapping[str, str]) -> dict[str, str]:
    urls = {**run, **given}
    if "backend" in given and "websocket" not in given:
        follows = _websocket_following(run, given["backend"])
        if follows:
            urls["websocket"] = follows
    return urls


def baseline_urls(
    env: EnvironmentConfig, context: Context | None, run_urls: Mapping[str, str]
) -> BaselineUrls | None:
    """The baseline's URLs for this environment, or None when there is no baseline: from
    ``[tool.ci_tools.environments.<env>.baseline]`` first, else from the context's services
    (their ``baseline_url``, by role). ``run_urls`` are the URLs the run used (the
    candidate's); those the baseline does not replace are kept, and the WebSocket URL moves
    with the backend when the backend served it."""
    if env.baseline is not None:
        given = {
            name: url
            for name in URL_NAMES
            if (url := getattr(env.baseline, f"{name}_url")) is not None
        }
        return BaselineUrls(_replaced(run_urls, given), "config")
    if context is None:
        return None
    found = {s.role: s for s in context.services if s.baseline is not None and s.baseline_url}
    given = {role: s.baseline_url for role, s in found.items() if role in URL_NAMES}
    if not given:
        return None
    return BaselineUrls(
        _replaced(run_urls, given),
        "context",
        {role: s.baseline.name for role, s in found.items() if s.baseline is not None},
    )
