"""Where a run points: the environment's URLs, its stack directory, the test users' password
and the run store, each resolved in one place from the configuration and the process's
environment variables (read when asked, never at import).

``config.py`` says what the table may hold; this module says what it means on this machine,
now: a ``CI_TOOLS_*_URL`` override (a revision's tagged URL), ``$CI_TOOLS_STACK_DIR`` (a
platform started elsewhere), ``$CI_TOOLS_E2E_PASSWORD``, ``$CI_TOOLS_HISTORY_URL``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ci_tools._exceptions import ConfigError
from ci_tools.config import Config, EnvironmentConfig, url_problem
from ci_tools.history import address
from ci_tools.rundir import paths

__all__ = [
    "HISTORY_URL",
    "PASSWORD_VARIABLE",
    "STACK_DIR_VARIABLE",
    "URL_NAMES",
    "URL_OVERRIDES",
    "password",
    "reports",
    "resolve_urls",
    "sqlite_url",
    "stack_dir",
    "store_url",
]

URL_NAMES = ("backend", "websocket", "auth", "frontend")
# An environment variable per URL, so a run can target a preview revision's tagged URL.
URL_OVERRIDES = {name: f"CI_TOOLS_{name.upper()}_URL" for name in URL_NAMES}
STACK_DIR_VARIABLE = "CI_TOOLS_STACK_DIR"
PASSWORD_VARIABLE = "CI_TOOLS_E2E_PASSWORD"  # noqa: S105 - the name of a variable
HISTORY_URL = "CI_TOOLS_HISTORY_URL"
STACK_FILE = "stack.json"  # what the platform writes in $CI_TOOLS_STACK_DIR


def reports(config: Config, root: Path) -> Path:
    """The reports folder: every run's directory, ``latest`` and the run store's file."""
    return root / config.reports_dir


def stack_dir(env: EnvironmentConfig, root: Path, environ: Mapping[str, str]) -> Path | None:
    """The local platform's state folder (its URLs, revision documents and logs):
    ``$CI_TOOLS_STACK_DIR``, else the folder of the environment's ``stack_file``; None for an
    environment that is no local platform."""
    if env.stack_file is None:
        return None
    given = environ.get(STACK_DIR_VARIABLE)
    return Path(given) if given else (root / env.stack_file).parent


def _stack_file(env: EnvironmentConfig, root: Path, environ: Mapping[str, str]) -> Path | None:
    """The file the local platform writes its URLs to; None for any other environment."""
    if env.stack_file is None:
        return None
    given = environ.get(STACK_DIR_VARIABLE)
    return Path(given) / STACK_FILE if given else root / env.stack_file


def _websocket_of(configured: Mapping[str, str], backend: str) -> str:
    """The WebSocket URL that follows a backend override (a revision's tagged URL serves
    both), when the environment's WebSocket is on its backend's host; else ""."""
    if not backend or "backend" not in configured or "websocket" not in configured:
        return ""
    old_backend, old_socket = urlsplit(configured["backend"]), urlsplit(configured["websocket"])
    if old_backend.netloc != old_socket.netloc:
        return ""
    new = urlsplit(backend)
    scheme = {"https": "wss", "http": "ws"}.get(new.scheme, new.scheme)
    return urlunsplit((scheme, new.netloc, old_socket.path, old_socket.query, ""))


def _stack_urls(name: str, stack_file: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The URLs the local platform wrote; none when every URL is overridden anyway."""
    try:
        urls: dict[str, str] = json.loads(stack_file.read_text())["urls"]
    except FileNotFoundError:
        if not all(environ.get(URL_OVERRIDES[u]) for u in ("backend", "websocket", "auth")):
            raise ConfigError(
                f"environment {name!r} reads its URLs from {stack_file}, which does not "
                "exist: start the platform with `nox -s stack -- start` (nox -s phaseN "
                "starts it for the run), or set "
                "CI_TOOLS_BACKEND_URL, CI_TOOLS_WEBSOCKET_URL and CI_TOOLS_AUTH_URL"
            ) from None
        return {}
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{stack_file} has no readable URLs ({exc}): restart the "
            "platform with `nox -s stack -- start`"
        ) from None
    return dict(urls)


def resolve_urls(
    name: str, env: EnvironmentConfig, root: Path, environ: Mapping[str, str]
) -> dict[str, str]:
    """The environment's URLs: from config or the local stack file, then env var overrides.
    A backend override (``CI_TOOLS_BACKEND_URL``: a revision's tagged URL) moves the WebSocket
    URL with it when the WebSocket is served by the backend's host, unless it is overridden
    too."""
    urls = {url: value for url in URL_NAMES if (value := getattr(env, f"{url}_url")) is not None}
    stack_file = _stack_file(env, root, environ)
    if stack_file is not None:
        urls.update(_stack_urls(name, stack_file, environ))
    configured = dict(urls)
    for url, variable in URL_OVERRIDES.items():
        if environ.get(variable):
            urls[url] = environ[variable]
            # An override is read here, not at load: refused before any phase, as config is.
            if (problem := url_problem(url, urls[url])) is not None:
                raise ConfigError(
                    f"{variable}: {problem.replace('e.g. ', f'e.g. {variable}=')}, or unset it"
                )
    follows = _websocket_of(configured, environ.get(URL_OVERRIDES["backend"], ""))
    if follows and not environ.get(URL_OVERRIDES["websocket"]):
        urls["websocket"] = follows
    missing = [u for u in ("backend", "websocket", "auth") if u not in urls]
    if missing:
        raise ConfigError(
            f"environment {name!r} has no {', '.join(missing)} URL: set "
            f"[tool.ci_tools.environments.{name}] "
            f"{', '.join(f'{m}_url' for m in missing)}"
        )
    return urls


def password(name: str, env: EnvironmentConfig, environ: Mapping[str, str] = os.environ) -> str:
    """The test users' password: CI_TOOLS_E2E_PASSWORD, else the environment's dev password."""
    value = environ.get(PASSWORD_VARIABLE) or env.dev_password
    if not value:
        raise ConfigError(
            f"no password for the test users of environment {name!r}: set "
            f"{PASSWORD_VARIABLE} (a repository secret in GitHub Actions)"
        )
    return value


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of an SQLite file."""
    return f"sqlite:///{path}"


def store_url(config: Config, root: Path, environ: Mapping[str, str]) -> str:
    """Where the run store is: ``$CI_TOOLS_HISTORY_URL``, ``[tool.ci_tools.history] url``, or
    SQLite in the reports folder. A URL that names no store is a ConfigError here, before
    any phase or report (``history.address``)."""
    for url, given_in in (
        (environ.get(HISTORY_URL), HISTORY_URL),
        (config.history.url, "[tool.ci_tools.history] url"),
    ):
        if url:
            address.check_url(url, given_in)
            return url
    return sqlite_url(paths.history_db(reports(config, root)).resolve())
