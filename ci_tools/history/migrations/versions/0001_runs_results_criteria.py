"""The run store: runs, their results and their measured criteria.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Creates the three tables and their indexes."""
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
        sa.Column("env", sa.String(100), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False, server_default=""),
        sa.Column("revisions", sa.Text, nullable=False, server_default="{}"),
        sa.Column("started", sa.String(32), nullable=False),
        sa.Column("finished", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("escalation", sa.String(10), nullable=False),
        sa.Column("first_failed_phase", sa.Integer),
        sa.Column("phases_ran", sa.String(100), nullable=False, server_default=""),
        sa.Column("outage", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("agent_pipeline_failed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("redis_down", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("database_min_ms", sa.Float),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("env", "run_id", "attempt", name="uq_runs_env_run_attempt"),
    )
    op.create_index("ix_runs_env_started", "runs", ["env", "started"])
    op.create_table(
        "results",
        sa.Column("run", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("nodeid", sa.String(500), nullable=False),
        sa.Column("file", sa.String(300), nullable=False),
        sa.Column("phase", sa.Integer, nullable=False),
        sa.Column("priority", sa.String(4)),
        sa.Column("areas", sa.String(300), nullable=False, server_default=""),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("signature", sa.Text, nullable=False, server_default=""),
        sa.Column("cause", sa.String(300), nullable=False, server_default=""),
        sa.Column("cause_class", sa.String(20), nullable=False, server_default=""),
    )
    op.create_index("ix_results_run", "results", ["run"])
    op.create_table(
        "criteria",
        sa.Column("run", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("measured", sa.Float),
        sa.Column("bound", sa.String(20), nullable=False, server_default=""),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("met", sa.Boolean),
    )
    op.create_index("ix_criteria_run", "criteria", ["run"])
