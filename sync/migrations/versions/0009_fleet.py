"""Fleet mode: the lease of each account and the daemons of the fleet (sync.fleet).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import deskpulse.kpi_core.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _moment(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "fleet_leases",
        _text("account", 128),
        sa.Column("sources", deskpulse.kpi_core.types.JSONValue, nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        _text("holder", 255, nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        _moment("acquired_at"),
        _moment("lease_until"),
        _moment("due_at", nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _text("last_holder", 255, nullable=True),
        _moment("last_success"),
        sa.Column("cycles", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )
    with op.batch_alter_table("fleet_leases") as batch:
        batch.create_index("ix_fleet_leases_due", ["due_at"], unique=False)
    op.create_table(
        "fleet_members",
        _text("daemon", 255),
        _text("host", 255),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        _moment("started_at", nullable=False),
        _moment("heartbeat_at", nullable=False),
        sa.PrimaryKeyConstraint("daemon"),
    )


def downgrade() -> None:
    op.drop_table("fleet_members")
    with op.batch_alter_table("fleet_leases") as batch:
        batch.drop_index("ix_fleet_leases_due")
    op.drop_table("fleet_leases")
