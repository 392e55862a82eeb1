"""The CLI's edges: the lines ``ci-tools run`` prints for the runner's progress (the runner
prints none), and one name for one run's folder on every command."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_tools import arguments, cli, runner
from ci_tools import config as cfg
from ci_tools._exceptions import ConfigError
from ci_tools.phases import GateResult


def test_a_met_gate_reads_its_counts_and_duration() -> None:
    """A met gate: PASS, passed of run, the skipped and not-run counts when any, the time."""
    gate = GateResult(1, "One", "met", "", passed=16, skipped=1, duration_s=1.04)
    assert cli.gate_line(gate) == "phase 1 PASS  One: 16/16 passed, 1 skipped in 1.0 s"


def test_a_missed_gate_names_its_reason() -> None:
    """A gate not met: FAIL, failures and errors counted as run, then the gate's reason."""
    gate = GateResult(2, "Two", "not_met", "pass rate 50% (1/2)", passed=1, failed=1, not_run=3)
    assert cli.gate_line(gate) == (
        "phase 2 FAIL  Two: 1/2 passed, 3 not run in 0.0 s — gate of phase 2 not met: "
        "pass rate 50% (1/2)"
    )


def test_a_skipped_gate_names_only_the_blocker() -> None:
    """A skipped phase: SKIP and the blocking gate, its full reason left to that gate's line."""
    gate = GateResult(3, "Three", "skipped", "gate of phase 2 not met: pass rate 50% (1/2)")
    assert cli.gate_line(gate) == "phase 3 SKIP  Three: gate of phase 2 not met"


def test_the_terminal_prints_each_event_on_its_stream(capsys: pytest.CaptureFixture[str]) -> None:
    """A phase's go and its gate go to stdout, a note to stderr, each with its prefix."""
    terminal: runner.Progress = cli._Terminal()
    terminal.phase_started(1, 0, "no earlier run in the store")
    terminal.phase_started(4, 72, "last run: 130.0 s of tests, the longest 9.6 s")
    terminal.note("phase 2 budget of 3 s ran out; stopping it")
    terminal.gate_judged(GateResult(1, "One", "met", "", passed=2, duration_s=0.5))
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "ci-tools: phase 1 runs one test at a time (no earlier run in the store)",
        "ci-tools: phase 4 runs up to 72 tests at once "
        "(last run: 130.0 s of tests, the longest 9.6 s)",
        "phase 1 PASS  One: 2/2 passed in 0.5 s",
    ]
    assert err == "ci-tools: phase 2 budget of 3 s ran out; stopping it\n"


@pytest.mark.parametrize(
    ("command", "old"),
    [
        ("run", "--results-dir"),
        ("gate", "--results"),
        ("context", "--results"),
        ("report", "--results"),
    ],
)
def test_every_command_names_the_run_dir_one_way_and_keeps_the_old_name(
    command: str, old: str
) -> None:
    """``--run-dir`` names one run's folder on every command that writes or reads one; the
    old name of each is kept as an alias and lands in the same place."""
    extra = ["--phase", "1"] if command == "gate" else []
    parser = arguments.parser()
    new = parser.parse_args([command, *extra, "--run-dir", "reports/r1"])
    former = parser.parse_args([command, *extra, old, "reports/r1"])
    assert new.run_dir == former.run_dir == Path("reports/r1")


def test_the_reports_folder_is_read_under_its_old_name_too() -> None:
    """``reports_dir`` names the folder of every run; a config that still says
    ``results_dir`` means the same folder."""
    assert cfg.parse({"results_dir": "out"}).reports_dir == "out"
    assert cfg.parse({"reports_dir": "out"}).reports_dir == "out"


def test_both_names_of_the_reports_folder_are_refused_in_one_line() -> None:
    """Given both names, the config is refused with one line naming the key to keep."""
    with pytest.raises(ConfigError, match="keep reports_dir alone") as refused:
        cfg.parse({"reports_dir": "a", "results_dir": "b"})
    assert "\n" not in str(refused.value)
