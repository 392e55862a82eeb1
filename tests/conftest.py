"""Shared test configuration: pytester drives the plugin from outside, as users run it; every
report a test makes goes to a run store of the session's, never to the checkout's.

The phased suite (tests/e2e) loads this file too: it imports nothing heavy, and the store
fixture leaves a phased run alone."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ci_tools.environment import HISTORY_URL, sqlite_url

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True, scope="session")
def _session_history_store(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[None]:
    """``$CI_TOOLS_HISTORY_URL`` for the session (the CLIs the tests start inherit it)."""
    if pytestconfig.getoption("ci_tools_phase") is not None:
        yield  # a phase of the end-to-end suite: it reports nothing
        return
    previous = os.environ.get(HISTORY_URL)
    os.environ[HISTORY_URL] = sqlite_url(tmp_path_factory.mktemp("history") / "history.db")
    yield
    if previous is None:
        os.environ.pop(HISTORY_URL, None)
    else:
        os.environ[HISTORY_URL] = previous
