"""SLA events in the vendor-neutral vocabulary, with the vendor's own word kept in `raw_type`.

Before this revision `sla_events.type` held Zendesk's ticket metric event words (the only
connector that wrote SLA events); this maps them onto `kpi_core.canonical.SLA_EVENT_TYPES`.
A word outside Zendesk's list is left as it was (and kept in `raw_type` too).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must not change when the connector's mapping does.
ZENDESK_TO_NEUTRAL = {
    "apply_sla": "applied",
    "apply_group_sla": "applied",
    "activate": "started",
    "pause": "paused",
    "fulfill": "fulfilled",
    "breach": "breached",
    "measure": "measured",
    "update_status": "updated",
}

_events = sa.table(
    "sla_events",
    sa.column("type", sa.String()),
    sa.column("raw_type", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("raw_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
    op.execute(_events.update().values(raw_type=_events.c.type))
    for vendor, neutral in ZENDESK_TO_NEUTRAL.items():
        op.execute(_events.update().where(_events.c.raw_type == vendor).values(type=neutral))


def downgrade() -> None:
    op.execute(
        _events.update().where(_events.c.raw_type.is_not(None)).values(type=_events.c.raw_type)
    )
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.drop_column("raw_type")
