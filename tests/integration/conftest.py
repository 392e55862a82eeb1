"""Real stacks for the integration tests: each fixture starts its own, on its own ports.

Every stack lives in a state directory of its own (per xdist worker, via tmp_path_factory).
A test's stacks stop when the test ends, so at most the shared healthy one and the current
test's run at once on a 2-core machine; nothing is left running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reference_platform import parse_faults, stack

StartStack = Callable[..., stack.State]


def _starter(factory: pytest.TempPathFactory, started: list[Path]) -> StartStack:
    def start(*faults: str, state_dir: Path | None = None, **options: object) -> stack.State:
        folder = state_dir or factory.mktemp("stack")
        started.append(folder)
        return stack.start(
            stack.Options(state_dir=folder, faults=parse_faults(faults), **options)  # type: ignore[arg-type]
        )

    return start


@pytest.fixture
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartStack]:
    """Starts a stack with the given faults in a fresh state directory; stopped after the test."""
    started: list[Path] = []
    yield _starter(tmp_path_factory, started)
    for folder in started:
        stack.stop(folder)


@pytest.fixture(scope="session")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.State]:
    """One healthy platform shared by the tests that only read from it or add their own data."""
    started: list[Path] = []
    yield _starter(tmp_path_factory, started)()
    for folder in started:
        stack.stop(folder)
