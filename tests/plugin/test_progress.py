"""``runner.run_phases`` tells its caller what happens and prints nothing itself."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

import pytest

from ci_tools import config, runner
from ci_tools.experiment import Plan
from ci_tools.phases import GateResult
from tests.plugin.conftest import write_project


@dataclasses.dataclass
class Told:
    """A ``runner.Progress`` that keeps what it is told."""

    events: list[tuple[object, ...]] = dataclasses.field(default_factory=list)

    def phase_started(self, number: int, workers: int, why: str) -> None:
        """Keeps the go."""
        self.events.append(("started", number, workers, why))

    def tests_running(self, tally: runner.Tally) -> None:
        """Keeps nothing: how often it is told depends on the machine's speed."""

    def note(self, message: str) -> None:
        """Keeps the note."""
        self.events.append(("note", message))

    def gate_judged(self, gate: GateResult) -> None:
        """Keeps the gate's phase and status."""
        self.events.append(("gate", gate.phase, gate.status))

    def excerpt(self, excerpt: runner.Excerpt) -> None:
        """Keeps the excerpt's phase and heading."""
        self.events.append(("excerpt", excerpt.phase, excerpt.heading))

    def experimented(self, number: int, plan: Plan, shown: Mapping[str, int]) -> None:
        """Keeps the experiment's phase, status and what it showed."""
        self.events.append(("experiment", number, plan.status, dict(shown)))


def test_the_loop_tells_each_go_and_gate_and_prints_nothing(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missed gate and the phase it blocks: the progress hears phase 1's go, its gate, its
    first failure and phase 2's skipped gate, in that order; the runner itself writes nothing
    to the terminal (pytest's output included)."""
    write_project(pytester)
    pytester.makepyfile(
        test_one="""
        import pytest
        pytestmark = pytest.mark.phase(1)
        def test_down(): raise ConnectionError("down")
    """,
        test_two="""
        import pytest
        pytestmark = pytest.mark.phase(2)
        def test_fine(): pass
    """,
    )
    project = config.load(pytester.path / "pyproject.toml")
    run_dir = pytester.path / "reports" / "r1"
    options = runner.RunOptions(root=pytester.path, run_dir=run_dir, env="here")
    told = Told()
    capsys.readouterr()
    gates = runner.run_phases(project, [1, 2], options, told)
    assert [gate.status for gate in gates] == ["not_met", "skipped"]
    # The phase's share of memory_mb: 1024 MiB less what the runner and the phase hold now.
    started, *after = told.events
    assert started[:3] == ("started", 1, 8)
    assert re.fullmatch(
        r"from 1 while they wait: no earlier run in the store; its workers within [\d,]+ MiB",
        str(started[3]),
    )
    assert after == [
        ("gate", 1, "not_met"),
        ("excerpt", 1, "failed: test_one.py::test_down"),
        ("gate", 2, "skipped"),
        ("experiment", 1, "no baseline", {}),
    ]
    assert capsys.readouterr() == ("", "")
