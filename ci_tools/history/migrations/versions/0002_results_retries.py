"""Results record their retries: a pass after a retry is flaky, never a clean pass.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds results.retries (0 for every result recorded before)."""
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("retries", sa.Integer, nullable=False, server_default="0"))
