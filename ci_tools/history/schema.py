"""The run store's tables, in SQLAlchemy Core: one definition for SQLite and PostgreSQL.

Times are ISO 8601 strings in UTC (``2026-12-01T20:03:45.123Z``): they sort as text on both
databases and read back exactly as the records wrote them. The migrations under
``migrations/versions`` create and change these tables; this module is what the code reads
and writes through, and a test checks that the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
    sa.Column("env", sa.String(100), nullable=False),
    sa.Column("commit", sa.String(64), nullable=False, server_default=""),
    sa.Column("revisions", sa.Text, nullable=False, server_default="{}"),  # JSON: role -> name
    sa.Column("started", sa.String(32), nullable=False),
    sa.Column("finished", sa.String(32), nullable=False),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("escalation", sa.String(10), nullable=False),
    sa.Column("first_failed_phase", sa.Integer),
    sa.Column("phases_ran", sa.String(100), nullable=False, server_default=""),  # "1,2"
    # An outage (phase 1 missed, or most failures under one infrastructure cause): its
    # failures never make a test look flaky or broken.
    sa.Column("outage", sa.Boolean, nullable=False, server_default=sa.false()),
    # What the duration rules of escalation read, run by run.
    sa.Column("agent_pipeline_failed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("redis_down", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("database_min_ms", sa.Float),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("env", "run_id", "attempt", name="uq_runs_env_run_attempt"),
    sa.Index("ix_runs_env_started", "env", "started"),
)

results = sa.Table(
    "results",
    metadata,
    sa.Column("run", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("nodeid", sa.String(500), nullable=False),
    sa.Column("file", sa.String(300), nullable=False),
    sa.Column("phase", sa.Integer, nullable=False),
    sa.Column("priority", sa.String(4)),
    sa.Column("areas", sa.String(300), nullable=False, server_default=""),  # "agent,websocket"
    sa.Column("outcome", sa.String(10), nullable=False),  # passed failed error skipped not_run
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("retries", sa.Integer, nullable=False, server_default="0"),  # 0002
    sa.Column("signature", sa.Text, nullable=False, server_default=""),
    sa.Column("cause", sa.String(300), nullable=False, server_default=""),
    sa.Column("cause_class", sa.String(20), nullable=False, server_default=""),
    # The experiment's finding of a failure (ci_tools.experiment.FINDINGS); NULL when none
    # was made: a pass, a run without the experiment, or a result recorded before 0003.
    sa.Column("finding", sa.String(20)),
    sa.Index("ix_results_run", "run"),
)

criteria = sa.Table(
    "criteria",
    metadata,
    sa.Column("run", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("measured", sa.Float),
    sa.Column("bound", sa.String(20), nullable=False, server_default=""),  # at_least, unreachable
    sa.Column("samples", sa.Integer, nullable=False),
    sa.Column("met", sa.Boolean),
    sa.Index("ix_criteria_run", "run"),
)
