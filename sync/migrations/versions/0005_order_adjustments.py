"""Order adjustments: refunds and cancellations reported apart from their order (Klaviyo).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import deskpulse.kpi_core.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_adjustments",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column(
            "created_at", deskpulse.kpi_core.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "extra",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("source", "id"),
    )
    with op.batch_alter_table("order_adjustments", schema=None) as batch_op:
        batch_op.create_index("ix_order_adjustments_order", ["source", "order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_adjustments", schema=None) as batch_op:
        batch_op.drop_index("ix_order_adjustments_order")

    op.drop_table("order_adjustments")
