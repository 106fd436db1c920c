"""The sync engine: runs a connector's streams into the warehouse, one transaction per page.

Each page's rows, its quarantined records, its cursor and the run's counters are committed
together, so a crash at any point resumes from the last committed page with nothing lost and
nothing duplicated (rows are upserted by natural key, so re-reading a page is harmless).
Before a page is written its social mentions are scored (sync.sentiment): one step for every
connector and the file import, none of it in vendor code.
The writing itself is the run's ledger (sync.ledger), in this process; nothing here changes a
process-wide setting, so a daemon can run syncs for months (what was tried instead and retired:
docs/decisions/sync-writer-process-and-gc-tuning.md).

What the engine does with each kind of error (see connectors.errors):
- FatalError: this connector stops; the run is `failed` with the error's one-line message.
- StreamUnavailable: the stream is skipped with one warning; the others go on. When every stream
  of the run answered 403/404, the run is `failed`: the base URL is wrong, not one stream.
- StreamError (and any other DeskpulseError): this stream stops at its last committed page; the
  others go on; the run ends `partial`.
- RecordError / InvalidRow raised while normalising one record: the record is quarantined with
  the reason and its raw payload; the page goes on. So is a record one of whose rows holds a
  time outside 1900-2199 (kpi_core.canonical.check_times), the rule the file import follows.
- Any other exception out of a normaliser (ValueError, KeyError, TypeError...) is a bug in the
  connector, never bad data: that stream stops before the page commits (ConnectorBug, "this is a
  bug in the <vendor> connector (stream X): ...; please report it"); nothing is quarantined.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from deskpulse.connectors.base import Connector, Cursor, Page, Stream
from deskpulse.connectors.errors import (
    ConnectorBug,
    DeskpulseError,
    FatalError,
    RecordError,
    StreamUnavailable,
)
from deskpulse.kpi_core.canonical import UNSTORABLE_TEXT, InvalidRow, check_times
from deskpulse.sync.ledger import (
    Ledger,
    PageCommit,
    StreamReport,
    now,
)
from deskpulse.sync.locks import SourceLock, source_lock
from deskpulse.sync.sentiment import score_mentions
from deskpulse.sync.state import SyncRun, SyncState
from deskpulse.sync.warehouse import Warehouse, table

log = logging.getLogger("deskpulse.sync")

SKIPPABLE = (RecordError, InvalidRow)
"""Exceptions from `Stream.normalise` that quarantine one record instead of stopping the stream.
Anything else out of a normaliser is a bug in the connector (ConnectorBug): never quarantined."""


PARALLEL_STREAMS = 3
"""Streams read side by side. Each stream is a chain of requests (the next page's cursor comes
with this one), so one stream waits on the vendor for every page; several keep both the vendor
and this machine busy. Vendors' per-endpoint rate limits still apply (the client paces each)."""


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


class StopRequested(BaseException):
    """Raised (by an observer, after a committed page) to end a run there: the daemon's
    SIGTERM. The run is recorded `stopped` with what it committed, and this propagates."""


class SyncObserver:
    """Receives progress; the CLI draws bars from it. The default does nothing."""

    def stream_started(self, source: str, stream: str) -> None:
        pass

    def page_committed(self, source: str, stream: str, report: StreamReport) -> None:
        pass

    def stream_finished(self, source: str, report: StreamReport) -> None:
        pass


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


