"""The daemon's schedule: when it next syncs each source (shown by `deskpulse status`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import deskpulse.kpi_core.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemon_schedule",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column(
            "next_run_at", deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("daemon_schedule")
