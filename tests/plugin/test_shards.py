"""A phase split over runners: ``ci-tools shard`` prints a shard, ``ci-tools run --shard I/K``
runs it, and ``ci-tools gate`` judges the phase over every shard."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ci_tools.records import read_records
from ci_tools.rundir import read
from tests.plugin.conftest import write_project

PHASE = """
import pytest
pytestmark = pytest.mark.phase(1)
@pytest.mark.parametrize("n", range(10))
def test_n(n):
    assert n != 7, "seven is broken"
"""


def cli(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    """``ci-tools --root <project> ARGS`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "ci_tools.cli", "--root", str(pytester.path), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=pytester.path,
    )


def test_the_shards_hold_every_test_once_and_the_gate_judges_them_together(
    pytester: pytest.Pytester,
) -> None:
    """Three shards: their printed node ids partition the phase, each shard's run records
    only its own tests, and the merged gate fails on the test that failed in one shard."""
    write_project(pytester)
    pytester.makepyfile(test_one=PHASE, test_two="def test_two(): pass")
    printed = [
        cli(pytester, "shard", "--phase", "1", "--shards", "3", "--index", str(i))
        for i in (1, 2, 3)
    ]
    shards = [set(done.stdout.split()) for done in printed]
    assert all(done.returncode == 0 for done in printed)
    assert sorted(len(s) for s in shards) == [3, 3, 4]
    assert set.union(*shards) == {f"test_one.py::test_n[{n}]" for n in range(10)}
    run = pytester.path / "reports" / "r1"
    for index in (1, 2, 3):
        ran = cli(
            pytester,
            "run",
            "--run-id",
            "r1",
            "--phase",
            "1",
            "--shard",
            f"{index}/3",
            "--exit-zero",
        )
        assert ran.returncode == 0  # judged, met or not: the gate job reads the gate
        recorded = {r.nodeid for r in read_records(run / f"phase1.shard{index}.jsonl").records}
        assert recorded == shards[index - 1]  # the run's shard is the printed one
    judged = cli(pytester, "gate", "--phase", "1", "--shards", "3", "--run-dir", str(run))
    assert judged.returncode == 1, judged.stderr
    assert "9/10 passed" in judged.stdout
    gate = read.gate(run, 1)
    assert gate is not None
    assert (gate.total, gate.failed, gate.status) == (10, 1, "not_met")
    assert len(read_records(run / "phase1.jsonl").records) == 10
    again = cli(
        pytester, "gate", "--phase", "1", "--shards", "3", "--run-dir", str(run), "--exit-zero"
    )
    assert again.returncode == 0  # judged: a workflow's next job reads the gate, not the exit
    assert read.gate(run, 1) == gate


def test_a_shard_that_sent_nothing_fails_the_gate_naming_it(pytester: pytest.Pytester) -> None:
    """Shards 1 and 3 of 3 ran, shard 2 never reported: the gate is not met and says which."""
    write_project(pytester)
    pytester.makepyfile(test_one=PHASE.replace('assert n != 7, "seven is broken"', "pass"))
    run = pytester.path / "reports" / "r2"
    for index in (1, 3):
        cli(pytester, "run", "--run-id", "r2", "--phase", "1", "--shard", f"{index}/3")
    judged = cli(pytester, "gate", "--phase", "1", "--shards", "3", "--run-dir", str(run))
    assert judged.returncode == 1
    gate = read.gate(run, 1)
    assert gate is not None
    assert gate.reason == "shard 2 of 3 sent no records"


def test_more_shards_than_tests_gives_fewer_shards_and_says_so(pytester: pytest.Pytester) -> None:
    """Two tests, four shards: shard 4 prints nothing and says the phase has two shards; its
    run meets its gate with that reason instead of failing on 'no tests'."""
    write_project(pytester)
    pytester.makepyfile(
        test_one="import pytest\npytestmark = pytest.mark.phase(1)\n"
        "def test_a(): pass\ndef test_b(): pass\n"
    )
    printed = cli(pytester, "shard", "--phase", "1", "--shards", "4", "--index", "4")
    assert (printed.returncode, printed.stdout) == (0, "")
    assert "phase 1 has 2 tests: 2 shards, not 4; shard 4 has none" in printed.stderr
    ran = cli(pytester, "run", "--run-id", "r3", "--phase", "1", "--shard", "4/4")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    gate = read.gate(pytester.path / "reports" / "r3", 1, 4)
    assert gate is not None
    assert gate.met
    assert "has no tests" in gate.reason


def test_a_shard_cut_off_before_its_gate_fails_the_phase_and_its_tests_are_not_run(
    pytester: pytest.Pytester,
) -> None:
    """Shard 2's job was cut off (a timeout, a cancel): its records stop midway and it wrote
    no gate. The phase's gate is not met and names it; its unfinished tests are not run."""
    write_project(pytester)
    pytester.makepyfile(test_one=PHASE.replace('assert n != 7, "seven is broken"', "pass"))
    run = pytester.path / "reports" / "r4"
    for index in (1, 2):
        cli(pytester, "run", "--run-id", "r4", "--phase", "1", "--shard", f"{index}/2")
    records = run / "phase1.shard2.jsonl"
    kept = records.read_text().splitlines()[:2]  # one test's start and end, then the cut
    records.write_text("".join(f"{line}\n" for line in kept))
    (run / "phase1.shard2.gate.json").unlink()
    judged = cli(pytester, "gate", "--phase", "1", "--shards", "2", "--run-dir", str(run))
    assert judged.returncode == 1
    gate = read.gate(run, 1)
    assert gate is not None
    assert gate.reason == "shard 2 did not finish (no gate)"
    assert gate.total == 10
    assert gate.not_run == 4  # shard 2 had five tests; one finished before the cut


def test_the_merged_gate_leaves_quarantined_tests_out_as_the_run_does(
    pytester: pytest.Pytester,
) -> None:
    """A quarantined test failing in one shard does not count against the merged gate (the
    project's unmeasured latency criterion still fails it: only the pass rate is at stake)."""
    write_project(pytester)
    pytester.makepyfile(test_one=PHASE)
    (pytester.path / "tests" / "e2e").mkdir(parents=True)
    (pytester.path / "tests" / "e2e" / "quarantine.toml").write_text(
        '[[quarantine]]\ntest = "test_one.py::test_n[7]"\nowner = "alice"\n'
        'reason = "flaky on staging"\nexpires = 2099-01-01\n'
    )
    run = pytester.path / "reports" / "r5"
    for index in (1, 2):
        cli(pytester, "run", "--run-id", "r5", "--phase", "1", "--shard", f"{index}/2")
    cli(pytester, "gate", "--phase", "1", "--shards", "2", "--run-dir", str(run))
    gate = read.gate(run, 1)
    assert gate is not None
    assert gate.quarantined == ("test_one.py::test_n[7]",)
    assert "pass rate" not in gate.reason
    assert gate.reason == "Latency not measured in phase 1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--phase", "1", "--shard", "5/4"], "I must be between 1 and K"),
        (["run", "--phase", "1", "--shard", "two"], "write it as I/K"),
        (["shard", "--phase", "1", "--shards", "2", "--index", "3"], "between 1 and K"),
        (["gate", "--phase", "1", "--run-dir", "."], "no shard records"),
    ],
    ids=["index-past-count", "not-a-spec", "shard-index", "gate-without-shards"],
)
def test_bad_shard_input_is_one_line_and_records_nothing(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    """A bad spec or a gate with no shards: one line naming the fix, no run directory."""
    write_project(pytester)
    pytester.makepyfile(test_one=PHASE)
    done = cli(pytester, *args)
    assert done.returncode in (1, 2)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert not (pytester.path / "reports").exists()


def test_a_bad_durations_file_is_refused_in_one_line(pytester: pytest.Pytester) -> None:
    """--shard-durations that is not JSON: pytest stops with one line saying what to give."""
    pytester.makepyfile(test_one="def test_a(): pass")
    (pytester.path / "d.json").write_text("{not json")
    result = pytester.runpytest("--shard", "1/2", "--shard-durations", "d.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--shard-durations d.json*JSON object of node id to seconds*"])