def _mark_interrupted_runs(warehouse: Warehouse, source: str) -> None:
    """A run still `running` when a new one starts (holding the source's lock, so no other
    process is running it) was killed: say so in its record."""
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
        self.lock: SourceLock | None = None
        self.report = RunReport(
            run_id=0, source=self.source, vendor=connector.vendor, started_at=now()
        )
        self.ledger: Ledger | None = None
        self._by_name: dict[str, StreamReport] = {}
        # Stream name -> why it was unavailable; `_order` lists the connector's streams in order.
        self._unavailable: dict[str, StreamUnavailable] = {}
        self._order: list[str] = []
        self._ended: set[str] = set()  # streams whose end is recorded

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
        self.ledger = Ledger(
            self.warehouse, self.report.run_id, self.source, on_commit=self._committed
        )

    def _stats(self) -> dict[str, int]:
        stats = self.connector.stats
        return {"requests": stats.requests, "retries": stats.retries, "errors": stats.errors}

    def _committed(self, counted: StreamReport) -> None:
        """A page is in the warehouse: take the ledger's counters, show progress."""
        report = self._by_name[counted.name]
        report.records, report.rows, report.written = counted.records, counted.rows, counted.written
        report.pages, report.quarantined = counted.pages, counted.quarantined
        report.counts = counted.counts
        self.observer.page_committed(self.source, report.name, report)

    def commit_page(self, stream: Stream, page: Page, report: StreamReport) -> None:
        assert self.ledger is not None
        if self.lock is not None and self.lock.lost.is_set():
            raise FatalError(
                f"lost the lock on source {self.source} (no heartbeat reached the warehouse for "
                "a whole lease); stopped so as not to sync beside another process"
            )
        by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
        rejects: list[dict[str, Any]] = []
        source = self.source
        for row in page.rows:
            try:
                check_times(row.table, row.values)
            except InvalidRow as exc:
                rejects.append(self._reject(stream.name, row.values, exc))
                continue
            row.values["source"] = source
            by_table[row.table].append(row.values)
        normalise = stream.normalise
        for record in page.records:
            try:
                rows = normalise(record)
                if not isinstance(rows, list | tuple):  # a generator raises as it is read
                    rows = list(rows)
                for row in rows:  # a time outside 1900-2199: the rule of every route
                    check_times(row.table, row.values)
            except SKIPPABLE as exc:
                rejects.append(self._reject(stream.name, record, exc))
                continue
            except Exception as exc:
                raise self._bug(stream.name, record, exc) from exc
            for row in rows:
                row.values["source"] = source
                by_table[row.table].append(row.values)
        # One shared step for every connector (and the file import): see sync.sentiment.
        score_mentions(by_table.get("social_mentions", ()))
        self.ledger.commit(
            PageCommit(
                stream.name,
                dict(by_table),
                rejects,
                page.cursor,
                len(page.records),
                sum(len(rows) for rows in by_table.values()),
                self._stats(),
                page.counts,
            )
        )
        for reject in rejects:
            # INFO: the run's summary and `deskpulse quarantine` show them; a warning per
            # record would say each one twice (and flood a big sync).
            log.info(
                "%s/%s: quarantined %s: %s",
                self.source,
                stream.name,
                reject["location"] or "a record",
                reject["reason"],
            )

    def _bug(self, stream: str, record: Any, exc: Exception) -> ConnectorBug:
        where = _location(record.as_payload() if hasattr(record, "as_payload") else record, exc)
        log.debug("normaliser bug in %s/%s", self.source, stream, exc_info=exc)
        return ConnectorBug(
            f"this is a bug in the {self.connector.vendor} connector (stream {stream}): "
            f"{exc.__class__.__name__}: {exc}"
            + (f" at {where}" if where else "")
            + "; please report it (the stream stopped at its last committed page)"
        )

    def _reject(self, stream: str, record: Any, exc: Exception) -> dict[str, Any]:
        payload = record.as_payload() if hasattr(record, "as_payload") else record
        location = _location(payload, exc)
        reason = str(exc) or exc.__class__.__name__
        stored = _jsonable(payload)
        return {
            "run_id": self.report.run_id,
            "source": self.source,
            "stream": stream,
            "location": location,
            "reason": _storable_text(reason),
            "payload": stored,
            "fingerprint": fingerprint(stream, location, stored),
            "created_at": now(),
        }

    def run_streams(self, streams: Sequence[Stream], parallel: int) -> None:
        """Sync `streams`, up to `parallel` at once, each as soon as the streams it comes after
        have finished (see `_after`). Pages are mapped and committed here, in the order they
        arrive; each stream's pages arrive in its own order, so each cursor moves page by page."""
        waiting = list(streams)
        names = {s.name for s in streams}
        self._order = [s.name for s in streams]
        finished: set[str] = set()
        feeds: dict[str, _Feed] = {}
        events: queue.Queue[tuple[_Feed, str, Any]] = queue.Queue()
        stopped = False
        try:
            while True:
                while not stopped and waiting and len(feeds) < max(1, parallel):
                    ready = next(
                        (s for s in waiting if _after(s, streams) & names <= finished),
                        None,
                    )
                    if ready is None:
                        break
                    waiting.remove(ready)
                    feed = self._start_stream(ready, events)
                    if feed is None:
                        finished.add(ready.name)
                    else:
                        feeds[ready.name] = feed
                if not feeds:
                    return
                feed, kind, item = events.get()
                if feeds.get(feed.stream.name) is not feed:  # a stream stopped already
                    if kind == "page":
                        feed.taken()
                    continue
                if kind == "page":
                    try:
                        self.commit_page(feed.stream, item, feed.report)
                    except Exception as exc:  # the warehouse refused the page, or a bug
                        feed.stop()
                        kind, item = "error", exc
                    finally:
                        feed.taken()
                if kind == "page":
                    continue
                del feeds[feed.stream.name]
                finished.add(feed.stream.name)
                if not self._end_stream(feed.report, item):
                    stopped = True
                    for other in list(feeds.values()):
                        other.stop()
                        del feeds[other.stream.name]
                        self._stop_stream(other.report)
        finally:
            for feed in feeds.values():
                feed.stop()

    def _start_stream(self, stream: Stream, events: queue.Queue[Any]) -> _Feed | None:
        assert self.ledger is not None
        report = StreamReport(stream.name)
        self.report.streams.append(report)
        self._by_name[stream.name] = report
        self.observer.stream_started(self.source, stream.name)
        try:
            cursor = None
            if not self.full_refresh:
                with self.warehouse.connect() as connection:
                    cursor = load_cursor(connection, self.source, stream.name)
            self.ledger.stream(report)
        except DeskpulseError as exc:
            self._end_stream(report, exc)
            return None
        return _Feed(stream, report, cursor, events)

    def _stop_stream(self, report: StreamReport) -> None:
        """A stream still reading when another one stopped the connector: keep what it
        committed, say why it ended early."""
        assert self.ledger is not None
        report.status = "failed"
        report.error = f"stopped: {self.report.message}"
        self._ended.add(report.name)
        self.ledger.stream(report)
        self.observer.stream_finished(self.source, report)

    def _end_stream(self, report: StreamReport, error: BaseException | None) -> bool:
        """Record how a stream ended; False when the whole connector must stop."""
        assert self.ledger is not None
        name = report.name
        if error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt, SystemExit: not the stream's to handle
        keep_going = True
        if isinstance(error, StreamUnavailable):
            report.status, report.error = "skipped", str(error)
            self._unavailable[name] = error  # warned of in finish(), in the streams' order
        elif isinstance(error, FatalError):
            report.status, report.error = "failed", str(error)
            self.report.message = str(error)
            keep_going = False
        elif isinstance(error, DeskpulseError):
            report.status, report.error = "failed", str(error)
            log.error("%s: stream %s stopped: %s", self.source, name, error)
        elif error is not None:  # a bug: record it, keep the other streams going
            log.debug("unexpected error in %s/%s", self.source, name, exc_info=error)
            report.status = "failed"
            report.error = f"internal error ({error.__class__.__name__}: {error}); please report it"
            log.error("%s: stream %s stopped: %s", self.source, name, report.error)
        self._ended.add(name)
        self.ledger.stream(report)
        self.observer.stream_finished(self.source, report)
        return keep_going

    def _nowhere(self) -> str | None:
        """When every stream answered 403/404, the base URL (or host) is wrong, not a plan
        that forbids a stream: the run failed, and the line says what to check."""
        streams = self.report.streams
        # In the connector's stream order, so the line cites the same URL whichever answered first.
        ordered = [self._unavailable[n] for n in self._order if n in self._unavailable]
        answered = [e for e in ordered if e.status in (403, 404)]
        if not streams or len(self._unavailable) < len(streams) or not answered:
            return None
        statuses = " or ".join(sorted({str(e.status) for e in answered}))
        first = answered[0]
        hint = first.hint or "check the base URL"
        if all(e.status == 403 for e in answered):
            hint += " and the API user's role"
        return f"{self.source}: every stream answered {statuses} (e.g. at {first.url}): {hint}"

    def stopped(self, cause: BaseException) -> None:
        """The run was stopped (SIGTERM in the daemon, Ctrl-C): record it `stopped`, with what
        it committed, and the streams it was reading as stopped; never leave it `running`."""
        report, ledger = self.report, self.ledger
        if ledger is None:
            return
        why = "the daemon is shutting down" if isinstance(cause, StopRequested) else (
            "interrupted (Ctrl-C)" if isinstance(cause, KeyboardInterrupt) else
            f"the process is exiting ({cause.__class__.__name__})"
        )  # fmt: skip
        for name, mine in ledger.streams.items():
            if name not in self._ended:
                mine.status, mine.error = "stopped", f"stopped: {why}"
                by_name = self._by_name.get(name)
                if by_name is not None:
                    by_name.status, by_name.error = mine.status, mine.error
        rows = sum(s.rows for s in ledger.streams.values())
        report.ended_at = now()
        report.status = "stopped"
        report.message = f"stopped: {why}; {rows:,} rows committed, the next run goes on from there"
        values = {"status": report.status, "ended_at": report.ended_at, "message": report.message}
        try:
            ledger.finish(values, self._stats())
        except Exception:  # the warehouse is gone too: the next run marks it interrupted
            log.warning("%s: could not record the stopped run", self.source, exc_info=True)

    def finish(self) -> RunReport:
        report = self.report
        report.ended_at = now()
        nowhere = self._nowhere() if report.message is None else None
        if nowhere is not None:  # one line says it all, not a warning per stream
            report.message = nowhere
        else:
            for name in (n for n in self._order if n in self._unavailable):
                log.warning("%s: stream %s skipped: %s", self.source, name, self._unavailable[name])
        failed = [s for s in report.streams if s.status == "failed"]
        if failed and not any(s.status == "ok" for s in report.streams):
            # Nothing came through (a vendor down, every request a 5xx): the run failed, so the
            # daemon backs the source off and /healthz tells the truth, not `partial`.
            report.message = report.message or "; ".join(f"{s.name}: {s.error}" for s in failed)
        if report.message is not None:
            report.status = "failed"
        elif failed or report.quarantined:
            report.status = "partial"
        else:
            report.status = "ok"
        if report.message is None and failed:
            report.message = "; ".join(f"{s.name}: {s.error}" for s in failed)
        stats = self.connector.stats
        report.requests, report.retries = stats.requests, stats.retries
        report.errors = stats.errors + sum(1 for s in report.streams if s.error)
        values = {"status": report.status, "ended_at": report.ended_at, "message": report.message}
        assert self.ledger is not None
        self.ledger.finish(values, self._stats())
        return report


