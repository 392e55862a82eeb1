"""The ci_tools pytest plugin, registered through the ``pytest11`` entry point.

The phased suite's options, markers, trace ids and per-test records arrive with the phased
end-to-end suite; until then the plugin only registers its option group, so that
``pytest --help`` shows where they will live.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Registers the ``ci_tools`` option group."""
    parser.getgroup("ci_tools", "ci_tools: phased end-to-end runs after a deploy")
