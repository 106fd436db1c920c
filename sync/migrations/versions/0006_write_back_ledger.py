"""The write-back ledger replaces the write-back log (which nothing ever wrote to).

One row per value to write, with a unique idempotency key, its version, status, attempts and
the time of its next retry (see sync.state.WriteBack).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import deskpulse.kpi_core.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int) -> sa.Column[object]:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("write_back_log", schema=None) as batch_op:
        batch_op.drop_index("ix_write_back_target")
    op.drop_table("write_back_log")
    op.create_table(
        "write_back_log",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("key", 512),
        _text("target", 128),
        _text("source", 64),
        _text("kind", 16),
        _text("record_id", 128),
        _text("field", 128),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", _JSON, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _text("status", 16),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _when("next_attempt_at", True),
        _when("created_at", False),
        _when("sent_at", True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_write_back_key"),
    )
    with op.batch_alter_table("write_back_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_write_back_record", ["target", "record_id", "field"], unique=False
        )
        batch_op.create_index("ix_write_back_status", ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("write_back_log")
    op.create_table(
        "write_back_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        _text("source", 64),
        _text("target_kind", 32),
        _text("target_id", 128),
        sa.Column("payload", _JSON, nullable=True),
        _text("status", 16),
        sa.Column("error", sa.Text(), nullable=True),
        _when("created_at", False),
        _when("sent_at", True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("write_back_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_write_back_target", ["source", "target_kind", "target_id"], unique=False
        )