def run_sync(
    warehouse: Warehouse,
    connector: Connector,
    *,
    streams: Sequence[str] | None = None,
    full_refresh: bool = False,
    observer: SyncObserver | None = None,
    parallel: int = PARALLEL_STREAMS,
) -> RunReport:
    """Sync `connector` into `warehouse`; returns what happened. Never raises for vendor errors.

    `streams` limits the run to the named streams. `full_refresh` reads every stream from the
    beginning (rows are upserted, so nothing duplicates); cursors still move only with commits.
    `parallel` says how many streams may read at once (streams say which others they come after; see `_after`).
    """
    runner = _Runner(warehouse, connector, observer or SyncObserver(), full_refresh)
    wanted = connector.streams()
    if streams:
        unknown = sorted(set(streams) - {s.name for s in wanted})
        if unknown:
            names = ", ".join(s.name for s in wanted)
            raise DeskpulseError(f"unknown stream {', '.join(unknown)} (this source has: {names})")
        wanted = [s for s in wanted if s.name in streams]
    # One run per source at a time: a run still `running` is then a dead one (start() marks it
    # interrupted), and a second process stops here with LockHeld, touching nothing.
    with source_lock(warehouse, connector.source) as lock:
        runner.lock = lock
        runner.start()
        try:
            runner.run_streams(wanted, parallel)
        except (StopRequested, KeyboardInterrupt, SystemExit) as cause:
            # Every page sent is committed; the run says it was stopped, and with what. (A
            # kill -9 leaves it `running`: the next run marks it interrupted.)
            runner.stopped(cause)
            raise
        return runner.finish()


