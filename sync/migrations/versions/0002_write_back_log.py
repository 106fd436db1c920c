"""The write-back log: every write deskpulse makes in a help desk.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:20:07.630086
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import deskpulse.kpi_core.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_back_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("target_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("sent_at", deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("write_back_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_write_back_target", ["source", "target_kind", "target_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("write_back_log", schema=None) as batch_op:
        batch_op.drop_index("ix_write_back_target")

    op.drop_table("write_back_log")
