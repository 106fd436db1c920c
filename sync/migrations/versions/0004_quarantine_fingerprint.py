"""One quarantine entry per bad record: a fingerprint, unique per source.

Re-importing a folder used to add every bad row to the quarantine again. Existing entries get
their fingerprint (stream, location and payload, as `sync.engine.fingerprint` computes it) and
repeats collapse into the newest entry of each.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:20:00
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_quarantine = sa.table(
    "quarantine",
    sa.column("id", sa.Integer()),
    sa.column("source", sa.String()),
    sa.column("stream", sa.String()),
    sa.column("location", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("fingerprint", sa.String()),
)


def _fingerprint(stream: str, location: str | None, payload: Any) -> str:
    # Frozen copy of sync.engine.fingerprint: a migration must not change with the code.
    text = json.dumps([stream, location, payload], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    connection = op.get_bind()
    q = _quarantine
    rows = connection.execute(sa.select(q.c.id, q.c.stream, q.c.location, q.c.payload)).all()
    updates = [
        {"row_id": row.id, "print": _fingerprint(row.stream, row.location, row.payload)}
        for row in rows
    ]
    if updates:
        connection.execute(
            q.update()
            .where(q.c.id == sa.bindparam("row_id"))
            .values(fingerprint=sa.bindparam("print")),
            updates,
        )
    newest = sa.select(sa.func.max(q.c.id)).group_by(q.c.source, q.c.fingerprint)
    connection.execute(q.delete().where(q.c.id.not_in(newest)))
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.alter_column(
            "fingerprint",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
        )
        batch_op.create_index("ux_quarantine_fingerprint", ["source", "fingerprint"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ux_quarantine_fingerprint")
        batch_op.drop_column("fingerprint")