def _after(stream: Stream, order: Sequence[Stream]) -> set[str]:
    """The streams `stream` must wait for: those named in its `after` attribute, or, for a
    stream that does not say, every stream before it (the connector's order, one at a time)."""
    after = getattr(stream, "after", None)
    if after is not None:
        return set(after)
    return {s.name for s in order[: list(order).index(stream)]}


class _Feed:
    """One running stream: a thread reads its pages and hands them to the engine, at most
    `depth` ahead of the page being committed (memory stays flat however big the stream)."""

    def __init__(
        self,
        stream: Stream,
        report: StreamReport,
        cursor: Cursor | None,
        events: queue.Queue[Any],
        depth: int = 2,
    ) -> None:
        self.stream = stream
        self.report = report
        self._events = events
        self._room = threading.Semaphore(depth)
        self._stop = threading.Event()
        threading.Thread(
            target=self._read, args=(cursor,), name=f"sync-{stream.name}", daemon=True
        ).start()

    def _read(self, cursor: Cursor | None) -> None:
        pages = iter(self.stream.pages(cursor))
        try:
            while True:
                while not self._room.acquire(timeout=0.1):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                try:
                    page = next(pages)
                except StopIteration:
                    self._events.put((self, "end", None))
                    return
                self._events.put((self, "page", page))
        except BaseException as exc:  # forwarded to the engine, after the pages before it
            self._events.put((self, "error", exc))
        finally:
            close = getattr(pages, "close", None)
            if callable(close):
                close()

    def taken(self) -> None:
        """The engine is done with one page: the reader may fetch another."""
        self._room.release()

    def stop(self) -> None:
        self._stop.set()


