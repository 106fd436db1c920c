"""The sync engine: runs a connector's streams into the warehouse, one transaction per page.

Each page's rows, its quarantined records, its cursor and the run's counters are committed
together, so a crash at any point resumes from the last committed page with nothing lost and
nothing duplicated (rows are upserted by natural key, so re-reading a page is harmless).

What the engine does with each kind of error (see connectors.errors):
- FatalError: this connector stops; the run is `failed` with the error's one-line message.
- StreamUnavailable: the stream is skipped with one warning; the others go on.
- StreamError (and any other DeskpulseError): this stream stops at its last committed page; the
  others go on; the run ends `partial`.
- RecordError / InvalidRow / ValueError / KeyError / TypeError raised while normalising one record:
  the record is quarantined with the reason and its raw payload; the page goes on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from connectors.base import Connector, Cursor, Page, Stream
from connectors.errors import (
    DeskpulseError,
    FatalError,
    RecordError,
    StreamUnavailable,
)
from kpi_core.canonical import InvalidRow
from sync.state import Quarantine, SyncRun, SyncState
from sync.warehouse import Warehouse, table, upsert

log = logging.getLogger("deskpulse.sync")

SKIPPABLE = (RecordError, InvalidRow, ValueError, KeyError, TypeError)
"""Exceptions from `Stream.normalise` that quarantine one record instead of stopping the stream."""


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

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "name"}


@dataclass
class RunReport:
    run_id: int
    source: str
    vendor: str
    started_at: datetime
    ended_at: datetime | None = None
    status: str = "running"
    message: str | None = None
    streams: list[StreamReport] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    errors: int = 0

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.streams)

    @property
    def written(self) -> int:
        return sum(s.written for s in self.streams)

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.streams)

    @property
    def warnings(self) -> list[str]:
        return [f"{s.name}: {s.error}" for s in self.streams if s.error]


class SyncObserver:
    """Receives progress; the CLI draws bars from it. The default does nothing."""

    def stream_started(self, source: str, stream: str) -> None:
        pass

    def page_committed(self, source: str, stream: str, report: StreamReport) -> None:
        pass

    def stream_finished(self, source: str, report: StreamReport) -> None:
        pass


def now() -> datetime:
    return datetime.now(UTC)


def load_cursor(connection: Connection, source: str, stream: str) -> Cursor | None:
    state = table(SyncState.__tablename__)
    return connection.execute(
        select(state.c.cursor).where(state.c.source == source, state.c.stream == stream)
    ).scalar_one_or_none()


def load_cursors(warehouse: Warehouse, source: str) -> dict[str, Cursor]:
    state = table(SyncState.__tablename__)
    with warehouse.connect() as connection:
        result = connection.execute(
            select(state.c.stream, state.c.cursor).where(state.c.source == source)
        )
        return {stream: cursor for stream, cursor in result}


def save_cursor(connection: Connection, source: str, stream: str, cursor: Cursor) -> None:
    upsert(
        connection,
        SyncState.__tablename__,
        [{"source": source, "stream": stream, "cursor": cursor, "updated_at": now()}],
    )


def _mark_interrupted_runs(warehouse: Warehouse, source: str) -> None:
    """A run still `running` when a new one starts was killed: say so in its record."""
    runs = table(SyncRun.__tablename__)
    with warehouse.begin() as connection:
        connection.execute(
            update(runs)
            .where(runs.c.source == source, runs.c.status == "running")
            .values(status="interrupted", message="the process stopped before this run ended")
        )


class _Runner:
    def __init__(
        self,
        warehouse: Warehouse,
        connector: Connector,
        observer: SyncObserver,
        full_refresh: bool,
    ) -> None:
        self.warehouse = warehouse
        self.connector = connector
        self.source = connector.source
        self.observer = observer
        self.full_refresh = full_refresh
        self.report = RunReport(
            run_id=0, source=self.source, vendor=connector.vendor, started_at=now()
        )

    def start(self) -> None:
        _mark_interrupted_runs(self.warehouse, self.source)
        runs = table(SyncRun.__tablename__)
        with self.warehouse.begin() as connection:
            result = connection.execute(
                insert(runs).values(
                    source=self.source,
                    vendor=self.connector.vendor,
                    started_at=self.report.started_at,
                    status="running",
                    full_refresh=self.full_refresh,
                    rows=0,
                    requests=0,
                    retries=0,
                    errors=0,
                    quarantined=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            self.report.run_id = int(key[0])

    def _run_values(self) -> dict[str, Any]:
        stats = self.connector.stats
        self.report.requests, self.report.retries = stats.requests, stats.retries
        self.report.errors = stats.errors + sum(1 for s in self.report.streams if s.error)
        return {
            "rows": self.report.rows,
            "requests": stats.requests,
            "retries": stats.retries,
            "errors": self.report.errors,
            "quarantined": self.report.quarantined,
            "streams": {s.name: s.as_dict() for s in self.report.streams},
        }

    def _update_run(self, connection: Connection, **values: Any) -> None:
        runs = table(SyncRun.__tablename__)
        connection.execute(
            update(runs)
            .where(runs.c.id == self.report.run_id)
            .values(**self._run_values(), **values)
        )

    def commit_page(self, stream: Stream, page: Page, report: StreamReport) -> None:
        by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
        rejects: list[dict[str, Any]] = []
        for row in page.rows:
            row.values["source"] = self.source
            by_table[row.table].append(row.values)
        for record in page.records:
            try:
                rows = list(stream.normalise(record))
            except SKIPPABLE as exc:
                rejects.append(self._reject(stream.name, record, exc))
                continue
            for row in rows:
                row.values["source"] = self.source
                by_table[row.table].append(row.values)
        with self.warehouse.begin() as connection:
            written = sum(upsert(connection, name, rows) for name, rows in by_table.items())
            if rejects:
                connection.execute(insert(table(Quarantine.__tablename__)), rejects)
            if page.cursor is not None:
                save_cursor(connection, self.source, stream.name, page.cursor)
            report.pages += 1
            report.records += len(page.records)
            report.rows += sum(len(rows) for rows in by_table.values())
            report.written += written
            report.quarantined += len(rejects)
            self._update_run(connection)
        for reject in rejects:
            log.warning(
                "%s/%s: quarantined %s: %s",
                self.source,
                stream.name,
                reject["location"] or "a record",
                reject["reason"],
            )

    def _reject(self, stream: str, record: Any, exc: Exception) -> dict[str, Any]:
        location = getattr(exc, "location", None)
        if location is None and isinstance(record, dict) and "id" in record:
            location = f"id={record['id']}"
        payload = record.as_payload() if hasattr(record, "as_payload") else record
        reason = str(exc) or exc.__class__.__name__
        if isinstance(exc, KeyError):
            reason = f"missing field {exc.args[0]!r}"
        return {
            "run_id": self.report.run_id,
            "source": self.source,
            "stream": stream,
            "location": location,
            "reason": reason,
            "payload": _jsonable(payload),
            "created_at": now(),
        }

    def run_stream(self, stream: Stream) -> bool:
        """Sync one stream; False when the whole connector must stop."""
        report = StreamReport(stream.name)
        self.report.streams.append(report)
        self.observer.stream_started(self.source, stream.name)
        cursor = None
        if not self.full_refresh:
            with self.warehouse.connect() as connection:
                cursor = load_cursor(connection, self.source, stream.name)
        keep_going = True
        try:
            for page in stream.pages(cursor):
                self.commit_page(stream, page, report)
                self.observer.page_committed(self.source, stream.name, report)
        except StreamUnavailable as exc:
            report.status, report.error = "skipped", str(exc)
            log.warning("%s: stream %s skipped: %s", self.source, stream.name, exc)
        except FatalError as exc:
            report.status, report.error = "failed", str(exc)
            self.report.message = str(exc)
            keep_going = False
        except DeskpulseError as exc:
            report.status, report.error = "failed", str(exc)
            log.error("%s: stream %s stopped: %s", self.source, stream.name, exc)
        except Exception as exc:  # a bug: record it, keep the other streams going
            log.debug("unexpected error in %s/%s", self.source, stream.name, exc_info=True)
            report.status = "failed"
            report.error = f"internal error ({exc.__class__.__name__}: {exc}); please report it"
            log.error("%s: stream %s stopped: %s", self.source, stream.name, report.error)
        self.observer.stream_finished(self.source, report)
        return keep_going

    def finish(self) -> RunReport:
        report = self.report
        report.ended_at = now()
        failed = [s for s in report.streams if s.status == "failed"]
        if report.message is not None:
            report.status = "failed"
        elif failed or report.quarantined:
            report.status = "partial"
        else:
            report.status = "ok"
        if report.message is None and failed:
            report.message = "; ".join(f"{s.name}: {s.error}" for s in failed)
        with self.warehouse.begin() as connection:
            self._update_run(
                connection, status=report.status, ended_at=report.ended_at, message=report.message
            )
        return report


def run_sync(
    warehouse: Warehouse,
    connector: Connector,
    *,
    streams: Sequence[str] | None = None,
    full_refresh: bool = False,
    observer: SyncObserver | None = None,
) -> RunReport:
    """Sync `connector` into `warehouse`; returns what happened. Never raises for vendor errors.

    `streams` limits the run to the named streams. `full_refresh` reads every stream from the
    beginning (rows are upserted, so nothing duplicates); cursors still move only with commits.
    """
    runner = _Runner(warehouse, connector, observer or SyncObserver(), full_refresh)
    runner.start()
    wanted = connector.streams()
    if streams:
        unknown = sorted(set(streams) - {s.name for s in wanted})
        if unknown:
            names = ", ".join(s.name for s in wanted)
            raise DeskpulseError(f"unknown stream {', '.join(unknown)} (this source has: {names})")
        wanted = [s for s in wanted if s.name in streams]
    for stream in wanted:
        if not runner.run_stream(stream):
            break
    return runner.finish()


def _jsonable(value: Any) -> Any:
    """The raw payload as JSON can hold it (dates and other objects become text)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


Clock = Callable[[], datetime]
