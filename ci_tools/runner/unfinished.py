"""A record for every selected test that has none, so that each one is accounted for.

A phase stopped from outside (its budget ran out, the run was cancelled, a shard never sent
its records, an experiment's re-run outwaited by its baseline) leaves tests without a record:
those still running are recorded as hung (at the budget, or as the caller says) or not run,
those never started as not run, each with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ci_tools.records import (
    Failure,
    PhaseRecords,
    RecordWriter,
    Selected,
    TestRecord,
    not_run,
    now,
)
from ci_tools.rundir import paths, read


def complete(
    run_dir: Path, number: int, shard_index: int | None, stop: str, hung: str = ""
) -> PhaseRecords:
    """Phase N's records (of one shard, when given), with one written for every selected test
    that has none (hung at the budget, stopped by a cancel, never started). ``stop``: why the
    phase stopped before its end ("" when it ended by itself); ``hung``: what a test still
    running then failed with, as a hang (by default only when the budget ran out; otherwise
    it was not run)."""
    if not hung and stop.startswith("budget"):
        hung = f"still running when the phase {stop}"
    selected = read.selected(run_dir, number, shard_index)
    found = read.records(run_dir, number, shard_index)
    missing = _unfinished(found, selected, number, stop, hung)
    if not missing:
        return found
    writer = RecordWriter(paths.records(run_dir, number, shard_index))
    try:
        for record in missing:
            writer.record(record)
    finally:
        writer.close()
    again = read.records(run_dir, number, shard_index)
    return dataclasses.replace(again, started_not_finished=found.started_not_finished)


def _unfinished(
    found: PhaseRecords, selected: Sequence[Selected], number: int, stop: str, hung: str
) -> list[TestRecord]:
    """Records for the selected tests that have none: those still running when the phase was
    stopped (hung at the budget, or cancelled) and those never started."""
    when = now()
    known = {record.nodeid for record in found.records}
    running = set(found.started_not_finished)
    by_id = {test.nodeid: test for test in selected}
    for nodeid in found.started_not_finished:  # started, yet not selected: keep it anyway
        by_id.setdefault(nodeid, Selected(nodeid, nodeid.split("::", 1)[0], 0))
    records = []
    for nodeid, test in by_id.items():
        if nodeid in known:
            continue
        if nodeid in running and hung:
            records.append(
                dataclasses.replace(
                    not_run(test, number, "", when),
                    outcome="failed",
                    reason=None,
                    failure=Failure("Hung", hung, timed_out=True),
                )
            )
        elif nodeid in running:
            records.append(not_run(test, number, f"not run: stopped while running, {stop}", when))
        else:
            records.append(not_run(test, number, f"not run: {stop} before it started", when))
    return records
