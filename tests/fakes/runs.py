"""Synthetic runs on disk: many records, many failures, for the report's size and speed."""

from __future__ import annotations

import datetime as dt
import random
import string
from pathlib import Path

from ci_tools import config as cfg
from ci_tools import rundir
from ci_tools.phases import evaluate_gate
from ci_tools.records import Failure, Measurement, RecordWriter, TestRecord, read_records
from ci_tools.rundir import write

MESSAGES = (
    "Error 111 connecting to 10.0.0.1:6379 from worker {w}. Connection refused.",
    "login of {w}@example.com: HTTP 503",
    "assert 'answer' in {w!r}",
    "tool {w} timed out after 30 s",
    "create thread {w}: HTTP 422",
)


def synthetic_run(
    config: cfg.Config,
    results: Path,
    *,
    records: int = 10_000,
    failures: int = 2_000,
    distinct: int = 2_000,
    seed: int = 7,
) -> None:
    """Writes records over the configured phases (``failures`` of them failed, with about
    ``distinct`` different failure signatures: words differ, not numbers, so they do not
    collapse into one group) and each phase's gate."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)
    phases = list(config.phases)
    failed = set(rng.sample(range(records), failures))
    writers = {n: RecordWriter(rundir.records(results, n)) for n in phases}
    failed_so_far: list[int] = []
    for index in range(records):
        phase = phases[index % len(phases)]
        moment = (start + dt.timedelta(milliseconds=index * 10)).isoformat().replace("+00:00", "Z")
        failure = None
        if index in failed:
            variant = len(failed_so_far) % distinct
            failed_so_far.append(index)
            word = "".join(random.Random(variant).choices(string.ascii_lowercase, k=10))
            template = MESSAGES[variant % len(MESSAGES)]
            failure = Failure(
                "AssertionError",
                template.format(w=word) + "; the answer was: " + " ".join([word] * 40),
                "Traceback (most recent call last):\n ...",
            )
        writers[phase].record(
            TestRecord(
                nodeid=f"tests/e2e/phase{phase}/test_gen_{index % 50}.py::test_{index}",
                file=f"tests/e2e/phase{phase}/test_gen_{index % 50}.py",
                line=index % 300 + 1,
                phase=phase,
                outcome="failed" if failure else "passed",
                duration_s=0.05,
                start=moment,
                end=moment,
                priority="P1" if index % 3 == 0 else "P3",
                areas=("redis",) if index % 4 == 0 else ("agent",),
                trace_ids=(f"{index:032x}",),
                measurements=(Measurement("database_latency_ms", 12.0 + index % 7),),
                failure=failure,
            )
        )
    for number, writer in writers.items():
        writer.close()
        found = read_records(rundir.records(results, number))
        write.gate(results, evaluate_gate(number, config.phases[number], config, found))