def _storable_text(text: str) -> str:
    """`text` as every warehouse stores it: NUL and lone surrogates (which PostgreSQL's text and
    jsonb refuse, and which no encoder takes) written out as escapes."""
    if UNSTORABLE_TEXT.search(text) is None:
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _location(payload: Any, exc: Exception) -> str | None:
    """Where a record is: the error's own location (file:line), else its id."""
    location = getattr(exc, "location", None)
    if location is None and isinstance(payload, dict) and "id" in payload:
        location = f"id={payload['id']}"
    return location if isinstance(location, str) or location is None else str(location)


def _jsonable(value: Any) -> Any:
    """The raw payload as JSON can hold it (dates and other objects become text), storable in
    every warehouse (no NUL, lone surrogate, NaN or infinity: the record is bad, its
    quarantine entry must not be)."""
    if isinstance(value, dict):
        return {_storable_text(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str):
        return _storable_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if value is None or isinstance(value, int | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return _storable_text(str(value))


def fingerprint(stream: str, location: str | None, payload: Any) -> str:
    """What makes a quarantined record the same one when it comes again (a re-import, a
    re-read page): its stream, where it was, and its content. The quarantine keeps one entry
    per fingerprint."""
    text = json.dumps([stream, location, payload], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


Clock = Callable[[], datetime]
