"""How a phase's tests are scheduled: serial tests take turns across xdist workers, and the
tests that failed last time run first."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.plugin.conftest import AT_ONCE, at_once, read_lines, run_phase1

SERIAL = """
import json, time, pytest
from pathlib import Path
pytestmark = pytest.mark.phase(1)
LOG = Path(__file__).with_name("spans.jsonl")

def span(name):
    start = time.monotonic()
    time.sleep(0.4)
    with LOG.open("a") as log:
        log.write(json.dumps([name, start, time.monotonic()]) + "\\n")

@pytest.mark.serial
def test_load_a(): span("serial")
@pytest.mark.serial
def test_load_b(): span("serial")
@pytest.mark.serial
def test_load_c(): span("serial")
def test_other_a(): span("other")
def test_other_b(): span("other")
def test_other_c(): span("other")
"""


def overlaps(spans: list[tuple[float, float]]) -> bool:
    """Whether any two of the time spans overlap."""
    ordered = sorted(spans)
    return any(b[0] < a[1] for a, b in itertools.pairwise(ordered))


@pytest.mark.parametrize("mode", AT_ONCE)
def test_serial_tests_never_overlap_each_other(pytester: pytest.Pytester, mode: str) -> None:
    """Three at once (xdist or forked workers): the three serial tests run one after
    another; the others do overlap (so the workers did run in parallel)."""
    pytester.makepyfile(test_serial=SERIAL)
    result = pytester.runpytest_subprocess(
        *at_once(mode, 3), "--phase", "1", "--run-dir", "out", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.OK
    spans: dict[str, list[tuple[float, float]]] = {"serial": [], "other": []}
    for line in (pytester.path / "spans.jsonl").read_text().splitlines():
        name, start, end = json.loads(line)
        spans[name].append((start, end))
    assert len(spans["serial"]) == 3
    assert not overlaps(spans["serial"])
    if mode == "forked":  # nothing runs beside a serial test, the others overlap each other
        assert not any(
            overlaps([one, other]) for one in spans["serial"] for other in spans["other"]
        )
        assert overlaps(spans["other"])
    else:  # xdist: serial tests only take turns among themselves
        assert overlaps(spans["serial"] + spans["other"])


def test_forked_workers_do_not_hold_a_slot_waiting_for_a_serial_turn(
    pytester: pytest.Pytester,
) -> None:
    """Three slots, serial tests first in the order: the others run first, then the serial
    ones one at a time with nothing beside them, so no test's time includes waiting for its
    turn, and the six tests of 0.4 s end in four rounds."""
    pytester.makepyfile(test_serial=SERIAL)
    result = pytester.runpytest_subprocess(
        *at_once("forked", 3), "--phase", "1", "--run-dir", "out", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.OK
    records = [
        r for r in read_lines(pytester.path / "out" / "phase1.jsonl") if r["event"] == "test"
    ]
    assert len(records) == 6
    assert max(r["duration_s"] for r in records) < 0.7  # nobody waited 0.4 s for a turn
    spans = [
        json.loads(line)[1:] for line in (pytester.path / "spans.jsonl").read_text().splitlines()
    ]
    assert max(end for _, end in spans) - min(start for start, _ in spans) < 2.2


def test_an_order_file_decides_which_tests_start_first(pytester: pytest.Pytester) -> None:
    """An order file starts its tests in its order; the others follow as collected."""
    pytester.makepyfile(
        test_order="""
        import pytest
        pytestmark = pytest.mark.phase(1)
        def test_a(): pass
        def test_b(): pass
        def test_c(): pass
        def test_d(): pass
    """
    )
    first = pytester.path / "order.txt"
    first.write_text("test_order.py::test_c\ntest_order.py::test_gone\ntest_order.py::test_b\n")
    result = run_phase1(pytester, "--order", str(first))
    assert result.ret == pytest.ExitCode.OK
    order = [
        r["nodeid"].split("::")[1]
        for r in read_lines(Path(pytester.path / "out" / "phase1.jsonl"))
        if r["event"] == "test"
    ]
    assert order == ["test_c", "test_b", "test_a", "test_d"]
