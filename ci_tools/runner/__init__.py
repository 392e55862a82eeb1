"""Runs a run's phases as pytest subprocesses, in gated order, under their budgets.

command      what a run asks for (RunOptions) and a phase's pytest command line
schedule     how many tests at once and in which order, from the phase's last run
process      a phase's pytest launched held for its go, its output to phaseN.log, waited for,
             stopped, cancelled
loop         the gated loop: each phase given its go, judged, the next started ahead
progress     what the loop tells its caller (the runner prints nothing; the CLI does), and
             the text of a running phase's line
watch        where a running phase is, read from its records as they grow
excerpt      what to read first of a phase that went wrong: its first failure
unfinished   a record for every selected test that never finished
shards       a sharded phase's gate over all its shards

PYTEST_DONT_REWRITE: a face with no asserts (pytest would add its helpers to the names).
"""

from __future__ import annotations

from ci_tools.runner.command import RunOptions, pytest_command
from ci_tools.runner.loop import collect, run_phase, run_phases
from ci_tools.runner.progress import (
    LOG_EVERY_S,
    SILENT,
    Excerpt,
    Pacer,
    Progress,
    Tally,
    progress_line,
    short_name,
)
from ci_tools.runner.schedule import (
    SLOT_FILL,
    LastRun,
    choose_workers,
    last_run,
    shard_durations,
)
from ci_tools.runner.shards import merge_shards

__all__ = [
    "LOG_EVERY_S",
    "SILENT",
    "SLOT_FILL",
    "Excerpt",
    "LastRun",
    "Pacer",
    "Progress",
    "RunOptions",
    "Tally",
    "choose_workers",
    "collect",
    "last_run",
    "merge_shards",
    "progress_line",
    "pytest_command",
    "run_phase",
    "run_phases",
    "shard_durations",
    "short_name",
]
