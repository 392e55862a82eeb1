"""Real stacks for the integration tests: each fixture starts its own, on its own ports.

Every stack lives in a state directory of its own (per xdist worker, via tmp_path_factory) and
is stopped at teardown, so workers never share a server and nothing is left running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reference_platform import parse_faults, stack

StartStack = Callable[..., stack.State]


@pytest.fixture(scope="session")
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartStack]:
    """Starts a stack with the given faults in a fresh state directory; all stop at the end."""
    started: list[Path] = []

    def start(*faults: str, state_dir: Path | None = None, **options: object) -> stack.State:
        folder = state_dir or tmp_path_factory.mktemp("stack")
        started.append(folder)
        return stack.start(stack.Options(state_dir=folder, faults=parse_faults(faults), **options))  # type: ignore[arg-type]

    yield start
    for folder in started:
        stack.stop(folder)


@pytest.fixture(scope="session")
def healthy(start_stack: StartStack) -> stack.State:
    """One healthy platform shared by the tests that only read from it or add their own data."""
    return start_stack()
