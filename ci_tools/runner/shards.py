"""A sharded phase's gate over all its shards (``ci-tools gate``): their files become the
phase's own, as an unsplit phase writes them, and one gate is judged over every test."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ci_tools import rundir
from ci_tools._exceptions import CIToolsError
from ci_tools.config import Config
from ci_tools.phases import GateResult, evaluate_gate
from ci_tools.quarantine import NONE as NO_QUARANTINE
from ci_tools.quarantine import Quarantine
from ci_tools.rundir import read, write
from ci_tools.runner.command import check_phase
from ci_tools.runner.unfinished import complete


def merge_shards(
    config: Config,
    number: int,
    run_dir: Path,
    shards: int | None = None,
    quarantine: Quarantine = NO_QUARANTINE,
) -> GateResult:
    """Phase N's gate over all its shards: their records and selections become the phase's
    own files (``phaseN.*``, as an unsplit phase writes them), and the gate is judged over
    every selected test; a test selected and never finished is recorded as not run.
    ``shards``: how many were run (shard files of a higher index, left from another split,
    are not read); a shard that sent no records, or that never wrote its gate (cut off by a
    timeout or a cancel), makes the gate not met."""
    check_phase(config, number)
    found_shards = [n for n in rundir.shards(run_dir, number) if shards is None or n <= shards]
    if not found_shards:
        raise CIToolsError(
            f"phase {number}: no shard records in {run_dir} "
            f"({rundir.shard_records_name(number)}); "
            "run the shards first (ci-tools run --phase N --shard I/K)"
        )
    _join(run_dir, number, found_shards)
    by_shard = {index: read.gate(run_dir, number, index) for index in found_shards}
    gates = [g for g in by_shard.values() if g is not None]
    missing = sorted(set(range(1, (shards or 0) + 1)) - set(found_shards))
    unfinished = sorted(index for index, g in by_shard.items() if g is None)
    problems = []
    if missing:
        problems.append(f"shard {', '.join(map(str, missing))} of {shards} sent no records")
    if unfinished:
        problems.append(f"shard {', '.join(map(str, unfinished))} did not finish (no gate)")
    stopped = "; ".join(problems) or next((g.stopped for g in gates if g.stopped), "")
    found = complete(run_dir, number, None, stopped)
    gate = evaluate_gate(
        number,
        config.phases[number],
        config,
        found,
        started_at=min((g.started_at for g in gates if g.started_at), default=""),
        launched_at=min((g.launched_at for g in gates if g.launched_at), default=""),
        duration_s=max((g.duration_s for g in gates), default=0.0),
        budget_exhausted=any(g.budget_exhausted for g in gates),
        stopped=stopped,
        quarantine=quarantine,
    )
    if problems:
        gate = dataclasses.replace(gate, status="not_met", reason=stopped)
    write.gate(run_dir, gate)
    return gate


def _join(run_dir: Path, number: int, shards: list[int]) -> None:
    """The shards' records, then their selections, each written whole as the phase's own."""
    for name in (rundir.records, rundir.selected):
        merged = b"".join(
            name(run_dir, number, index).read_bytes()
            for index in shards
            if name(run_dir, number, index).exists()
        )
        rundir.write_atomically(name(run_dir, number), merged)
