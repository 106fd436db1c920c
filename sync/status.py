"""What `deskpulse status` and `deskpulse quarantine` show, as plain data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from deskpulse.sync.locks import holder_alive
from deskpulse.sync.settings import Settings
from deskpulse.sync.state import DaemonSchedule, Quarantine, SourceLockRow, SyncRun, SyncState
from deskpulse.sync.warehouse import Warehouse, current_revision, table
from deskpulse.sync.writeback import ledger_summary

DAEMON_LOCK = "__daemon__"  # sync.daemon.DAEMON_LOCK (not imported: it pulls the scheduler in)


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
        health = source_health(connection, datetime.now(UTC))
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
            **health.get(r.source, {}),
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
        **({"fleet": fleet} if (fleet := _fleet(warehouse)) else {}),
    }


def _fleet(warehouse: Warehouse) -> dict[str, Any] | None:
    """The fleet (sync.fleet_status) when daemons ran with --fleet on this warehouse."""
    from deskpulse.sync.fleet_status import fleet_view, has_fleet

    with warehouse.connect() as connection:
        if not has_fleet(connection):
            return None
        return fleet_view(connection)


def source_health(connection: Connection, now: datetime) -> dict[str, dict[str, Any]]:
    """Per source: its last successful run's end (`last_success`) and the seconds since
    (`lag_seconds`), failed runs since then (`failed_runs`), when the daemon will next sync it
    (`next_run`: None without a daemon; `daemon`: running, or not running when a killed daemon
    left its schedule behind), and its write-back rows waiting (`writes`: pending, in doubt,
    failed)."""
    runs = table(SyncRun.__tablename__)
    out: dict[str, dict[str, Any]] = {}
    good = (
        select(runs.c.source, func.max(runs.c.id).label("id"))
        .where(runs.c.status.in_(("ok", "partial")))
        .group_by(runs.c.source)
        .subquery()
    )
    last_good = {
        source: (run_id, ended)
        for source, run_id, ended in connection.execute(
            select(runs.c.source, runs.c.id, runs.c.ended_at).join(good, runs.c.id == good.c.id)
        )
    }
    failed = select(runs.c.source, runs.c.id).where(runs.c.status == "failed")
    failed_after: dict[str, int] = {}
    for source, run_id in connection.execute(failed):
        if run_id > last_good.get(source, (0, None))[0]:
            failed_after[source] = failed_after.get(source, 0) + 1
    for source in set(last_good) | set(failed_after):
        ended = last_good.get(source, (0, None))[1]
        out[source] = {
            **_empty(),
            "last_success": ended,
            "lag_seconds": (now - ended).total_seconds() if ended is not None else None,
            "failed_runs": failed_after.get(source, 0),
        }
    locks = table(SourceLockRow.__tablename__)
    daemon = connection.execute(
        select(locks.c.pid, locks.c.host, locks.c.node, locks.c.heartbeat_at).where(
            locks.c.source == DAEMON_LOCK
        )
    ).first()
    # A daemon killed outright (kill -9, a power cut) leaves its lock and schedule behind: it
    # runs only if its pid lives on this machine, or its heartbeat is recent elsewhere.
    running = daemon is not None and holder_alive(daemon.node, daemon.pid, daemon.heartbeat_at)
    schedule = table(DaemonSchedule.__tablename__)
    for row in connection.execute(select(schedule)):
        entry = out.setdefault(row.source, _empty())
        entry["next_run"] = row.next_run_at
        entry["daemon"] = (
            f"running (pid {daemon.pid} on {daemon.host})"
            if daemon is not None and running
            else "not running"
        )
    wb = table("write_back_log")
    waiting = (
        select(wb.c.source, wb.c.status, func.count())
        .where(wb.c.status.in_(("pending", "sending", "failed")))
        .group_by(wb.c.source, wb.c.status)
    )
    for source, status, n in connection.execute(waiting):
        out.setdefault(source, _empty())["writes"][status] = int(n)
    return out


def _empty() -> dict[str, Any]:
    return {
        "last_success": None, "lag_seconds": None, "failed_runs": 0, "next_run": None,
        "daemon": None, "writes": {"pending": 0, "sending": 0, "failed": 0},
    }  # fmt: skip
