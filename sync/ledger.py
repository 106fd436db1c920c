"""A run's ledger: the one place that writes a sync run into the warehouse.

Every page commits in one transaction: its rows (upserted by natural key), its quarantined
records and its cursor, and, at least once a second, the run row's counters. The ledger keeps
those counters (rows, written, pages, quarantined per stream), so the run row tells what is
committed (a second behind at most during a stream, exactly at its end, even after a crash).
The first page of a stream that fails to commit makes the ledger refuse that stream's later
pages, so no cursor ever moves past a page that did not commit.

It writes in the sync's own process (a writer process beside it was tried and retired:
docs/decisions/sync-writer-process-and-gc-tuning.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.dialects import postgresql, sqlite

from deskpulse.connectors.base import Cursor
from deskpulse.connectors.errors import DeskpulseError
from deskpulse.sync.state import Quarantine, SyncRun, SyncState
from deskpulse.sync.warehouse import Warehouse, table, upsert

log = logging.getLogger("deskpulse.sync")

RUN_ROW_EVERY = 1.0
"""Seconds between updates of the run row's counters within a stream (it is updated at each
stream's start and end too). The cursors move with every page; the counters need not."""


class WarehouseWriteError(DeskpulseError):
    """A page could not be committed (disk full, database locked too long, ...)."""


@dataclass
class StreamReport:
    name: str
    status: str = "ok"  # ok | skipped | failed | not run
    records: int = 0
    rows: int = 0
    written: int = 0
    pages: int = 0
    quarantined: int = 0
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # the pages' named counts, summed

    def as_dict(self) -> dict[str, Any]:
        # Counts only where a stream reported some (most report none).
        return {k: v for k, v in self.__dict__.items() if k != "name" and (v or k != "counts")}


@dataclass
class PageCommit:
    """What one page puts into the warehouse, all in one transaction."""

    stream: str
    tables: dict[str, list[dict[str, Any]]]  # rows per table
    rejects: list[dict[str, Any]]
    cursor: Cursor | None  # None: the stored cursor stays as it is
    records: int  # vendor records read
    rows: int  # rows they mapped to
    stats: dict[str, int]  # the connector's request counters so far
    counts: dict[str, int] = field(default_factory=dict)  # Page.counts


def _add_counts(before: dict[str, int], page: dict[str, int]) -> dict[str, int]:
    if not page:
        return before
    total = dict(before)
    for name, n in page.items():
        total[name] = total.get(name, 0) + n
    return total


def now() -> datetime:
    return datetime.now(UTC)


def save_cursor(connection: Connection, source: str, stream: str, cursor: Cursor) -> None:
    upsert(
        connection,
        SyncState.__tablename__,
        [{"source": source, "stream": stream, "cursor": cursor, "updated_at": now()}],
    )


def save_rejects(connection: Connection, rejects: Sequence[Mapping[str, Any]]) -> None:
    """Quarantine records; one seen before (same source and fingerprint) is not added again,
    its entry takes this run and reason (see `sync.state.Quarantine`)."""
    target = table(Quarantine.__tablename__)
    # One statement may not touch a row twice (PostgreSQL): the last of a repeat wins.
    unique = list({(r["source"], r["fingerprint"]): r for r in rejects}.values())
    dialect = sqlite.insert if connection.dialect.name == "sqlite" else postgresql.insert
    statement = dialect(target)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["source", "fingerprint"],
            set_={"run_id": statement.excluded.run_id, "reason": statement.excluded.reason},
        ),
        unique,
    )


class Ledger:
    """Commits pages of one run and keeps its run row current."""

    def __init__(
        self,
        warehouse: Warehouse,
        run_id: int,
        source: str,
        *,
        on_commit: Callable[[StreamReport], None] | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.run_id = run_id
        self.source = source
        self.streams: dict[str, StreamReport] = {}
        self.stats: dict[str, int] = {}
        self._failed: set[str] = set()
        self._on_commit = on_commit
        self._run_written = 0.0  # monotonic time the run row was last brought up to date

    # The calls the engine makes; `stream` and `commit` return the stream's committed counters.

    def stream(self, report: StreamReport) -> StreamReport:
        """Start a stream, or take its final status and error (the counters stay the ledger's)."""
        mine = self.streams.get(report.name)
        if mine is None:
            mine = self.streams[report.name] = StreamReport(report.name)
            self._failed.discard(report.name)
        mine.status, mine.error = report.status, report.error
        with self.warehouse.begin() as connection:
            self._update_run(connection)
        return mine

    def commit(self, page: PageCommit) -> StreamReport:
        if page.stream in self._failed:
            raise WarehouseWriteError(
                f"{page.stream}: page not written: an earlier page of this stream failed"
            )
        before = self.streams.setdefault(page.stream, StreamReport(page.stream))
        try:
            with self.warehouse.begin() as connection:
                written = sum(upsert(connection, name, rows) for name, rows in page.tables.items())
                if page.rejects:
                    save_rejects(connection, page.rejects)
                if page.cursor is not None:
                    save_cursor(connection, self.source, page.stream, page.cursor)
                after = replace(
                    before,
                    records=before.records + page.records,
                    rows=before.rows + page.rows,
                    written=before.written + written,
                    pages=before.pages + 1,
                    quarantined=before.quarantined + len(page.rejects),
                    counts=_add_counts(before.counts, page.counts),
                )
                self.streams[page.stream] = after
                self.stats = page.stats
                if time.monotonic() - self._run_written >= RUN_ROW_EVERY:
                    self._update_run(connection)
        except Exception as exc:
            self.streams[page.stream] = before
            self._failed.add(page.stream)
            if isinstance(exc, DeskpulseError):
                raise
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise WarehouseWriteError(
                f"{page.stream}: the warehouse refused a page ({exc.__class__.__name__}: "
                f"{reason}); nothing after the last committed page was recorded"
            ) from None
        if self._on_commit is not None:
            self._on_commit(after)
        return after

    def finish(self, values: Mapping[str, Any], stats: dict[str, int]) -> None:
        """The run's final status, message and end time."""
        self.stats = stats
        with self.warehouse.begin() as connection:
            self._update_run(connection, **values)

    def _update_run(self, connection: Connection, **values: Any) -> None:
        self._run_written = time.monotonic()
        runs = table(SyncRun.__tablename__)
        connection.execute(
            update(runs).where(runs.c.id == self.run_id).values(**self.run_values(), **values)
        )

    def run_values(self) -> dict[str, Any]:
        streams = self.streams.values()
        stats = self.stats
        return {
            "rows": sum(s.rows for s in streams),
            "requests": stats.get("requests", 0),
            "retries": stats.get("retries", 0),
            "errors": stats.get("errors", 0) + sum(1 for s in streams if s.error),
            "quarantined": sum(s.quarantined for s in streams),
            "streams": {s.name: s.as_dict() for s in streams},
        }


__all__: Sequence[str] = [
    "Ledger",
    "PageCommit",
    "StreamReport",
    "WarehouseWriteError",
    "save_cursor",
]
