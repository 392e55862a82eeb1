"""``reports/`` and one run's directory in it, ``reports/<run-id>/``.

``paths`` names every file; ``read`` is the one reader of a run (records, selections, gates,
durations, context, verdict); ``write`` writes each file whole or not at all; ``verdict`` is
``verdict.json`` as a typed dataclass. Each stage reads the files of the stages before it
through this package and writes its own. (``paths.verdict`` names the file; ``rundir.verdict``
is the module of its dataclass.) This face hands on ``paths`` and the atomic writer
only: the plugin loads it in every pytest run, and ``read`` loads the phases and the context
model.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

from ci_tools.rundir.paths import (
    ADHOC,
    CONTEXT,
    HISTORY_DB,
    JUNIT,
    LATEST,
    RUN_ID_VARIABLE,
    VERDICT,
    WORKLOG,
    context,
    durations,
    gate,
    history_db,
    junit,
    latest,
    of_an_attempt,
    order,
    records,
    records_of_every_run,
    run_dir,
    run_id,
    selected,
    serial_lock,
    shard_records_name,
    shards,
    trips,
    worklog,
)
from ci_tools.rundir.write import write_atomically

__all__ = [
    "ADHOC",
    "CONTEXT",
    "HISTORY_DB",
    "JUNIT",
    "LATEST",
    "RUN_ID_VARIABLE",
    "VERDICT",
    "WORKLOG",
    "context",
    "durations",
    "gate",
    "history_db",
    "junit",
    "latest",
    "of_an_attempt",
    "order",
    "records",
    "records_of_every_run",
    "run_dir",
    "run_id",
    "selected",
    "serial_lock",
    "shard_records_name",
    "shards",
    "trips",
    "worklog",
    "write_atomically",
]
