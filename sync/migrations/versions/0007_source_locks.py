"""The per-source sync lock (sync.locks).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import deskpulse.kpi_core.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_locks",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("node", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column(
            "acquired_at", deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "heartbeat_at", deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("source_locks")
