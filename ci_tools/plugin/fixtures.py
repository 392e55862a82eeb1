"""The fixtures an end-to-end test uses to reach the platform: the project's configuration, the
environment's name and URLs, a trace id a test, an HTTP client and a WebSocket connector that
send it, one TLS context, and ``criterion`` to record a measured value. pytest finds them in
``ci_tools.plugin.hooks``, which imports them.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ci_tools._exceptions import ConfigError
from ci_tools.plugin.keys import MEASURE, TRACE
from ci_tools.records import Bound

if TYPE_CHECKING:  # imported where they are used: the plugin loads in every pytest run
    import ssl

    import httpx
    from websockets.sync.client import ClientConnection

    from ci_tools import config as cfg


CONFIG: pytest.StashKey[cfg.Config] = pytest.StashKey()  # [tool.ci_tools], loaded once


def project_config(config: pytest.Config) -> cfg.Config:
    """The project's ``[tool.ci_tools]`` configuration, loaded once a process; a bad one is a
    usage error in one line."""
    from ci_tools import config as cfg  # noqa: PLC0415 - see the TYPE_CHECKING import

    if CONFIG not in config.stash:
        try:
            config.stash[CONFIG] = cfg.load(config.rootpath / "pyproject.toml")
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
    return config.stash[CONFIG]


def before_fork(config: pytest.Config) -> None:
    """In the parent, once, before its workers fork: what every test would otherwise build
    again in its worker (forked workers tear session fixtures down after each test)."""
    with contextlib.suppress(pytest.UsageError):  # no project: a fixture that needs it says so
        project_config(config)
    if "httpx" in sys.modules:  # the suite's tests use it
        _ssl_context()
        _warm_clients()


@pytest.fixture(scope="session")
def ci_config(pytestconfig: pytest.Config) -> cfg.Config:
    """The project's ``[tool.ci_tools]`` configuration."""
    return project_config(pytestconfig)


@pytest.fixture(scope="session")
def ci_env_name(pytestconfig: pytest.Config, ci_config: cfg.Config) -> str:
    """The name of the environment under test."""
    name: str = pytestconfig.getoption("ci_tools_env") or ci_config.default_env
    return name


@pytest.fixture(scope="session")
def ci_urls(
    pytestconfig: pytest.Config,
    ci_config: cfg.Config,
    ci_env_name: str,
) -> dict[str, str]:
    """The environment's URLs (backend, websocket, auth, frontend when it has one)."""
    from ci_tools import environment  # noqa: PLC0415 - see the TYPE_CHECKING import

    try:
        return environment.resolve_urls(
            ci_env_name, ci_config.environment(ci_env_name), pytestconfig.rootpath, os.environ
        )
    except ConfigError as exc:
        # A failed setup, not pytest.exit: that would crash an xdist worker mid-run.
        pytest.fail(f"ci_tools: {exc}", pytrace=False)


@pytest.fixture
def trace_id(request: pytest.FixtureRequest) -> str:
    """A fresh trace id for this test, recorded with its record."""
    value = secrets.token_hex(16)
    request.node.user_properties.append((TRACE, value))
    return value


def trace_headers(trace: str) -> dict[str, str]:
    """The trace id in both headers Cloud Run reads, with a fresh span id."""
    span = secrets.token_hex(8)
    return {
        "traceparent": f"00-{trace}-{span}-01",
        "x-cloud-trace-context": f"{trace}/{int(span, 16)};o=1",
    }


def _warm_clients() -> None:
    """Imports what a first request and a first WebSocket session import lazily (httpx's
    transport, h11, the IDNA codec; websockets' sync client), so workers forked next share
    it instead of each importing it again as its first test starts."""
    import importlib  # noqa: PLC0415

    import httpx  # noqa: PLC0415 - see the TYPE_CHECKING import

    httpx.Client(verify=_ssl_context()).close()
    for name in ("httpcore._sync.http11", "h11", "encodings.idna", "websockets.sync.client"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    "localhost".encode("idna")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    import httpx  # noqa: PLC0415 - see the TYPE_CHECKING import

    return httpx.create_ssl_context()


@pytest.fixture(scope="session")
def ci_ssl_context() -> ssl.SSLContext:
    """One TLS context for the process: building one loads the CA bundle (about 20 ms), which
    a client per test would otherwise pay every time (forked workers share the parent's)."""
    return _ssl_context()


@pytest.fixture
def http(trace_id: str, ci_ssl_context: ssl.SSLContext) -> Iterator[httpx.Client]:
    """An HTTP client whose every request carries the test's trace id."""
    import httpx  # noqa: PLC0415 - see the TYPE_CHECKING import

    def stamp(request: httpx.Request) -> None:
        request.headers.update(trace_headers(trace_id))

    with httpx.Client(
        timeout=httpx.Timeout(15.0, connect=5.0),
        event_hooks={"request": [stamp]},
        verify=ci_ssl_context,
    ) as client:
        yield client


@pytest.fixture
def ws_connect(
    trace_id: str,
    ci_urls: dict[str, str],
) -> Iterator[Callable[..., ClientConnection]]:
    """Opens WebSocket connections (default: the environment's URL) carrying the trace id;
    ``token`` goes in the query string, as a browser would send it. All close at teardown."""
    from websockets.sync.client import connect as ws_connect_sync  # noqa: PLC0415

    with contextlib.ExitStack() as opened:

        def connect(
            url: str | None = None, *, token: str | None = None, open_timeout: float = 10.0
        ) -> ClientConnection:
            target = url or ci_urls["websocket"]
            if token is not None:
                target += ("&" if "?" in target else "?") + f"token={token}"
            return opened.enter_context(
                ws_connect_sync(
                    target,
                    additional_headers=trace_headers(trace_id),
                    open_timeout=open_timeout,
                    close_timeout=2.0,
                )
            )

        yield connect


class Criterion:
    """Records values a test measured against the named criteria of
    ``[tool.ci_tools.criteria]``: ``criterion(name, value)`` for a measured value,
    ``criterion.at_least(name, value)`` when the wait was cut short (a timeout: the value is a
    lower bound), ``criterion.unreachable(name)`` when the part never answered."""

    def __init__(self, node: pytest.Item, names: Any) -> None:
        self._node = node
        self._names = names

    def _add(self, name: str, value: float, bound: Bound) -> None:
        if name not in self._names:
            raise ConfigError(
                f"unknown criterion {name!r}: define it under [tool.ci_tools.criteria.{name}]"
            )
        self._node.user_properties.append((MEASURE, (name, float(value), bound)))

    def __call__(self, name: str, value: float) -> None:
        """A measured value."""
        self._add(name, value, "")

    def at_least(self, name: str, value: float) -> None:
        """A lower bound: the measurement was cut short after ``value``."""
        self._add(name, value, "at_least")

    def unreachable(self, name: str) -> None:
        """Nothing could be measured: the part refused or never answered."""
        self._add(name, 0.0, "unreachable")


@pytest.fixture
def criterion(request: pytest.FixtureRequest, ci_config: cfg.Config) -> Criterion:
    """Records measured values against the named criteria of ``[tool.ci_tools.criteria]``."""
    return Criterion(request.node, ci_config.criteria)
