"""Results keep the experiment's finding of each failure (regression, environment,
pre-existing, flaky, no baseline): what "new since" and flaky vs broken read back.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds results.finding (NULL for every result recorded before: no experiment said)."""
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("finding", sa.String(20)))
