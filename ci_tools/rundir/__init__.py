"""``reports/`` and one run's directory in it, ``reports/<run-id>/``.

``paths`` names every file; ``read`` is the one reader of a run (records, selections, gates,
durations, context, verdict, identity); ``write`` writes each file whole or not at all (a set
of files all or none); ``verdict`` is ``verdict.json`` as a typed dataclass, ``identity``
``run.json`` (the run id and attempt, wherever the folder is copied). Each stage reads the
files of the stages before it through this package and writes its own. (``paths.verdict``
and ``paths.identity`` name the files; ``rundir.verdict`` and ``rundir.identity`` are the
modules of their dataclasses.) This face hands on ``paths`` and the atomic writers only: the
plugin loads it in every pytest run, and ``read`` loads the phases and the context model.

PYTEST_DONT_REWRITE: loaded with the plugin in every test run, it has no asserts to rewrite.
"""

from __future__ import annotations

from ci_tools.rundir.paths import (
    ADHOC,
    CONTEXT,
    HISTORY_DB,
    IDENTITY,
    JUNIT,
    LATEST,
    RUN_ID_VARIABLE,
    VERDICT,
    WORKLOG,
    arm,
    check_run_id,
    context,
    durations,
    experiment,
    experiments,
    gate,
    history_db,
    junit,
    latest,
    of_an_attempt,
    order,
    output,
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
from ci_tools.rundir.write import identify, link_latest, write_all, write_atomically

__all__ = [
    "ADHOC",
    "CONTEXT",
    "HISTORY_DB",
    "IDENTITY",
    "JUNIT",
    "LATEST",
    "RUN_ID_VARIABLE",
    "VERDICT",
    "WORKLOG",
    "arm",
    "check_run_id",
    "context",
    "durations",
    "experiment",
    "experiments",
    "gate",
    "history_db",
    "identify",
    "junit",
    "latest",
    "link_latest",
    "of_an_attempt",
    "order",
    "output",
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
    "write_all",
    "write_atomically",
]
