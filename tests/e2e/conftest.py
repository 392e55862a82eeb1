"""Fixtures of the phased end-to-end suite, built on the ci_tools plugin's fixtures."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from websockets.sync.client import ClientConnection

from ci_tools import config as cfg
from ci_tools import environment
from ci_tools._exceptions import ConfigError
from tests.e2e.client import Platform, Session


@pytest.fixture
def platform(
    ci_urls: dict[str, str],
    http: httpx.Client,
    ws_connect: Callable[..., ClientConnection],
    ci_config: cfg.Config,
    ci_env_name: str,
) -> Platform:
    """The environment's services, reached through its URLs with the test's trace id."""
    env = ci_config.environment(ci_env_name)

    def password() -> str:
        try:
            return environment.password(ci_env_name, env)
        except ConfigError as exc:  # only the tests that log in need it
            pytest.fail(str(exc), pytrace=False)

    return Platform(
        ci_urls, http, ws_connect, env.users, password, stall_s=ci_config.failfast.stall_s
    )


@pytest.fixture
def user(platform: Platform) -> Session:
    """The first test user, logged in."""
    return platform.login(0)


@pytest.fixture
def other_user(platform: Platform) -> Session:
    """A second test user, logged in."""
    return platform.login(1)


@pytest.fixture
def own_user(platform: Platform) -> Session:
    """A user signed up for this test alone: for what the shared users' other tests, run at
    once, would change under it (the newest threads a list holds)."""
    return platform.signup()
