"""What `deskpulse status` and `deskpulse quarantine` show, as plain data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from deskpulse.sync.settings import Settings
from deskpulse.sync.state import Quarantine, SyncRun, SyncState
from deskpulse.sync.warehouse import Warehouse, current_revision, table
from deskpulse.sync.writeback import ledger_summary


def quarantined(
    warehouse: Warehouse, *, source: str | None = None, run_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    q = table(Quarantine.__tablename__)
    query = select(q).order_by(q.c.id.desc()).limit(limit)
    if source is not None:
        query = query.where(q.c.source == source)
    if run_id is not None:
        query = query.where(q.c.run_id == run_id).order_by(None).order_by(q.c.id)
    with warehouse.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def backfills(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Backfills under way: streams whose committed cursor says
    `{"backfill": {"progress": {"share": 0..1, "started": epoch, "eta": epoch | None}}}` (see
    connectors.base). The cursor moves with each committed page, so this is as fresh as the
    last commit, whether the sync still runs or stopped and will resume."""
    state = table(SyncState.__tablename__)
    found: list[dict[str, Any]] = []
    with warehouse.connect() as connection:
        rows = connection.execute(select(state.c.source, state.c.stream, state.c.cursor)).all()
    for source, stream, cursor in rows:
        backfill = cursor.get("backfill") if isinstance(cursor, dict) else None
        progress = backfill.get("progress") if isinstance(backfill, dict) else None
        if not isinstance(progress, dict):
            continue
        share = progress.get("share")
        if not isinstance(share, int | float):
            continue
        found.append(
            {
                "source": source,
                "stream": stream,
                "share": float(share),
                "started": _moment(progress.get("started")),
                "eta": _moment(progress.get("eta")),
            }
        )
    return sorted(found, key=lambda b: (b["source"], b["stream"]))


def _moment(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def collect_status(warehouse: Warehouse, settings: Settings) -> dict[str, Any]:
    runs = table(SyncRun.__tablename__)
    q = table(Quarantine.__tablename__)
    with warehouse.connect() as connection:
        latest = (
            select(runs.c.source, func.max(runs.c.id).label("id"))
            .group_by(runs.c.source)
            .subquery()
        )
        last_runs = connection.execute(select(runs).join(latest, runs.c.id == latest.c.id)).all()
        per_source: dict[str, int] = dict(
            connection.execute(select(q.c.source, func.count()).group_by(q.c.source)).all()
        )
        revision = current_revision(connection)
    sources = [
        {
            "source": r.source,
            "vendor": r.vendor,
            "last_run": {
                "id": r.id,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "status": r.status,
                "rows": r.rows,
                "requests": r.requests,
                "retries": r.retries,
                "errors": r.errors,
                "quarantined": r.quarantined,
                "streams": r.streams,
                "message": r.message,
            },
        }
        for r in sorted(last_runs, key=lambda r: r.source)
    ]
    running = backfills(warehouse)
    return {
        **({"backfills": running} if running else {}),
        "database": settings.database_url_display,
        "schema": revision,
        "sources": sources,
        "tables": warehouse.counts(),
        "quarantine": {"total": sum(per_source.values()), "by_source": per_source},
        "write_back": ledger_summary(warehouse),
    }
